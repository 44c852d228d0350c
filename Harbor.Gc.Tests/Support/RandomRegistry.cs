using System.Collections.Immutable;
using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Seeded random registries for property tests: repositories, images sharing layers across repositories, indexes (children
/// shared, some tagged), hard accessory chains, soft accessories, orphan accessories, tags that move, foreign layers, unused
/// uploads, times spread around the time window, blobs an interrupted run left in delete or deleting, and layer links.
/// The same seed always gives the same registry. Everything is written through the store's ordinary API, with the clock set to
/// each record's chosen time.
/// </summary>
internal static class RandomRegistry
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Builds the registry of <paramref name="seed"/> in a new in-memory store.</summary>
    /// <remarks>The store's clock is left at <see cref="Now"/>; the returned clock, for collectors, starts there.</remarks>
    public static (TestStore Store, FakeTimeProvider Time, string Description) Build(int seed, int scale = 1)
    {
        var time = new ManualClock(Now);
        var store = new TestStore(new Harbor.Gc.Storage.InMemory.InMemoryRegistryStore(time));
        return (store, new FakeTimeProvider(Now), Fill(store, time, seed, scale));
    }

    /// <summary>Writes the registry of <paramref name="seed"/> into an empty store, and leaves the clock at <see cref="Now"/>.</summary>
    /// <returns>A description of the registry, for failure messages.</returns>
    public static string Fill(TestStore store, ManualClock time, int seed, int scale)
    {
        var random = new Random(seed);
        var log = new StringBuilder();
        var counter = 0;
        DateTimeOffset When() => random.NextDouble() < 0.2 ? Now.AddMinutes(-random.Next(0, 119)) : Now.AddHours(-random.Next(3, 240));
        Digest NewDigest() => Digest.Sha256Of(Encoding.ASCII.GetBytes($"{seed}-{++counter}"));
        Digest NewBlob(DateTimeOffset at)
        {
            var content = new byte[random.Next(16, 4_000)];
            Encoding.ASCII.GetBytes($"{seed}-{++counter}-").CopyTo(content, 0); // unique: at most 12 characters, and 16 or more bytes
            time.Set(at);
            var d = store.PutBlob(content).Digest;
            if (random.NextDouble() < 0.2)
            {
                time.Set(At(at.AddHours(1)));
                store.Inner.MountBlobAsync(d).AsTask().Wait(); // touched again later: uploaded once more, or mounted
            }

            return d;
        }

        DateTimeOffset At(DateTimeOffset t) => t > Now ? Now : t;

        var repos = Enumerable.Range(0, random.Next(1, 4)).Select(i => RepositoryName.Parse($"p{i % 2}/app{i}")).ToArray();
        var pool = Enumerable.Range(0, random.Next(5, 30) * scale).Select(_ => NewBlob(When())).ToList();
        var artifacts = new List<Artifact>();
        var count = random.Next(3, 26) * scale;
        for (var i = 0; i < count; i++)
        {
            var repo = repos[random.Next(repos.Length)];
            var inRepo = artifacts.Where(a => a.Repository == repo).ToList();
            var pushed = When();
            var roll = random.NextDouble();
            var manifest = NewBlob(pushed);
            var refs = new List<BlobReference> { new(manifest, 500, null, BlobReferenceKind.Manifest) };
            var children = ImmutableArray<Digest>.Empty;
            Digest? subject = null;
            var kind = ManifestKind.OciManifest;
            if (roll < 0.15 && inRepo.Count > 0)
            {
                kind = ManifestKind.OciIndex;
                children = [.. Enumerable.Range(0, random.Next(1, 4)).Select(_ => inRepo[random.Next(inRepo.Count)].Digest).Distinct()];
            }
            else
            {
                foreach (var layer in Enumerable.Range(0, random.Next(1, 5)).Select(_ => pool[random.Next(pool.Count)]).Distinct())
                {
                    refs.Add(new(layer, store.GetBlob(layer)!.Size, null, BlobReferenceKind.Layer));
                }

                if (random.NextDouble() < 0.1)
                {
                    refs.Add(new(NewDigest(), 1_000_000, MediaTypes.DockerForeignLayer, BlobReferenceKind.Layer, IsForeign: true));
                }

                if (roll > 0.8)
                {
                    subject = inRepo.Count > 0 && random.NextDouble() < 0.85 ? inRepo[random.Next(inRepo.Count)].Digest : NewDigest();
                }
            }

            time.Set(pushed);
            var artifact = store.PutArtifact(new Artifact
            {
                Repository = repo, Digest = manifest, MediaType = MediaTypes.OciManifest, Kind = kind, PushedAt = pushed,
                References = [.. refs], Children = children, Subject = subject,
            });
            artifacts.Add(artifact);
            if (subject is { } s)
            {
                var strength = random.NextDouble() < 0.15 ? ReferenceStrength.Soft : ReferenceStrength.Hard;
                store.PutAccessoryLink(new AccessoryLink(repo, manifest, s, random.NextDouble() < 0.5 ? AccessoryTypes.CosignSignature : AccessoryTypes.HarborSbom, strength));
                log.Append(CultureInfo($"{repo}@{Short(manifest)} {strength} accessory of {Short(s)}; "));
            }
            else
            {
                log.Append(CultureInfo($"{repo}@{Short(manifest)} {kind}{(children.IsEmpty ? "" : " [" + string.Join(",", children.Select(Short)) + "]")}; "));
            }

            if (random.NextDouble() < 0.4)
            {
                var tag = $"t{random.Next(0, 6)}";
                store.PutTag(repo, tag, manifest);
                log.Append(CultureInfo($"tag {repo}:{tag}→{Short(manifest)}; "));
            }
        }

        // unreferenced blobs left mid-deletion by an interrupted run
        foreach (var blob in store.GetBlobs().OrderBy(b => b.Digest).Where(b => !store.IsBlobReferenced(b.Digest)).ToList())
        {
            var roll = random.NextDouble();
            if (roll < 0.1)
            {
                store.TryUpdateBlobStatus(blob.Digest, BlobStatusSet.None, BlobStatus.Delete);
            }
            else if (roll < 0.15)
            {
                store.TryUpdateBlobStatus(blob.Digest, BlobStatusSet.None, BlobStatus.Deleting);
                if (random.NextDouble() < 0.5)
                {
                    store.DeleteBlobContent(blob.Digest);
                }
            }
        }

        foreach (var repo in repos)
        {
            foreach (var blob in pool.Where(_ => random.NextDouble() < 0.2))
            {
                store.PutLayerLink(new LayerLink(repo, blob, When()));
            }
        }

        time.Set(Now);
        return log.ToString();
    }

    private static string Short(Digest d) => d.Hex[..6];

    private static string CultureInfo(FormattableString s) => FormattableString.Invariant(s);
}
