using System.Security.Cryptography;
using System.Text;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// A read-only view of a Distribution layout in an object store, for one snapshot: <c>blobs/</c> and <c>repositories/</c> listed
/// flat once, in key ranges listed in parallel (<see cref="IObjectStorageDriver.ListRangesAsync"/>), and every List and Stat of
/// them answered from that listing the way <see cref="S3StorageDriver"/> answers them from the bucket (anything else goes to the
/// live driver), so the store's reader (the same code as on a folder) sees
/// the tree it would see folder by folder, at about 1,000 objects per request instead of one folder per request (issue 17).
/// </summary>
/// <remarks>
/// <para>
/// Reads: a link file (<c>…/ALGORITHM/HEX/link</c>: revision, layer and tag-index links) whose listed ETag is the MD5 of the
/// content its path names (<c>ALGORITHM:HEX</c>; on S3 the ETag of an object written by a single-part PUT without SSE-KMS) is
/// known without a request; a tag's <c>current/link</c> is tried against the digests of its <c>index</c> the same way. Anything
/// else — another ETag (a damaged link, a multipart upload's <c>…-N</c>, an encrypted object's), a manifest, a <c>startedat</c> —
/// is read from the store (<see cref="LiveReads"/> counts them); an object the listing shows too large for the cap, or empty, is
/// answered from the listing. The multipart uploads under <c>repositories/</c> are listed once too.
/// </para>
/// <para>
/// Nothing here changes the store: every write refuses. The view is the snapshot's only; the sweep's re-checks, the re-read after
/// the grace period and every quarantine step use the live driver, so no deletion is ever decided from this listing.
/// </para>
/// </remarks>
internal sealed class ListedLayoutDriver : IObjectStorageDriver
{
    private readonly IObjectStorageDriver _live;
    private readonly string[] _keys; // every listed key below the root (folder markers too), in key order
    private readonly Dictionary<string, StorageObject> _objects; // by path, the objects (no markers)
    private readonly IReadOnlyList<StorageMultipartUpload> _multipart;
    private long _knownLinks;
    private long _liveReads;

    private ListedLayoutDriver(IObjectStorageDriver live, IReadOnlyList<StorageObject> listed, IReadOnlyList<StorageMultipartUpload> multipart, int ranges, int folderListings)
    {
        _live = live;
        _multipart = multipart;
        Ranges = ranges;
        FolderListings = folderListings;
        ListedEntries = listed.Count;
        _objects = new Dictionary<string, StorageObject>(listed.Count, StringComparer.Ordinal);
        var keys = new List<string>(listed.Count);
        foreach (var item in listed)
        {
            if (!IsMarker(item) && !_objects.TryAdd(item.Path, item))
            {
                continue; // listed twice (never by a conforming server): once is enough
            }

            keys.Add(item.Path);
        }

        _keys = [.. keys.Distinct(StringComparer.Ordinal)];
        Array.Sort(_keys, StoragePaths.KeyOrder);
    }

