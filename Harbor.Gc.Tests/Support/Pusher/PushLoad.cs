using System.Globalization;
using System.Text;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;

namespace Harbor.Gc.Tests.Support.Pusher;

/// <summary>A blob of a test image: its digest, bytes and media type.</summary>
/// <param name="Digest">The sha256 of <paramref name="Content"/>.</param>
/// <param name="Content">The bytes.</param>
/// <param name="MediaType">The media type its manifest gives it.</param>
internal sealed record PushBlob(Digest Digest, byte[] Content, string MediaType);

/// <summary>An OCI image manifest and the blobs it references.</summary>
/// <param name="Manifest">The manifest bytes.</param>
/// <param name="Config">The config blob.</param>
/// <param name="Layers">The layer blobs.</param>
internal sealed record PushImage(byte[] Manifest, PushBlob Config, IReadOnlyList<PushBlob> Layers)
{
    /// <summary>The manifest's digest.</summary>
    public Digest Digest { get; } = Digest.Sha256Of(Manifest);

    /// <summary>The config, then the layers.</summary>
    public IEnumerable<PushBlob> Blobs => [Config, .. Layers];
}

/// <summary>What a dead image of the starting store is for.</summary>
internal enum DeadUse
{
    /// <summary>Nobody pushes it or its blobs again: the run must delete it.</summary>
    Untouched,

    /// <summary>The pusher pushes its manifest again under a new tag (its blobs are assumed present, as a client that pushed them before does).</summary>
    ReTag,

    /// <summary>The pusher's new images reuse its layers.</summary>
    Reuse,
}

/// <summary>
/// The images of the cross-process push test, built deterministically from their number, so the test (which writes the starting
/// store) and the pusher process (which re-tags and reuses its dead images) agree on every byte without sharing files.
/// </summary>
internal static class PushLoad
{
    /// <summary>How many repositories the dead images are spread over (<c>dead/0</c> … <c>dead/7</c>).</summary>
    public const int DeadRepositories = 8;

    /// <summary>The repository of dead image <paramref name="image"/>.</summary>
    /// <param name="image">The image's number.</param>
    /// <returns><c>dead/N</c>.</returns>
    public static RepositoryName DeadRepository(int image) => RepositoryName.Parse($"dead/{image % DeadRepositories}");

    /// <summary>What dead image <paramref name="image"/> is for: a third each, in turn.</summary>
    /// <param name="image">The image's number.</param>
    /// <returns>Its use.</returns>
    public static DeadUse UseOf(int image) => (image % 3) switch
    {
        0 => DeadUse.Untouched,
        1 => DeadUse.ReTag,
        _ => DeadUse.Reuse,
    };

    /// <summary>Dead image <paramref name="image"/>: a config and two layers of its own, untagged in the starting store.</summary>
    /// <param name="image">The image's number.</param>
    /// <returns>The image.</returns>
    public static PushImage Dead(int image) => Compose(Config($"dead-{image}"), [Layer($"dead-{image}-0"), Layer($"dead-{image}-1")]);

    /// <summary>Live image <paramref name="image"/> of the starting store (tagged <c>v1</c> in <c>live/N</c>).</summary>
    /// <param name="image">The image's number.</param>
    /// <returns>The image.</returns>
    public static PushImage Live(int image) => Compose(Config($"live-{image}"), [Layer($"live-{image}-0")]);

    /// <summary>A config blob named by <paramref name="name"/> (its bytes differ for every name).</summary>
    /// <param name="name">What makes it unique.</param>
    /// <returns>The blob.</returns>
    public static PushBlob Config(string name) =>
        Blob(Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","config":{"Labels":{"name":""" + JsonSerializer.Serialize(name) + "}}}"), MediaTypes.OciConfig);

    /// <summary>A layer of 1 to 4 KiB of pseudo-random bytes, the same for the same name in every process.</summary>
    /// <param name="name">What makes it unique.</param>
    /// <returns>The blob.</returns>
    public static PushBlob Layer(string name)
    {
        var random = new Random(StableHash(name));
        var bytes = new byte[1024 + random.Next(3 * 1024)];
        random.NextBytes(bytes);
        return Blob(bytes, MediaTypes.OciLayerGzip);
    }

    /// <summary>An OCI image manifest of <paramref name="config"/> and <paramref name="layers"/>, with their real digests and sizes.</summary>
    /// <param name="config">The config.</param>
    /// <param name="layers">The layers.</param>
    /// <returns>The image.</returns>
    public static PushImage Compose(PushBlob config, IReadOnlyList<PushBlob> layers)
    {
        var manifest = $$"""
            {"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{{Descriptor(config)}},"layers":[{{string.Join(",", layers.Select(Descriptor))}}]}
            """;
        return new PushImage(Encoding.UTF8.GetBytes(manifest), config, layers);

        static string Descriptor(PushBlob blob) =>
            string.Create(CultureInfo.InvariantCulture, $$"""{"mediaType":"{{blob.MediaType}}","digest":"{{blob.Digest}}","size":{{blob.Content.Length}}}""");
    }

    /// <summary>
    /// Writes the starting store through the registry API: <paramref name="deadImages"/> dead images pushed by digest (untagged:
    /// garbage for a run with a zero time window), and <paramref name="liveImages"/> live ones tagged <c>vN</c> in <c>live/0</c> …
    /// <c>live/9</c>.
    /// </summary>
    /// <param name="api">The registry API over the store.</param>
    /// <param name="deadImages">How many dead images.</param>
    /// <param name="liveImages">How many live images.</param>
    /// <param name="clients">How many clients push them at once (each a share of the images; for a store that takes concurrent writes).</param>
    /// <returns>A task.</returns>
    public static async Task FillAsync(RegistryApi api, int deadImages, int liveImages, int clients = 1)
    {
        ArgumentNullException.ThrowIfNull(api);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            for (var i = client; i < deadImages; i += clients)
            {
                var image = Dead(i);
                await PushAsync(api, image, DeadRepository(i), image.Digest.ToString()).ConfigureAwait(false);
            }

            for (var i = client; i < liveImages; i += clients)
            {
                await PushAsync(api, Live(i), RepositoryName.Parse($"live/{i % 10}"), $"v{i}").ConfigureAwait(false);
            }
        }))).ConfigureAwait(false);

        static async Task PushAsync(RegistryApi api, PushImage image, RepositoryName repository, string reference)
        {
            foreach (var blob in image.Blobs)
            {
                using var content = new MemoryStream(blob.Content, writable: false);
                await api.PushBlobAsync(blob.Digest, content, blob.MediaType).ConfigureAwait(false);
            }

            await api.PushManifestAsync(repository, reference, image.Manifest, MediaTypes.OciManifest).ConfigureAwait(false);
        }
    }

    private static PushBlob Blob(byte[] content, string mediaType) => new(Digest.Sha256Of(content), content, mediaType);

    /// <summary>FNV-1a of the name: string.GetHashCode differs between processes.</summary>
    private static int StableHash(string name)
    {
        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash & int.MaxValue);
    }
}
