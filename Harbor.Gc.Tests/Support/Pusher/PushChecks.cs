using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Tests.Support.Pusher;

/// <summary>What the cross-process push tests check afterwards, through a store of the test's own opening.</summary>
internal static class PushChecks
{
    /// <summary>
    /// The accepted pushes that do not pull whole, each with what is wrong: the tag must name the manifest pushed, and every blob
    /// it references must have its record and bytes that hash to its digest.
    /// </summary>
    public static async Task<List<string>> BrokenAsync(RegistryApi api, IEnumerable<AcceptedPush> accepted)
    {
        var broken = new List<string>();
        foreach (var push in accepted)
        {
            var what = $"{push.Kind} {push.Repository}:{push.Tag} ({push.Digest}, accepted at {push.AcceptedAtMs})";
            var pulled = await api.PullManifestAsync(RepositoryName.Parse(push.Repository), push.Tag);
            if (pulled is null || pulled.Artifact.Digest.ToString() != push.Digest || Digest.Sha256Of(pulled.Content).ToString() != push.Digest)
            {
                broken.Add($"{what}: the tag does not pull its manifest ({pulled?.Artifact.Digest.ToString() ?? "nothing"})");
                continue;
            }

            foreach (var blob in push.Blobs.Select(Digest.Parse))
            {
                if (await api.Store.GetBlobAsync(blob) is null)
                {
                    broken.Add($"{what}: blob {blob} has no record");
                }

                var stream = await api.Store.OpenBlobAsync(blob);
                if (stream is null)
                {
                    broken.Add($"{what}: blob {blob} has no bytes");
                    continue;
                }

                await using (stream)
                {
                    using var bytes = new MemoryStream();
                    await stream.CopyToAsync(bytes);
                    if (Digest.Sha256Of(bytes.ToArray()) != blob)
                    {
                        broken.Add($"{what}: the bytes of blob {blob} hash to something else");
                    }
                }
            }
        }

        return broken;
    }

    /// <summary>How many of the given dead images are gone whole: no artifact, and no record or bytes of any of their blobs.</summary>
    public static async Task<int> GoneAsync(IWritableRegistryStore store, IEnumerable<int> deadImages)
    {
        var gone = 0;
        foreach (var i in deadImages)
        {
            var image = PushLoad.Dead(i);
            var left = await store.GetArtifactAsync(new ArtifactKey(PushLoad.DeadRepository(i), image.Digest)) is not null;
            foreach (var digest in image.Blobs.Select(b => b.Digest).Append(image.Digest))
            {
                left |= await store.GetBlobAsync(digest) is not null || await store.HasBlobContentAsync(digest);
            }

            gone += left ? 0 : 1;
        }

        return gone;
    }
}