    /// <summary>
    /// Lists <c>blobs/</c> and <c>repositories/</c> under <paramref name="live"/>'s root. <c>blobs/</c>: its first page listed flat
    /// (up to <paramref name="firstPageKeys"/> keys); when that is the whole folder nothing more is sent, otherwise a delimiter listing
    /// of <c>blobs/</c> and of each algorithm folder in it, and every folder under those (<c>blobs/sha256/00/</c> …) that the first
    /// page did not cover listed flat on its own (the one holding the page's last key from after that key). A delimiter listing of
    /// <c>repositories/</c> for its top-level names, then <c>repositories/</c> listed flat in key ranges of about as many names each
    /// (up to twice <see cref="IObjectStorageDriver.Parallelism"/> of them); and the multipart uploads under <c>repositories/</c>.
    /// Every key under the two folders is in exactly one of these, whatever its name.
    /// </summary>
    /// <param name="live">The driver of the bucket.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <param name="firstPageKeys">The keys of <c>blobs/</c>'s first page (1,000, a request's most; fewer only in tests).</param>
    public static async Task<ListedLayoutDriver> ListAsync(IObjectStorageDriver live, CancellationToken cancellationToken, int firstPageKeys = S3StorageDriver.MaxKeysPerRequest)
    {
        ArgumentNullException.ThrowIfNull(live);
        var multipart = Task.Run(() => live.ListMultipartUploads(DistributionLayout.Repositories + "/"), cancellationToken);
        var repositoriesTask = live.ListFolderAsync(DistributionLayout.Repositories, cancellationToken);
        var (first, truncated) = await live.ListFirstPageAsync(DistributionLayout.Blobs + "/", firstPageKeys, cancellationToken).ConfigureAwait(false);
        var listed = new List<StorageObject>(first);
        var ranges = new List<StorageKeyRange>();
        var folderListings = 1;
        if (truncated)
        {
            // the first page holds every key up to its last one: a folder wholly before that key is done, the folder holding it is
            // listed from after it, the others whole; the objects of the delimiter listings count only after it
            var seen = first.Count > 0 ? first[^1].Path : string.Empty; // empty (no key sorts before it) only from a server that truncates an empty page
            var blobs = await live.ListFolderAsync(DistributionLayout.Blobs, cancellationToken).ConfigureAwait(false);
            folderListings++;
            listed.AddRange(blobs.Objects.Where(o => StoragePaths.CompareKeys(o.Path, seen) > 0));
            foreach (var folder in blobs.Folders)
            {
                var prefix = $"{DistributionLayout.Blobs}/{folder}/";
                if (WhollyBefore(prefix, seen))
                {
                    continue;
                }

                if (folder is "sha256" or "sha512")
                {
                    var algorithm = await live.ListFolderAsync($"{DistributionLayout.Blobs}/{folder}", cancellationToken).ConfigureAwait(false);
                    folderListings++;
                    listed.AddRange(algorithm.Objects.Where(o => StoragePaths.CompareKeys(o.Path, seen) > 0));
                    foreach (var shard in algorithm.Folders)
                    {
                        AddShard($"{prefix}{shard}/");
                    }
                }
                else
                {
                    AddShard(prefix);
                }
            }

            void AddShard(string shard)
            {
                if (!WhollyBefore(shard, seen))
                {
                    ranges.Add(seen.StartsWith(shard, StringComparison.Ordinal) ? new StorageKeyRange(shard, seen) : new StorageKeyRange(shard));
                }
            }
        }

        // the repositories' ranges split before every k-th top-level folder (their keys in key order: NAME/ sorts as a key does)
        var top = (await repositoriesTask.ConfigureAwait(false)).Folders
            .Select(name => $"{DistributionLayout.Repositories}/{name}/").Distinct(StringComparer.Ordinal).Order(StoragePaths.KeyOrder).ToList();
        var wanted = Math.Max(1, Math.Min(top.Count, 2 * live.Parallelism));
        var starts = Enumerable.Range(1, wanted - 1).Select(i => top[(int)((long)i * top.Count / wanted)]).Distinct(StringComparer.Ordinal).ToList();
        var all = DistributionLayout.Repositories + "/";
        for (var i = 0; i <= starts.Count; i++)
        {
            // keys after the previous start, up to and including this one (a marker equal to it is this range's, once)
            var after = i == 0 ? null : starts[i - 1];
            var last = i == starts.Count ? null : starts[i];
            ranges.Add(new StorageKeyRange(after is not null && last is not null ? CommonPrefix(after, last) : all, after, last));
        }

        folderListings++; // repositories/

        listed.AddRange(await live.ListRangesAsync(ranges, cancellationToken).ConfigureAwait(false));
        return new ListedLayoutDriver(live, listed, await multipart.ConfigureAwait(false), ranges.Count, folderListings);
    }

    /// <summary>
    /// Whether every key starting with <paramref name="prefix"/> sorts before <paramref name="key"/> (so a listing up to that key
    /// holds them all): the prefix sorts before it and is not its start.
    /// </summary>
    internal static bool WhollyBefore(string prefix, string key) =>
        !key.StartsWith(prefix, StringComparison.Ordinal) && StoragePaths.CompareKeys(prefix, key) < 0;

