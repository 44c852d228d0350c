using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// What a dry run planned to delete on a Distribution tree, with what a client needs to push it again, copied into memory before
/// the real run: each dead manifest's bytes and references (and those of the children of a dead index), the bytes of every blob
/// they reference (dead or not: a client re-uploads whatever the registry says is missing) and of every dead blob, and the
/// layer links the plan removes.
/// </summary>
internal sealed class PlannedGarbage
{
    private PlannedGarbage(IReadOnlyList<StoredManifest> manifests, IReadOnlyDictionary<(string, Digest), StoredManifest> byKey,
        IReadOnlyList<Digest> blobs, IReadOnlyDictionary<Digest, byte[]> bytes, IReadOnlyList<(string, Digest)> layerLinks, IReadOnlyList<string> repositories)
    {
        Manifests = manifests;
        ManifestsByKey = byKey;
        Blobs = blobs;
        Bytes = bytes;
        LayerLinks = layerLinks;
        Repositories = repositories;
    }

    /// <summary>The dead manifests (artifacts) of the plan whose bytes the tree had, in its order.</summary>
    public IReadOnlyList<StoredManifest> Manifests { get; }

    /// <summary>Dead images (not indexes) with at least one layer: what a mount copies into another repository.</summary>
    public IReadOnlyList<StoredManifest> Images => [.. Manifests.Where(m => m.Children.Count == 0 && m.Layers.Count > 0)];

    /// <summary>The dead manifests and the children of dead indexes, by repository and digest.</summary>
    public IReadOnlyDictionary<(string Repository, Digest Digest), StoredManifest> ManifestsByKey { get; }

    /// <summary>The dead blobs whose data the tree had (manifest blobs included, as the plan lists them).</summary>
    public IReadOnlyList<Digest> Blobs { get; }

    /// <summary>The bytes of every dead blob and of every blob a dead manifest references.</summary>
    public IReadOnlyDictionary<Digest, byte[]> Bytes { get; }

    /// <summary>The layer links (repository, blob) the plan removes, in its order.</summary>
    public IReadOnlyList<(string Repository, Digest Digest)> LayerLinks { get; }

    /// <summary>Every repository of the tree.</summary>
    public IReadOnlyList<string> Repositories { get; }

    /// <summary>Reads a dry run's JSON report (DESIGN.md §8) and the bytes it names from <paramref name="tree"/>.</summary>
    public static PlannedGarbage Read(string reportFile, DistributionTree tree)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(reportFile));
        var root = json.RootElement;
        if (!root.GetProperty("dryRun").GetBoolean())
        {
            throw new InvalidOperationException($"{reportFile} is not the report of a dry run");
        }

        var bytes = new Dictionary<Digest, byte[]>();
        byte[]? BytesOf(Digest digest)
        {
            if (!bytes.TryGetValue(digest, out var content))
            {
                var data = Path.Combine(tree.BlobFolder(digest), "data");
                if (!File.Exists(data))
                {
                    return null;
                }

                bytes[digest] = content = File.ReadAllBytes(data);
            }

            return content;
        }

        var byKey = new Dictionary<(string, Digest), StoredManifest>();
        StoredManifest? Manifest(string repository, Digest digest, string? mediaType)
        {
            if (byKey.TryGetValue((repository, digest), out var known))
            {
                return known;
            }

            if (BytesOf(digest) is not { } body)
            {
                return null;
            }

            var manifest = StoredManifest.Parse(repository, digest, mediaType, body);
            byKey[(repository, digest)] = manifest;
            foreach (var blob in manifest.Blobs)
            {
                BytesOf(blob);
            }

            foreach (var child in manifest.Children)
            {
                Manifest(repository, child, null);
            }

            return manifest;
        }

        var manifests = new List<StoredManifest>();
        foreach (var artifact in root.GetProperty("artifacts").EnumerateArray())
        {
            var repository = artifact.GetProperty("repository").GetString()!;
            var digest = Digest.Parse(artifact.GetProperty("digest").GetString()!);
            if (Manifest(repository, digest, artifact.GetProperty("mediaType").GetString()) is { } manifest)
            {
                manifests.Add(manifest);
            }
        }

        var blobs = root.GetProperty("blobs").EnumerateArray().Select(b => Digest.Parse(b.GetProperty("digest").GetString()!))
            .Where(d => BytesOf(d) is not null).ToList();
        var layerLinks = root.GetProperty("layerLinks").EnumerateArray()
            .Select(l => (l.GetProperty("repository").GetString()!, Digest.Parse(l.GetProperty("digest").GetString()!))).ToList();
        return new PlannedGarbage(manifests, byKey, blobs, bytes, layerLinks, FindRepositories(tree));
    }

    /// <summary>The repositories of a tree: the folders under <c>repositories</c> that hold <c>_manifests</c>.</summary>
    private static List<string> FindRepositories(DistributionTree tree)
    {
        var root = Path.Combine(tree.V2, "repositories");
        return [.. Directory.EnumerateDirectories(root, "_manifests", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, Path.GetDirectoryName(f)!).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)];
    }
}

/// <summary>A manifest as the tree stores it: where, its bytes and media type, its config and layers, and its children (an index).</summary>
internal sealed record StoredManifest(string Repository, Digest Digest, string MediaType, byte[] Body, Digest? Config, IReadOnlyList<Digest> Layers, IReadOnlyList<Digest> Children)
{
    /// <summary>The blobs the registry checks before it takes the manifest: config and layers.</summary>
    public IReadOnlyList<Digest> Blobs => Config is { } config ? [config, .. Layers] : Layers;

    /// <summary>Reads a manifest's references (config, layers, an index's children) from its JSON.</summary>
    public static StoredManifest Parse(string repository, Digest digest, string? mediaType, byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        static Digest DigestOf(JsonElement descriptor) => Digest.Parse(descriptor.GetProperty("digest").GetString()!);
        IReadOnlyList<Digest> List(string name) =>
            root.TryGetProperty(name, out var list) ? [.. list.EnumerateArray().Select(DigestOf)] : [];
        var type = mediaType ?? (root.TryGetProperty("mediaType", out var t) ? t.GetString() : null)
            ?? throw new InvalidOperationException($"{repository}@{digest} names no media type");
        return new StoredManifest(repository, digest, type, body, root.TryGetProperty("config", out var config) ? DigestOf(config) : null,
            List("layers"), List("manifests"));
    }
}
