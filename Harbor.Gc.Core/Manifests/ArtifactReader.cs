using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Manifests;

/// <summary>Turns manifest bytes into an <see cref="Artifact"/>. Never throws for bad content.</summary>
/// <remarks>
/// A manifest that cannot be parsed (malformed JSON, schema 1, an unknown media type) becomes an artifact of kind
/// <see cref="ManifestKind.Unknown"/> with the parse problem, which GC always keeps. Because its references cannot be known,
/// every <c>sha256:&lt;64 hex&gt;</c> and <c>sha512:&lt;128 hex&gt;</c> string in its bytes is taken as a reference, so that no blob
/// it might use is ever collected: a leak in the worst case, never a broken pull.
/// </remarks>
public static class ArtifactReader
{
    /// <summary>Reads a manifest whose digest is the sha256 of its bytes.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="content">The manifest bytes.</param>
    /// <param name="declaredMediaType">The media type it was pushed or stored with, if known.</param>
    /// <param name="pushedAt">The push time.</param>
    /// <returns>The artifact (its version is assigned by the store).</returns>
    public static Artifact Read(RepositoryName repository, ReadOnlySpan<byte> content, string? declaredMediaType, DateTimeOffset pushedAt) =>
        Read(repository, Digest.Sha256Of(content), content, declaredMediaType, pushedAt);

    /// <summary>Reads a manifest stored under a known digest.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="digest">The manifest digest; for sha256 it must be the hash of <paramref name="content"/>.</param>
    /// <param name="content">The manifest bytes.</param>
    /// <param name="declaredMediaType">The media type it was pushed or stored with, if known.</param>
    /// <param name="pushedAt">The push time.</param>
    /// <returns>The artifact (its version is assigned by the store).</returns>
    /// <exception cref="ArgumentException">A sha256 <paramref name="digest"/> does not match the content.</exception>
    public static Artifact Read(RepositoryName repository, Digest digest, ReadOnlySpan<byte> content, string? declaredMediaType, DateTimeOffset pushedAt)
    {
        if (digest.Algorithm == DigestAlgorithm.Sha256 && Digest.Sha256Of(content) != digest)
        {
            throw new ArgumentException($"The content of {repository}@{digest} does not hash to its digest.", nameof(digest));
        }

        var own = new BlobReference(digest, content.Length, declaredMediaType, BlobReferenceKind.Manifest);
        try
        {
            var parsed = ManifestParser.Parse(content, declaredMediaType);
            return new Artifact
            {
                Repository = repository,
                Digest = digest,
                MediaType = parsed.MediaType,
                Kind = parsed.Kind,
                ArtifactType = parsed.ArtifactType,
                Size = content.Length,
                PushedAt = pushedAt,
                References = [own with { MediaType = parsed.MediaType }, .. parsed.References],
                Children = parsed.Children,
                Subject = parsed.Subject,
            };
        }
        catch (ManifestFormatException e)
        {
            return Unknown(repository, digest, content, declaredMediaType, pushedAt, e.Message);
        }
    }

    /// <summary>
    /// An artifact whose manifest cannot be read (<paramref name="problem"/> says why): kind <see cref="ManifestKind.Unknown"/>,
    /// referencing its own bytes and every digest they mention, so GC keeps it and all it might use.
    /// </summary>
    internal static Artifact Unknown(RepositoryName repository, Digest digest, ReadOnlySpan<byte> content, string? declaredMediaType, DateTimeOffset pushedAt, string problem) =>
        new()
        {
            Repository = repository,
            Digest = digest,
            MediaType = string.IsNullOrEmpty(declaredMediaType) ? "application/octet-stream" : declaredMediaType,
            Kind = ManifestKind.Unknown,
            Size = content.Length,
            PushedAt = pushedAt,
            ParseProblem = problem,
            References = [new BlobReference(digest, content.Length, declaredMediaType, BlobReferenceKind.Manifest),
                .. MentionedDigests(content, digest).Select(d => new BlobReference(d, 0, null, BlobReferenceKind.Layer, IsForeign: true))],
        };

    /// <summary>Every distinct valid digest written anywhere in <paramref name="content"/>, except <paramref name="self"/>.</summary>
    /// <param name="content">Bytes to scan.</param>
    /// <param name="self">A digest to leave out.</param>
    /// <returns>The digests, in order of first appearance.</returns>
    public static ImmutableArray<Digest> MentionedDigests(ReadOnlySpan<byte> content, Digest self)
    {
        var found = new List<Digest>();
        var seen = new HashSet<Digest> { self };
        Span<char> text = stackalloc char[135];
        for (var i = content.IndexOf("sha"u8); i >= 0 && i + 71 <= content.Length; i = Next(content, i + 1))
        {
            foreach (var length in (ReadOnlySpan<int>)[71, 135])
            {
                if (i + length > content.Length || content[i + 6] != (byte)':')
                {
                    continue;
                }

                var candidate = text[..length];
                for (var k = 0; k < length; k++)
                {
                    candidate[k] = (char)content[i + k];
                }

                var tail = i + length < content.Length ? content[i + length] : (byte)'"';
                var hexEnds = tail is not ((>= (byte)'0' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f'));
                if (hexEnds && Digest.TryParse(candidate, out var digest) && seen.Add(digest))
                {
                    found.Add(digest);
                }
            }
        }

        return [.. found];

        static int Next(ReadOnlySpan<byte> content, int from)
        {
            var at = content[from..].IndexOf("sha"u8);
            return at < 0 ? -1 : from + at;
        }
    }
}
