namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// What an object store adds to <see cref="IStorageDriver"/>: a flat listing of every object under a path (no folders, a page of up
/// to 1,000 keys per request, split by key prefix into shards listed in parallel) and a batch delete (1,000 keys per request).
/// Distribution's own collector lists an object store one folder per request; with these, a reader lists it about 1,000 objects
/// per request (issue 17).
/// </summary>
/// <remarks>Paths are driver paths (<see cref="StoragePaths"/>), relative to the driver's root, as in <see cref="IStorageDriver"/>.</remarks>
internal interface IObjectStorageDriver : IStorageDriver
{
    /// <summary>How many listing or deleting requests run at once (at least 1).</summary>
    int Parallelism { get; }

    /// <summary>Every object under <paramref name="path"/> (at any depth), in key order, page by page.</summary>
    /// <param name="path">The folder (the root when empty).</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    IAsyncEnumerable<StorageObject> ListTreeAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every object under <paramref name="path"/> whose path below it starts with one of <paramref name="shards"/>, each shard
    /// listed on its own, at most <see cref="Parallelism"/> at once; all of them in path order. A shard is a key-prefix fragment
    /// (<c>00</c>, <c>sha256/0</c>), not necessarily a whole segment; shards must not be prefixes of one another, and objects
    /// under no shard are not listed (<see cref="StorageShards.Hex"/> gives shards that cover every hexadecimal name).
    /// </summary>
    /// <param name="path">The folder (the root when empty).</param>
    /// <param name="shards">The key-prefix fragments, none empty.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    Task<IReadOnlyList<StorageObject>> ListTreeAsync(string path, IReadOnlyCollection<string> shards, CancellationToken cancellationToken = default);

    /// <summary><see cref="IStorageDriver.Read"/> without blocking a thread while the request runs (the same answers).</summary>
    Task<StorageReadResult> ReadAsync(string path, int maxBytes, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every key in each of <paramref name="ranges"/>, each range listed on its own (continuation tokens from its start, stopping
    /// at its end), at most <see cref="Parallelism"/> at once; range by range, each in key order (<see cref="StoragePaths.CompareKeys"/>).
    /// A range costs one request per 1,000 keys in it, and at least one. Folder markers (zero-byte keys ending in <c>/</c>, which
    /// some tools write) are listed too, as objects whose path ends in <c>/</c> (<see cref="StorageObject.HasValidPath"/> false),
    /// for a reader that answers folder questions from the listing.
    /// </summary>
    /// <param name="ranges">The ranges; the caller keeps them apart.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    Task<IReadOnlyList<StorageObject>> ListRangesAsync(IReadOnlyList<StorageKeyRange> ranges, CancellationToken cancellationToken = default);

    /// <summary>
    /// The first page of a flat listing of the keys starting with <paramref name="prefix"/> (below the root, not necessarily a whole
    /// segment): up to <paramref name="maxKeys"/> of them in key order, folder markers included as <see cref="ListRangesAsync"/> lists
    /// them, and whether more keys follow. One request.
    /// </summary>
    /// <param name="prefix">What every key starts with, below the driver's root.</param>
    /// <param name="maxKeys">At most this many keys (1 to 1,000).</param>
    /// <param name="cancellationToken">Stops the request.</param>
    Task<(IReadOnlyList<StorageObject> Objects, bool Truncated)> ListFirstPageAsync(string prefix, int maxKeys, CancellationToken cancellationToken = default);

    /// <summary>
    /// One folder as a delimiter listing gives it: the names of the folders in it and its objects (with their sizes, times and
    /// ETags; a marker of the folder itself or of a name ending in <c>/</c> included), one request per 1,000 entries.
    /// </summary>
    /// <param name="path">The folder (the root when empty).</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    Task<(IReadOnlyList<string> Folders, IReadOnlyList<StorageObject> Objects)> ListFolderAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the objects at <paramref name="paths"/> (files, not folders), up to 1,000 a request, at most <see cref="Parallelism"/>
    /// requests at once. Deleting what is not there succeeds. Returns the objects the store refused to delete, with its reason.
    /// </summary>
    /// <param name="paths">The objects' paths.</param>
    /// <param name="cancellationToken">Stops before the next request.</param>
    Task<IReadOnlyList<StorageDeleteFailure>> DeleteManyAsync(IReadOnlyCollection<string> paths, CancellationToken cancellationToken = default);

    /// <summary>
    /// The unfinished multipart uploads whose path starts with <paramref name="path"/> (a key prefix, not only a folder; a trailing
    /// <c>/</c> asks for those in that folder).
    /// </summary>
    IReadOnlyList<StorageMultipartUpload> ListMultipartUploads(string path);

    /// <summary>The bytes a multipart upload holds so far and its last write (its initiation, or its latest part's time).</summary>
    (long Size, DateTimeOffset LastWrittenAt) ReadMultipartUpload(StorageMultipartUpload upload);

    /// <summary>Aborts a multipart upload, freeing its parts; one already gone is no error.</summary>
    void AbortMultipartUpload(StorageMultipartUpload upload);
}

/// <summary>An unfinished multipart upload.</summary>
/// <param name="Path">The path of the object it would write.</param>
/// <param name="UploadId">The server's id of it.</param>
/// <param name="InitiatedAt">When it was started.</param>
internal readonly record struct StorageMultipartUpload(string Path, string UploadId, DateTimeOffset InitiatedAt);

/// <summary>An object of a flat listing.</summary>
/// <param name="Path">Its path relative to the driver's root; when <paramref name="HasValidPath"/> is false, its key below the root as it is.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="ModifiedAt">When it was last written.</param>
/// <param name="HasValidPath">False when its key is no driver path (an empty segment, <c>.</c> or <c>..</c>): it can be reported, not opened.</param>
/// <param name="ETag">Its ETag as listed, when known.</param>
internal readonly record struct StorageObject(string Path, long Size, DateTimeOffset ModifiedAt, bool HasValidPath = true, string? ETag = null);

/// <summary>Keys to list (<see cref="IObjectStorageDriver.ListRangesAsync"/>): those starting with a prefix, after one key and up to another.</summary>
/// <param name="Prefix">What every key of the range starts with, below the driver's root (not necessarily a whole segment; empty for all).</param>
/// <param name="After">Only keys after this one (a path below the root, not necessarily a key), when given.</param>
/// <param name="Last">Only keys up to and including this one, when given.</param>
internal readonly record struct StorageKeyRange(string Prefix, string? After = null, string? Last = null);

/// <summary>An object a batch delete did not delete.</summary>
/// <param name="Path">Its path.</param>
/// <param name="Reason">The store's error code and message.</param>
internal readonly record struct StorageDeleteFailure(string Path, string Reason);

/// <summary>Shards for <see cref="IObjectStorageDriver.ListTreeAsync(string, IReadOnlyCollection{string}, CancellationToken)"/>.</summary>
internal static class StorageShards
{
    /// <summary>
    /// Every string of <paramref name="digits"/> lowercase hexadecimal digits (<c>00</c>…<c>ff</c> for 2): Distribution spreads blobs
    /// over <c>blobs/sha256/XX/</c>, the first two digits of the digest.
    /// </summary>
    public static IReadOnlyList<string> Hex(int digits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 4);
        var count = 1 << (4 * digits);
        var format = "x" + digits.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Enumerable.Range(0, count).Select(i => i.ToString(format, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }
}