    /// <summary>What two keys start with alike: every key after the one and up to the other starts with it too.</summary>
    private static string CommonPrefix(string a, string b)
    {
        var i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i])
        {
            i++;
        }

        if (i > 0 && char.IsHighSurrogate(a[i - 1]))
        {
            i--; // never split a pair
        }

        return a[..i];
    }

    /// <summary>
    /// The listings of the layout besides its ranges: <c>blobs/</c>'s first page, and the delimiter listings of <c>repositories/</c>
    /// and, when that page was not all of <c>blobs/</c>, of <c>blobs/</c> and each algorithm folder the page did not cover.
    /// </summary>
    public int FolderListings { get; }

    /// <summary>How many key ranges the layout was listed in.</summary>
    public int Ranges { get; }

    /// <summary>The entries the listings gave, a key listed twice counted twice (<see cref="KeyCount"/> when each was listed once).</summary>
    public int ListedEntries { get; }

    /// <summary>The keys listed.</summary>
    public int KeyCount => _keys.Length;

    /// <summary>Link files whose content the listing's ETag gave (no request).</summary>
    public long KnownLinks => Interlocked.Read(ref _knownLinks);

    /// <summary>Reads sent to the store (manifests, links the ETag did not give, <c>startedat</c> files).</summary>
    public long LiveReads => Interlocked.Read(ref _liveReads);

    /// <inheritdoc />
    public string Root => _live.Root;

    /// <inheritdoc />
    public int Parallelism => _live.Parallelism;

    /// <inheritdoc />
    public string Describe(string path) => _live.Describe(path);

    /// <inheritdoc />
    /// <remarks>
    /// As a delimiter listing gives it: the entries in key order (a folder where its name and <c>/</c> would sort), 1,000 to a page,
    /// each page's folders before its files, so even the order is the one the per-folder listing gives.
    /// </remarks>
    public IReadOnlyList<StorageListEntry>? List(string path)
    {
        StoragePaths.Validate(path);
        if (!Covers(path))
        {
            return _live.List(path);
        }

        var folder = path.Length == 0 ? string.Empty : path + "/";
        var entries = new List<(string Name, bool IsFolder)>();
        for (var i = First(folder); i < _keys.Length && _keys[i].StartsWith(folder, StringComparison.Ordinal); i++)
        {
            var rest = _keys[i][folder.Length..];
            if (rest.Length == 0)
            {
                continue; // the folder's own marker
            }

            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                entries.Add((rest, false));
                continue;
            }

            var name = rest[..slash];
            if (entries.Count == 0 || !entries[^1].IsFolder || entries[^1].Name != name)
            {
                entries.Add((name, true)); // the keys of one folder are next to one another
            }
        }

        if (entries.Count == 0)
        {
            return null;
        }

        var result = new List<StorageListEntry>(entries.Count);
        foreach (var page in entries.Chunk(S3StorageDriver.MaxKeysPerRequest))
        {
            result.AddRange(page.Where(e => e.IsFolder).Select(e => new StorageListEntry(e.Name, StorageEntryKind.Directory, IsPlainName(e.Name))));
            result.AddRange(page.Where(e => !e.IsFolder).Select(e => new StorageListEntry(e.Name, StorageEntryKind.File, IsPlainName(e.Name))));
        }

        return result;
    }

    /// <inheritdoc />
    public StorageStat? Stat(string path)
    {
        StoragePaths.Validate(path);
        if (!Covers(path))
        {
            return _live.Stat(path);
        }

        if (_objects.TryGetValue(path, out var item))
        {
            return new StorageStat(StorageEntryKind.File, item.Size, item.ModifiedAt);
        }

        return IsFolder(path) ? new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch) : null;
    }

    /// <inheritdoc />
    public StorageReadResult Read(string path, int maxBytes) => (Covers(path) ? FromListing(path, maxBytes) : null) ?? _live.Read(path, maxBytes);

    /// <inheritdoc />
    public async Task<StorageReadResult> ReadAsync(string path, int maxBytes, CancellationToken cancellationToken = default) =>
        (Covers(path) ? FromListing(path, maxBytes) : null) ?? await _live.ReadAsync(path, maxBytes, cancellationToken).ConfigureAwait(false);

    /// <summary>A read answered from the listing, or null when the object must be read from the store (counted).</summary>
    private StorageReadResult? FromListing(string path, int maxBytes)
    {
        StoragePaths.Validate(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        if (!_objects.TryGetValue(path, out var item))
        {
            return IsFolder(path)
                ? new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch))
                : StorageReadResult.Missing;
        }

        var stat = new StorageStat(StorageEntryKind.File, item.Size, item.ModifiedAt);
        if (item.Size > maxBytes)
        {
            return new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
        }

        if (item.Size == 0)
        {
            return new StorageReadResult(StorageReadStatus.Read, [], stat);
        }

        if (KnownContent(item) is { } content)
        {
            Interlocked.Increment(ref _knownLinks);
            return new StorageReadResult(StorageReadStatus.Read, content, stat);
        }

        Interlocked.Increment(ref _liveReads);
        return null;
    }

    /// <summary>
    /// The content of a link file when its listed ETag is the MD5 of a digest its path names: its own folder's
    /// (<c>ALGORITHM/HEX/link</c>), or for a tag's <c>current/link</c> one of the tag's index entries. Null otherwise.
    /// </summary>
    private byte[]? KnownContent(StorageObject item)
    {
        if (!item.Path.EndsWith("/link", StringComparison.Ordinal) || Md5OfETag(item.ETag) is not { } md5)
        {
            return null;
        }

        var segments = item.Path.Split('/');
        if (segments.Length >= 3 && Candidate(segments[^3], segments[^2]) is { } own && Matches(own))
        {
            return own;
        }

        if (segments.Length >= 3 && segments[^2] == "current")
        {
            var index = string.Join('/', segments[..^2]) + "/index/";
            for (var i = First(index); i < _keys.Length && _keys[i].StartsWith(index, StringComparison.Ordinal); i++)
            {
                var parts = _keys[i][index.Length..].Split('/');
                if (parts.Length == 3 && parts[2] == "link" && Candidate(parts[0], parts[1]) is { } candidate && Matches(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;

        bool Matches(byte[] candidate) => candidate.Length == item.Size && MD5.HashData(candidate).AsSpan().SequenceEqual(md5);

        static byte[]? Candidate(string algorithm, string hex) =>
            algorithm is "sha256" or "sha512" && DistributionLayout.DigestOfFolder(algorithm, hex) is { } digest
                ? Encoding.ASCII.GetBytes(digest.ToString())
                : null;
    }

    /// <summary>The MD5 an ETag is (32 hexadecimal digits, quoted or not), or null (a multipart upload's <c>…-N</c>, anything else).</summary>
    internal static byte[]? Md5OfETag(string? etag)
    {
        var hex = etag?.Trim('"');
        if (hex is not { Length: 32 })
        {
            return null;
        }

        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StorageObject> ListTreeAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        if (!Covers(path))
        {
            throw new InvalidOperationException($"the snapshot's listing holds only blobs/ and repositories/, not '{path}'");
        }

        foreach (var item in Under(path))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return item;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StorageObject>> ListTreeAsync(string path, IReadOnlyCollection<string> shards, CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        if (!Covers(path))
        {
            throw new InvalidOperationException($"the snapshot's listing holds only blobs/ and repositories/, not '{path}'");
        }

        ArgumentNullException.ThrowIfNull(shards);
        var folder = path.Length == 0 ? string.Empty : path + "/";
        IReadOnlyList<StorageObject> found = [.. Under(path).Where(o => shards.Any(s => o.Path.AsSpan(folder.Length).StartsWith(s, StringComparison.Ordinal)))];
        return Task.FromResult(found);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StorageObject>> ListRangesAsync(IReadOnlyList<StorageKeyRange> ranges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        IReadOnlyList<StorageObject> found = [.. ranges.SelectMany(r => Keys(r.Prefix)
            .Where(k => (r.After is null || StoragePaths.CompareKeys(k, r.After) > 0) && (r.Last is null || StoragePaths.CompareKeys(k, r.Last) <= 0))
            .Select(k => _objects.TryGetValue(k, out var o) ? o : new StorageObject(k, 0, DateTimeOffset.UnixEpoch, false)))];
        return Task.FromResult(found);
    }

    /// <inheritdoc />
    public Task<(IReadOnlyList<StorageObject> Objects, bool Truncated)> ListFirstPageAsync(string prefix, int maxKeys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        var keys = Keys(prefix).Take(maxKeys + 1).ToList();
        IReadOnlyList<StorageObject> page = [.. keys.Take(maxKeys).Select(k => _objects.TryGetValue(k, out var o) ? o : new StorageObject(k, 0, DateTimeOffset.UnixEpoch, false))];
        return Task.FromResult((page, keys.Count > maxKeys));
    }

    /// <inheritdoc />
    public Task<(IReadOnlyList<string> Folders, IReadOnlyList<StorageObject> Objects)> ListFolderAsync(string path, CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        var folder = path.Length == 0 ? string.Empty : path + "/";
        var folders = new List<string>();
        var objects = new List<StorageObject>();
        foreach (var key in Keys(folder))
        {
            var rest = key[folder.Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                objects.Add(_objects.TryGetValue(key, out var o) ? o : new StorageObject(key, 0, DateTimeOffset.UnixEpoch, false));
            }
            else if (folders.Count == 0 || folders[^1] != rest[..slash])
            {
                folders.Add(rest[..slash]);
            }
        }

        return Task.FromResult<(IReadOnlyList<string>, IReadOnlyList<StorageObject>)>((folders, objects));
    }

    /// <inheritdoc />
    public IReadOnlyList<StorageMultipartUpload> ListMultipartUploads(string path)
    {
        var folder = path.EndsWith('/');
        StoragePaths.Validate(folder ? path[..^1] : path);
        return path.StartsWith(DistributionLayout.Repositories + "/", StringComparison.Ordinal)
            ? [.. _multipart.Where(u => u.Path.StartsWith(path, StringComparison.Ordinal))]
            : _live.ListMultipartUploads(path);
    }

    /// <inheritdoc />
    public (long Size, DateTimeOffset LastWrittenAt) ReadMultipartUpload(StorageMultipartUpload upload) => _live.ReadMultipartUpload(upload);

    /// <inheritdoc />
    public void Delete(string path) => throw ReadOnly();

    /// <inheritdoc />
    public StorageMoveOutcome Move(string from, string to) => throw ReadOnly();

    /// <inheritdoc />
    public IDisposable? TryLock(string path) => throw ReadOnly();

    /// <inheritdoc />
    public Task<IReadOnlyList<StorageDeleteFailure>> DeleteManyAsync(IReadOnlyCollection<string> paths, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public void AbortMultipartUpload(StorageMultipartUpload upload) => throw ReadOnly();

    private static InvalidOperationException ReadOnly() =>
        new("a snapshot's listing of the layout changes nothing: the sweep and the quarantine go to the live driver");

    /// <summary>Whether the listing holds everything under <paramref name="path"/>: <c>blobs</c>, <c>repositories</c> and what is in them.</summary>
    private static bool Covers(string path) =>
        path is DistributionLayout.Blobs or DistributionLayout.Repositories ||
        path.StartsWith(DistributionLayout.Blobs + "/", StringComparison.Ordinal) || path.StartsWith(DistributionLayout.Repositories + "/", StringComparison.Ordinal);

    private static bool IsMarker(StorageObject item) => item.Path.EndsWith('/') && item.Size == 0;

    private static bool IsPlainName(string name) => name.Length > 0 && name is not ("." or "..") && !name.Contains('\0', StringComparison.Ordinal);

    /// <summary>Whether some key (a folder marker too) is under <paramref name="path"/>: what a one-key listing of it finds.</summary>
    private bool IsFolder(string path)
    {
        var folder = path + "/";
        var i = First(folder);
        return i < _keys.Length && _keys[i].StartsWith(folder, StringComparison.Ordinal);
    }

    /// <summary>The objects under <paramref name="path"/> as a flat listing gives them (folder markers left out), in key order.</summary>
    private IEnumerable<StorageObject> Under(string path)
    {
        foreach (var key in Keys(path.Length == 0 ? string.Empty : path + "/"))
        {
            if (_objects.TryGetValue(key, out var item))
            {
                yield return item;
            }
        }
    }

    private IEnumerable<string> Keys(string prefix)
    {
        for (var i = First(prefix); i < _keys.Length && _keys[i].StartsWith(prefix, StringComparison.Ordinal); i++)
        {
            yield return _keys[i];
        }
    }

    /// <summary>The index of the first key not before <paramref name="prefix"/>: every key starting with it follows, together.</summary>
    private int First(string prefix)
    {
        int low = 0, high = _keys.Length;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (StoragePaths.CompareKeys(_keys[middle], prefix) < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}
