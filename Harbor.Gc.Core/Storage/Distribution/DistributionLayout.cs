using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// Paths of the CNCF Distribution (<c>registry:2</c>) filesystem layout under its <c>rootdirectory</c>, and strict link parsing.
/// </summary>
/// <remarks>
/// <code>
/// ROOT/docker/registry/v2/blobs/sha256/ab/abcd…/data                                   blob bytes
/// ROOT/docker/registry/v2/repositories/NAME/_layers/sha256/abcd…/link                   layer link (contains the digest)
/// ROOT/docker/registry/v2/repositories/NAME/_manifests/revisions/sha256/abcd…/link      manifest revision
/// ROOT/docker/registry/v2/repositories/NAME/_manifests/tags/TAG/current/link            the tag
/// ROOT/docker/registry/v2/repositories/NAME/_manifests/tags/TAG/index/sha256/abcd…/link the tag's history
/// ROOT/docker/registry/v2/repositories/NAME/_uploads/UUID/{data,startedat,hashstates/}  uploads in progress
/// </code>
/// Every path here is built from a validated <see cref="RepositoryName"/>, <see cref="TagName"/> or <see cref="Digest"/>, and
/// checked to stay under the root: nothing read from a file is ever used as a path.
/// </remarks>
internal sealed class DistributionLayout
{
    public DistributionLayout(string rootDirectory)
    {
        Root = Path.GetFullPath(rootDirectory);
        V2 = Path.Combine(Root, "docker", "registry", "v2");
        Blobs = Path.Combine(V2, "blobs");
        Repositories = Path.Combine(V2, "repositories");
    }

    public string Root { get; }

    public string V2 { get; }

    public string Blobs { get; }

    public string Repositories { get; }

    public string BlobDirectory(Digest digest)
    {
        var hex = Hex(digest);
        return Checked(Path.Combine(Blobs, Algorithm(digest), hex[..2], hex));
    }

    public string BlobData(Digest digest) => Path.Combine(BlobDirectory(digest), "data");

    public string Repository(RepositoryName repository) => Checked(Path.Combine(Repositories, repository.Value.Replace('/', Path.DirectorySeparatorChar)));

    /// <summary>The folder holding the <c>sha256</c> and <c>sha512</c> revision folders.</summary>
    public string RevisionsRoot(RepositoryName repository) => Path.Combine(Repository(repository), "_manifests", "revisions");

    public string Revisions(RepositoryName repository, DigestAlgorithm algorithm) => Path.Combine(RevisionsRoot(repository), AlgorithmName(algorithm));

    public string Revision(RepositoryName repository, Digest digest) => Checked(Path.Combine(Revisions(repository, digest.Algorithm), Hex(digest)));

    public string Tags(RepositoryName repository) => Path.Combine(Repository(repository), "_manifests", "tags");

    public string Tag(RepositoryName repository, string tag) => Checked(Path.Combine(Tags(repository), TagName.Parse(tag)));

    /// <summary>The folder holding the <c>sha256</c> and <c>sha512</c> layer link folders.</summary>
    public string LayersRoot(RepositoryName repository) => Path.Combine(Repository(repository), "_layers");

    public string Layers(RepositoryName repository, DigestAlgorithm algorithm) => Path.Combine(LayersRoot(repository), AlgorithmName(algorithm));

    public string Layer(RepositoryName repository, Digest digest) => Checked(Path.Combine(Layers(repository, digest.Algorithm), Hex(digest)));

    public string Uploads(RepositoryName repository) => Path.Combine(Repository(repository), "_uploads");

    public static string Hex(Digest digest) => digest.Hex;

    public static string Algorithm(Digest digest) => AlgorithmName(digest.Algorithm);

    public static string AlgorithmName(DigestAlgorithm algorithm) => algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256";

    /// <summary>
    /// Parses a link file's content: exactly <c>algorithm:hex</c>, as Distribution writes it (no whitespace, no newline). Anything else
    /// is a problem to report, never a path to follow.
    /// </summary>
    public static bool TryParseLink(ReadOnlySpan<byte> content, out Digest digest, out string problem)
    {
        digest = default;
        if (content.Length > 7 + 128)
        {
            problem = $"the link holds {content.Length} bytes, more than a digest";
            return false;
        }

        var text = Encoding.ASCII.GetString(content);
        if (!Digest.TryParse(text, out digest))
        {
            problem = $"the link does not hold a digest: '{Printable(text)}'";
            return false;
        }

        problem = string.Empty;
        return true;
    }

    /// <summary>The digest a folder's name and its parent's algorithm folder spell, or null when they are not one.</summary>
    public static Digest? DigestOfFolder(string algorithm, string hex) =>
        Digest.TryParse(string.Concat(algorithm, ":", hex), out var d) ? d : null;

    private static string Printable(string text)
    {
        var cut = text.Length > 80 ? text[..80] + "…" : text;
        return string.Concat(cut.Select(c => char.IsControl(c) ? '?' : c));
    }

    private string Checked(string path)
    {
        var full = Path.GetFullPath(path);
        if (!full.StartsWith(V2 + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Refusing the path '{full}': it is outside the registry's storage '{V2}'.");
        }

        return full;
    }
}
