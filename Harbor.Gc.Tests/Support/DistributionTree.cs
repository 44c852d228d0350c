using System.Globalization;
using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Writes a CNCF Distribution storage tree in a temporary folder the way the registry does: a blob upload writes the blob's data
/// and the repository's <c>_layers</c> link; a manifest push writes the manifest blob, the revision link and, by tag, the tag's
/// current link and index entry; an unfinished upload is the <c>_uploads/UUID</c> folder a registry writes when a push starts
/// (<c>startedat</c>, <c>data</c>, <c>hashstates/sha256/OFFSET</c>). File times are set relative to <see cref="Now"/>.
/// </summary>
internal sealed class DistributionTree : IDisposable
{
    /// <summary>A new empty tree in a temporary folder: under <paramref name="parent"/> when given, else the system's.</summary>
    public DistributionTree(DateTimeOffset now, string? parent = null)
    {
        Now = now;
        Root = Path.Combine(parent ?? Path.GetTempPath(), "harbor-gc-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(V2);
    }

    public DateTimeOffset Now { get; }

    public string Root { get; }

    public string V2 => Path.Combine(Root, "docker", "registry", "v2");

    public string BlobFolder(Digest d) => Path.Combine(V2, "blobs", Algorithm(d), d.Hex[..2], d.Hex);

    /// <summary>The folder name of a digest's algorithm, as Distribution names it (<c>sha256</c>, <c>sha512</c>).</summary>
    public static string Algorithm(Digest d) => d.Algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256";

    public string Repo(string repository) => Path.Combine(V2, "repositories", repository);

    public string RevisionFolder(string repository, Digest d) => Path.Combine(Repo(repository), "_manifests", "revisions", Algorithm(d), d.Hex);

    public string TagFolder(string repository, string tag) => Path.Combine(Repo(repository), "_manifests", "tags", tag);

    public string LayerFolder(string repository, Digest d) => Path.Combine(Repo(repository), "_layers", Algorithm(d), d.Hex);

    public string UploadFolder(string repository, string id) => Path.Combine(Repo(repository), "_uploads", id);

    public bool HasUpload(string repository, string id) => Directory.Exists(UploadFolder(repository, id));

    /// <summary>
    /// An unfinished blob upload, as Debian's docker-registry 2.8.2 leaves one after <c>POST /v2/NAME/blobs/uploads/</c> and a
    /// <c>PATCH</c> that was never committed: <c>startedat</c> holds the start as RFC 3339 in UTC with no newline (or
    /// <paramref name="startedAtText"/> verbatim; none when that is null and <paramref name="withStartedAt"/> is false),
    /// <c>data</c> the bytes so far, and one hash state per offset. The start dates the folder and <c>startedat</c>; the last write
    /// (<paramref name="writtenAge"/>, the start when null) dates <c>data</c> and the hash states.
    /// </summary>
    /// <returns>The upload's id (its folder name, a UUID).</returns>
    public string UnfinishedUpload(string repository, byte[] data, TimeSpan startedAge, TimeSpan? writtenAge = null,
        string? startedAtText = null, bool withStartedAt = true)
    {
        var id = Guid.NewGuid().ToString("D");
        var folder = UploadFolder(repository, id);
        var hashStates = Path.Combine(folder, "hashstates", "sha256");
        Directory.CreateDirectory(hashStates);
        var started = (Now - startedAge).UtcDateTime;
        var written = (Now - (writtenAge ?? startedAge)).UtcDateTime;
        if (startedAtText is not null || withStartedAt)
        {
            var startedAt = Path.Combine(folder, "startedat");
            File.WriteAllText(startedAt, startedAtText ?? started.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            File.SetLastWriteTimeUtc(startedAt, started);
        }

        var dataFile = Path.Combine(folder, "data");
        File.WriteAllBytes(dataFile, data);
        foreach (var offset in data.Length == 0 ? [0] : new[] { 0, data.Length })
        {
            var state = Path.Combine(hashStates, offset.ToString(CultureInfo.InvariantCulture));
            File.WriteAllBytes(state, new byte[108]);
            File.SetLastWriteTimeUtc(state, offset == 0 ? started : written);
        }

        File.SetLastWriteTimeUtc(dataFile, written);
        Directory.SetLastWriteTimeUtc(hashStates, written);
        Directory.SetLastWriteTimeUtc(Path.GetDirectoryName(hashStates)!, started);
        Directory.SetLastWriteTimeUtc(folder, started);
        return id;
    }

    /// <summary>More bytes for an upload, as a later <c>PATCH</c> writes them: appended to <c>data</c>, with a new hash state.</summary>
    public void AppendToUpload(string repository, string id, byte[] bytes)
    {
        var folder = UploadFolder(repository, id);
        using (var data = new FileStream(Path.Combine(folder, "data"), FileMode.Append))
        {
            data.Write(bytes);
        }

        var offset = new FileInfo(Path.Combine(folder, "data")).Length;
        File.WriteAllBytes(Path.Combine(folder, "hashstates", "sha256", offset.ToString(CultureInfo.InvariantCulture)), new byte[108]);
    }

    public bool HasBlob(Digest d) => File.Exists(Path.Combine(BlobFolder(d), "data"));

    public bool HasRevision(string repository, Digest d) => File.Exists(Path.Combine(RevisionFolder(repository, d), "link"));

    /// <summary>Uploads a blob into a repository (data + layer link), as a registry does when a blob push completes.</summary>
    public Digest Upload(string repository, byte[] content, TimeSpan age)
    {
        var d = WriteBlob(content, age);
        WriteLink(Path.Combine(LayerFolder(repository, d), "link"), d, age);
        return d;
    }

    /// <summary>Uploads a blob of the given text.</summary>
    public Digest Upload(string repository, string text, TimeSpan age) => Upload(repository, Encoding.UTF8.GetBytes(text), age);

    /// <summary>Uploads a blob addressed by its sha512 digest into a repository (data + layer link).</summary>
    public Digest UploadSha512(string repository, string text, TimeSpan age)
    {
        var content = Encoding.UTF8.GetBytes(text);
        var d = WriteBlob(content, age, Digest.Parse("sha512:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA512.HashData(content))));
        WriteLink(Path.Combine(LayerFolder(repository, d), "link"), d, age);
        return d;
    }

    /// <summary>Writes blob data only (no layer link: a blob whose upload's repository link is gone).</summary>
    public Digest WriteBlob(byte[] content, TimeSpan age) => WriteBlob(content, age, Digest.Sha256Of(content));

    private Digest WriteBlob(byte[] content, TimeSpan age, Digest d)
    {
        var folder = BlobFolder(d);
        Directory.CreateDirectory(folder);
        var data = Path.Combine(folder, "data");
        File.WriteAllBytes(data, content);
        File.SetLastWriteTimeUtc(data, (Now - age).UtcDateTime);
        return d;
    }

    /// <summary>Pushes a manifest (optionally by tag).</summary>
    public Digest Push(string repository, byte[] manifest, TimeSpan age, string? tag = null)
    {
        var d = WriteBlob(manifest, age);
        WriteLink(Path.Combine(RevisionFolder(repository, d), "link"), d, age);
        if (tag is not null)
        {
            Tag(repository, tag, d, age);
        }

        return d;
    }

    public void Tag(string repository, string tag, Digest d, TimeSpan age)
    {
        WriteLink(Path.Combine(TagFolder(repository, tag), "current", "link"), d, age);
        WriteLink(Path.Combine(TagFolder(repository, tag), "index", Algorithm(d), d.Hex, "link"), d, age);
    }

    /// <summary>An image: config and layers uploaded into the repository, then the manifest pushed.</summary>
    public (Digest Manifest, Digest Config, Digest[] Layers) Image(string repository, string name, TimeSpan age, string? tag = null, params string[] layers)
    {
        var config = Upload(repository, $"{{\"config\":\"{name}\"}}", age);
        var layerDigests = layers.Select(l => Upload(repository, l, age)).ToArray();
        var manifest = Push(repository, Manifests.Image(config, layerDigests), age, tag);
        return (manifest, config, layerDigests);
    }

    /// <summary>A cosign signature of <paramref name="subject"/>, pushed by its tag-scheme tag (<c>sha256-&lt;hex&gt;.sig</c>) as cosign does.</summary>
    public Digest CosignSignature(string repository, Digest subject, TimeSpan age)
    {
        var config = Upload(repository, $"{{\"sig\":\"{subject.Hex}\"}}", age);
        var layer = Upload(repository, $"signature of {subject}", age);
        return Push(repository, Manifests.Image(config, [layer], layerType: MediaTypes.CosignSimpleSigning), age, $"sha256-{subject.Hex}.sig");
    }

    public static void WriteLink(string path, Digest d, TimeSpan? age = null, DateTimeOffset? now = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, d.ToString());
        if (age is { } a && now is { } n)
        {
            File.SetLastWriteTimeUtc(path, (n - a).UtcDateTime);
        }
    }

    private void WriteLink(string path, Digest d, TimeSpan age) => WriteLink(path, d, age, Now);

    /// <summary>Every file under the tree, relative to it, for before/after comparisons.</summary>
    public SortedSet<string> Files() =>
        new(Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Root, f)), StringComparer.Ordinal);

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
