using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.Blobs;

/// <summary>
/// Where an embedded store (LiteDB, PostgreSQL) keeps blob bytes, content-addressed by digest: a folder
/// (<see cref="LiteDb.FileSystemBlobStore"/>) or an S3 bucket (<see cref="S3BlobStore"/>). The store's metadata stays the source of
/// truth: it writes the bytes (<see cref="StageAsync"/>, then <see cref="IStagedBlob.Commit"/> under its own lock) before the record,
/// and deletes them (<see cref="Delete"/>) only after the record says the blob is being deleted.
/// </summary>
/// <remarks>
/// Bytes become visible under a blob's name only whole and verified against its digest. What an interrupted write leaves (a
/// temporary file, an unfinished multipart upload, a blob whose record was never written) is reported by <see cref="Leftovers"/> as
/// an upload of no repository, and deleted by <see cref="DeleteLeftover"/> only when it is still exactly as listed.
/// </remarks>
internal interface IBlobContentStore : IDisposable
{
    /// <summary>Where the bytes are, for messages and descriptions: a full folder path, or <c>s3://BUCKET/PREFIX</c> (never a credential).</summary>
    string Root { get; }

    /// <summary>Whether the blob's bytes are there.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>Whether they are.</returns>
    bool Exists(Digest digest);

    /// <summary>Opens the blob's bytes, or returns <see langword="null"/> when they are not there.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>A stream the caller disposes.</returns>
    Stream? OpenRead(Digest digest);

    /// <summary>
    /// Writes <paramref name="content"/> where no reader sees it yet, verifying its digest. The caller commits it
    /// (<see cref="IStagedBlob.Commit"/>) or disposes it (what was written is removed).
    /// </summary>
    /// <param name="digest">The digest the bytes must hash to.</param>
    /// <param name="content">The bytes.</param>
    /// <param name="cancellationToken">Stops the write; what was written is removed.</param>
    /// <returns>The staged blob.</returns>
    /// <exception cref="BlobDigestMismatchException">The bytes hash to another digest; nothing becomes visible.</exception>
    ValueTask<IStagedBlob> StageAsync(Digest digest, Stream content, CancellationToken cancellationToken);

    /// <summary>
    /// What interrupted writes left, as uploads of no repository: the store's temporary state, and, when
    /// <paramref name="mayBeRecorded"/> is given, blobs that have no record (id <c>ALG-&lt;hex&gt;</c>, <see cref="BlobLeftoverIds.UnrecordedDigest"/>).
    /// </summary>
    /// <param name="mayBeRecorded">
    /// Tells, from a blob's algorithm (<c>sha256</c>, <c>sha512</c>) and hex digest, whether it may have a record; one it says
    /// <see langword="false"/> for is listed. It may err towards <see langword="true"/>; <see langword="null"/> lists temporary state only.
    /// </param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The uploads, with their times.</returns>
    IEnumerable<BlobUpload> Leftovers(Func<string, string, bool>? mayBeRecorded, CancellationToken cancellationToken);

    /// <summary>Deletes a leftover <see cref="Leftovers"/> listed, only when it is still as listed.</summary>
    /// <param name="upload">The upload as the plan saw it.</param>
    /// <returns>What happened.</returns>
    /// <exception cref="ArgumentException">The id names no leftover of this store (nothing is deleted).</exception>
    UploadDeleteOutcome DeleteLeftover(BlobUpload upload);

    /// <summary>Deletes a blob's bytes. Idempotent: a blob already gone is fine.</summary>
    /// <param name="digest">The blob.</param>
    void Delete(Digest digest);
}

/// <summary>Verified bytes not yet visible under the blob's name.</summary>
internal interface IStagedBlob : IDisposable
{
    /// <summary>The number of bytes.</summary>
    long Size { get; }

    /// <summary>Makes the bytes visible under the blob's name (replacing identical bytes that may be there). Idempotent.</summary>
    void Commit();
}

/// <summary>The id forms both blob stores share.</summary>
internal static class BlobLeftoverIds
{
    /// <summary>The algorithms, as folder and key segments.</summary>
    public static readonly string[] Algorithms = ["sha256", "sha512"];

    /// <summary>The number of hex digits of an algorithm's digests.</summary>
    public static int HexLength(string algorithm) => algorithm == "sha512" ? 128 : 64;

    /// <summary>Whether <paramref name="s"/> is lowercase hex only.</summary>
    public static bool IsLowerHex(string s) => s.All(char.IsAsciiHexDigitLower);

    /// <summary>The algorithm and hex digest an unrecorded blob's id (<c>ALG-&lt;hex&gt;</c>) names, or null.</summary>
    public static (string Algorithm, string Hex)? UnrecordedParts(string id) =>
        id.Split('-') is [var algorithm, var hex] && Algorithms.Contains(algorithm) && hex.Length == HexLength(algorithm) && IsLowerHex(hex)
            ? (algorithm, hex)
            : null;

    /// <summary>The blob an unrecorded blob's id (<c>ALG-&lt;hex&gt;</c>) names, or null when the id is of another form.</summary>
    public static Digest? UnrecordedDigest(string id) =>
        UnrecordedParts(id) is var (algorithm, hex) && Digest.TryParse($"{algorithm}:{hex}", out var digest) ? digest : null;
}
