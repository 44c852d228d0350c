using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>A manifest pushed to the registry: where, its digest and bytes, and the blobs and child manifests it references.</summary>
internal sealed record PushedManifest(string Repository, Digest Digest, string MediaType, byte[] Body, IReadOnlyList<Digest> Blobs, IReadOnlyList<PushedManifest> Children)
{
    /// <summary>The manifest's descriptor, for an index entry or a <c>subject</c>.</summary>
    public string Descriptor => Support.Manifests.Descriptor(Digest, Body.Length, MediaType);

    /// <summary>The manifest's blob and every blob it references (config, layers).</summary>
    public IEnumerable<Digest> AllBlobs => Blobs.Prepend(Digest);
}

/// <summary>
/// Pushes images, indexes and OCI 1.1 referrers through a <see cref="RegistryClient"/> the way a client tool does: blobs first
/// (uploaded, or mounted from another repository), then the manifest, with real sizes in every descriptor.
/// </summary>
internal sealed class OciPusher(RegistryClient client)
{
    public RegistryClient Client { get; } = client;

    /// <summary>Uploads a text blob.</summary>
    public Task<Digest> BlobAsync(string repository, string text) => Client.PushBlobAsync(repository, Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Pushes an OCI image: a config blob, one layer blob per text (a <see cref="Layer"/> already in another repository is mounted
    /// instead), then the manifest by <paramref name="tag"/>, or by digest when it is null (untagged).
    /// </summary>
    public async Task<PushedManifest> ImageAsync(string repository, string? tag, string config, IEnumerable<Layer> layers,
        string layerType = MediaTypes.OciLayerGzip, string configType = MediaTypes.OciConfig, string? artifactType = null, PushedManifest? subject = null)
    {
        var configBytes = Encoding.UTF8.GetBytes(config);
        var configDigest = await Client.PushBlobAsync(repository, configBytes).ConfigureAwait(false);
        var descriptors = new List<string>();
        var blobs = new List<Digest> { configDigest };
        foreach (var layer in layers)
        {
            var bytes = Encoding.UTF8.GetBytes(layer.Text);
            var digest = Digest.Sha256Of(bytes);
            if (layer.MountFrom is { } from)
            {
                await Client.MountBlobAsync(repository, digest, from).ConfigureAwait(false);
            }
            else
            {
                await Client.PushBlobAsync(repository, bytes).ConfigureAwait(false);
            }

            descriptors.Add(Support.Manifests.Descriptor(digest, bytes.Length, layerType));
            blobs.Add(digest);
        }

        var json = new StringBuilder($"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\",");
        if (artifactType is not null)
        {
            json.Append($"\"artifactType\":\"{artifactType}\",");
        }

        json.Append($"\"config\":{Support.Manifests.Descriptor(configDigest, configBytes.Length, configType)},\"layers\":[{string.Join(",", descriptors)}]");
        if (subject is not null)
        {
            json.Append($",\"subject\":{subject.Descriptor}");
        }

        var manifest = Encoding.UTF8.GetBytes(json.Append('}').ToString());
        return await ManifestAsync(repository, tag, MediaTypes.OciManifest, manifest, blobs, []).ConfigureAwait(false);
    }

    /// <summary>An OCI 1.1 referrer of <paramref name="subject"/>: empty config, one blob of <paramref name="payload"/>, pushed by digest.</summary>
    public Task<PushedManifest> ReferrerAsync(PushedManifest subject, string artifactType, string payload) =>
        ImageAsync(subject.Repository, null, "{}", [new Layer(payload)], "application/octet-stream", MediaTypes.OciEmpty, artifactType, subject);

    /// <summary>A cosign tag-scheme signature of <paramref name="subject"/>: tag <c>sha256-HEX.sig</c>, a simple-signing layer.</summary>
    public Task<PushedManifest> CosignSignatureAsync(PushedManifest subject, string payload) =>
        ImageAsync(subject.Repository, $"sha256-{subject.Digest.Hex}.sig", $$"""{"cosign":"{{payload}}"}""", [new Layer(payload)], MediaTypes.CosignSimpleSigning);

    /// <summary>Pushes an OCI index of <paramref name="children"/> (already pushed: the registry refuses an index whose children it lacks).</summary>
    public Task<PushedManifest> IndexAsync(string repository, string? tag, params PushedManifest[] children)
    {
        var manifest = Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{string.Join(",", children.Select(c => c.Descriptor))}}]}""");
        return ManifestAsync(repository, tag, MediaTypes.OciIndex, manifest, [], children);
    }

    /// <summary>Pushes the same manifest into another repository (by tag, or by digest when null), its blobs mounted from where it is.</summary>
    public async Task<PushedManifest> CopyAsync(PushedManifest manifest, string repository, string? tag)
    {
        foreach (var blob in manifest.Blobs)
        {
            await Client.MountBlobAsync(repository, blob, manifest.Repository).ConfigureAwait(false);
        }

        return await ManifestAsync(repository, tag, manifest.MediaType, manifest.Body, manifest.Blobs, manifest.Children).ConfigureAwait(false);
    }

    /// <summary>Points <paramref name="tag"/> at an already pushed manifest (moving it away from what it named before).</summary>
    public Task<PushedManifest> TagAsync(PushedManifest manifest, string tag) =>
        ManifestAsync(manifest.Repository, tag, manifest.MediaType, manifest.Body, manifest.Blobs, manifest.Children);

    private async Task<PushedManifest> ManifestAsync(string repository, string? tag, string mediaType, byte[] manifest, IReadOnlyList<Digest> blobs, IReadOnlyList<PushedManifest> children)
    {
        var digest = await Client.PushManifestAsync(repository, tag ?? Digest.Sha256Of(manifest).ToString(), mediaType, manifest).ConfigureAwait(false);
        return new PushedManifest(repository, digest, mediaType, manifest, blobs, children);
    }
}

/// <summary>A layer's content, and the repository to mount it from when it is already there (a cross-repository mount).</summary>
internal sealed record Layer(string Text, string? MountFrom = null)
{
    public static implicit operator Layer(string text) => new(text);
}
