using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// Paths of the CNCF Distribution (<c>registry:2</c>) storage layout, relative to <c>ROOT/docker/registry/v2</c> (the root of the
/// store's <see cref="Drivers.IStorageDriver"/>), and strict link parsing.
/// </summary>
/// <remarks>
/// <code>
/// blobs/sha256/ab/abcd…/data                                   blob bytes
/// repositories/NAME/_layers/sha256/abcd…/link                   layer link (contains the digest)
/// repositories/NAME/_manifests/revisions/sha256/abcd…/link      manifest revision
/// repositories/NAME/_manifests/tags/TAG/current/link            the tag
/// repositories/NAME/_manifests/tags/TAG/index/sha256/abcd…/link the tag's history
/// repositories/NAME/_uploads/UUID/{data,startedat,hashstates/}  uploads in progress
/// _harbor-gc/quarantine/                                        a real run's quarantine (never read by the registry)
/// </code>
/// Every path here is built from a validated <see cref="RepositoryName"/>, <see cref="TagName"/>, <see cref="Digest"/> or upload
/// id (<see cref="BlobUpload.ValidateId"/>): nothing read from a file is ever used as a path.
/// </remarks>
internal static partial class DistributionLayout
{
    /// <summary>The longest <c>startedat</c> content read: an RFC 3339 time with a 9-digit fraction and an offset is 35 bytes.</summary>
    public const int MaxStartedAtLength = 64;

    /// <summary>The largest manifest read: Distribution refuses manifests over 4 MiB (<c>maxManifestBodySize</c>).</summary>
    public const int MaxManifestLength = 4 << 20;

    public const string Blobs = "blobs";

    public const string Repositories = "repositories";

    /// <summary>This project's own folder inside the layout: the run lock and the quarantine.</summary>
    public const string Own = "_harbor-gc";

    public const string Quarantine = Own + "/quarantine";

    public static string BlobFolder(Digest digest) => $"{Blobs}/{Algorithm(digest)}/{digest.Hex[..2]}/{digest.Hex}";

    public static string BlobData(Digest digest) => BlobFolder(digest) + "/data";

    public static string Repository(RepositoryName repository) => $"{Repositories}/{repository.Value}";

    /// <summary>The folder holding the <c>sha256</c> and <c>sha512</c> revision folders.</summary>
    public static string RevisionsRoot(RepositoryName repository) => Repository(repository) + "/_manifests/revisions";

    public static string Revision(RepositoryName repository, Digest digest) => $"{RevisionsRoot(repository)}/{Algorithm(digest)}/{digest.Hex}";

    public static string RevisionLink(RepositoryName repository, Digest digest) => Revision(repository, digest) + "/link";

    public static string Tags(RepositoryName repository) => Repository(repository) + "/_manifests/tags";

    public static string Tag(RepositoryName repository, string tag) => $"{Tags(repository)}/{TagName.Parse(tag)}";

    public static string TagLink(RepositoryName repository, string tag) => Tag(repository, tag) + "/current/link";

    public static string TagIndexEntry(RepositoryName repository, string tag, Digest digest) => $"{Tag(repository, tag)}/index/{Algorithm(digest)}/{digest.Hex}";

    /// <summary>The folder holding the <c>sha256</c> and <c>sha512</c> layer link folders.</summary>
    public static string LayersRoot(RepositoryName repository) => Repository(repository) + "/_layers";

    public static string Layer(RepositoryName repository, Digest digest) => $"{LayersRoot(repository)}/{Algorithm(digest)}/{digest.Hex}";

    public static string LayerLink(RepositoryName repository, Digest digest) => Layer(repository, digest) + "/link";

    public static string Uploads(RepositoryName repository) => Repository(repository) + "/_uploads";

    /// <summary>An upload's folder; the id must be one plain path segment.</summary>
    /// <exception cref="ArgumentException">The id is not an upload id.</exception>
    public static string Upload(RepositoryName repository, string id) =>
        BlobUpload.ValidateId(id) is { } problem
            ? throw new ArgumentException($"'{Printable(id)}' is not an upload id: {problem}; nothing was deleted.", nameof(id))
            : $"{Uploads(repository)}/{id}";

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

    public static string Printable(string text)
    {
        var cut = text.Length > 80 ? text[..80] + "…" : text;
        return string.Concat(cut.Select(c => char.IsControl(c) ? '?' : c));
    }
}
