using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
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
/// Every path here is built from a validated <see cref="RepositoryName"/>, <see cref="TagName"/>, <see cref="Digest"/> or upload
/// id (<see cref="BlobUpload.ValidateId"/>), and checked to stay under the root: nothing read from a file is ever used as a path.
/// </remarks>
internal sealed partial class DistributionLayout
{
    /// <summary>The longest <c>startedat</c> content read: an RFC 3339 time with a 9-digit fraction and an offset is 35 bytes.</summary>
    public const int MaxStartedAtLength = 64;

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

    /// <summary>An upload's folder; the id must be one plain path segment.</summary>
    /// <exception cref="ArgumentException">The id is not an upload id.</exception>
    public string Upload(RepositoryName repository, string id) =>
        BlobUpload.ValidateId(id) is { } problem
            ? throw new ArgumentException($"'{Printable(id)}' is not an upload id: {problem}; nothing was deleted.", nameof(id))
            : Checked(Path.Combine(Uploads(repository), id));

    /// <summary>
    /// Whether <paramref name="path"/> or a folder between it and the repositories root is a symbolic link (or another reparse
    /// point): such a path may lead out of the tree, so it is neither listed nor deleted.
    /// </summary>
    public bool PassesThroughLink(string path)
    {
        for (var p = path; p.StartsWith(Repositories + Path.DirectorySeparatorChar, StringComparison.Ordinal); p = Path.GetDirectoryName(p)!)
        {
            var info = new DirectoryInfo(p);
            if (info.Exists && (info.Attributes & FileAttributes.ReparsePoint) != 0)
            {
                return true;
            }
        }

        return false;
    }

    public static string Hex(Digest digest) => digest.Hex;

    public static string Algorithm(Digest digest) => AlgorithmName(digest.Algorithm);

    public static string AlgorithmName(DigestAlgorithm algorithm) => algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256";

    /// <summary>The longest link content: <c>sha512:</c> and 128 hex digits.</summary>
    public const int MaxLinkLength = 7 + 128;

    /// <summary>The problem with a link file of <paramref name="length"/> bytes, more than <see cref="MaxLinkLength"/>.</summary>
    public static string TooLongForALink(long length) => $"the link holds {length} bytes, more than a digest";

    /// <summary>
    /// Parses a link file's content: exactly <c>algorithm:hex</c>, as Distribution writes it (no whitespace, no newline). Anything else
    /// is a problem to report, never a path to follow.
    /// </summary>
    public static bool TryParseLink(ReadOnlySpan<byte> content, out Digest digest, out string problem)
    {
        digest = default;
        if (content.Length > MaxLinkLength)
        {
            problem = TooLongForALink(content.Length);
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

    /// <summary>
    /// Parses an upload's <c>startedat</c> file strictly: an RFC 3339 time with seconds (Distribution writes
    /// <c>time.Now().UTC().Format(time.RFC3339)</c>, such as <c>2026-03-01T12:00:00Z</c>, with no newline), optionally with a
    /// fraction of up to 9 digits or an offset, as Go's <c>time.Parse(time.RFC3339, …)</c> reads it back. Anything else is a problem
    /// to report.
    /// </summary>
    public static bool TryParseStartedAt(ReadOnlySpan<byte> content, out DateTimeOffset startedAt, out string problem)
    {
        startedAt = default;
        if (content.Length > MaxStartedAtLength)
        {
            problem = $"startedat holds more than {MaxStartedAtLength} bytes, more than a time";
            return false;
        }

        var text = Encoding.ASCII.GetString(content);
        if (StartedAtPattern().Match(text) is { Success: true } match)
        {
            // .NET keeps 7 fraction digits (100 ns); the ranges (month 13, hour 24, February 30) are checked by the exact parse
            var fraction = (match.Groups["fraction"].Value + "0000000")[..7];
            var offset = match.Groups["offset"].Value is "Z" ? "+00:00" : match.Groups["offset"].Value;
            if (DateTimeOffset.TryParseExact($"{match.Groups["time"].Value}.{fraction}{offset}", "yyyy-MM-dd'T'HH:mm:ss.fffffffzzz",
                    CultureInfo.InvariantCulture, DateTimeStyles.None, out startedAt))
            {
                problem = string.Empty;
                return true;
            }
        }

        problem = $"startedat does not hold an RFC 3339 time: '{Printable(text)}'";
        return false;
    }

    /// <summary>The digest a folder's name and its parent's algorithm folder spell, or null when they are not one.</summary>
    public static Digest? DigestOfFolder(string algorithm, string hex) =>
        Digest.TryParse(string.Concat(algorithm, ":", hex), out var d) ? d : null;

    [GeneratedRegex(@"^(?<time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?<fraction>[0-9]{1,9}))?(?<offset>Z|[+-][0-9]{2}:[0-9]{2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex StartedAtPattern();

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
