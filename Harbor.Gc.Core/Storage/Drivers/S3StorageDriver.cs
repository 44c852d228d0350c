using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// The storage driver over an S3 bucket (AWS, or an S3-compatible server at <see cref="S3StorageOptions.Endpoint"/>): the driver's
/// root is a key prefix, a path is the key below it, and a folder is every key that starts with its path and <c>/</c>.
/// </summary>
/// <remarks>
/// <para>
/// Listing a folder is a ListObjectsV2 with the delimiter <c>/</c> (one request per 1,000 entries); the flat listing of
/// <see cref="IObjectStorageDriver"/> lists keys without it, sharded by prefix. Stat is a HeadObject (size, and the time from
/// LastModified), or, for a folder, a one-key listing of it: an object store has no folders, so a folder has no time of its own
/// and is reported at the Unix epoch (the times of the objects in it are what count). A read is one ranged GetObject of at most
/// the cap and one byte: a larger object is reported too large from the Content-Range total without being read. There are no
/// symbolic links or special files in a bucket.
/// </para>
/// <para>
/// Credentials come from the SDK's standard chain only (environment variables, the shared credentials and config files and their
/// profiles, web identity, container and instance roles); none is ever taken from the command line or put in a message.
/// </para>
/// <para>
/// Every request is retried on throttling (503 SlowDown and the like), a 5xx answer or a broken connection, with exponential backoff
/// and jitter (<see cref="S3StorageOptions.MaxAttempts"/>); the SDK's own retries are off, so <see cref="Requests"/> counts each
/// request sent. The seam is synchronous, as the file-system drivers are: each call waits for the SDK's asynchronous one.
/// </para>
/// <para>
/// Move and lock (DESIGN.md, "S3 storage"): S3 has neither. <see cref="Move"/> copies each object (CopyObject, at most 5 GiB each)
/// and then deletes the sources: not atomic; a crash in between leaves both copies, never neither. <see cref="TryLock"/> throws
/// <see cref="NotSupportedException"/>: a bucket offers no lock that a killed holder releases, and the store refuses a real run
/// it cannot lock.
/// </para>
/// </remarks>
internal sealed class S3StorageDriver : IObjectStorageDriver, IDisposable
{
    /// <summary>The most keys one ListObjectsV2 returns and one DeleteObjects takes.</summary>
    public const int MaxKeysPerRequest = 1000;

    /// <summary>The largest object one CopyObject copies (5 GiB).</summary>
    public const long MaxCopySize = 5L << 30;

    private static readonly HashSet<string> ThrottlingCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestLimitExceeded",
        "TooManyRequestsException", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeoutException",
    };

    private readonly IAmazonS3 _client;
    private readonly S3StorageOptions _options;
    private readonly string _prefix;
    private long _requests;
    private long _retries;

    /// <summary>Opens the driver over <see cref="S3StorageOptions.Bucket"/> and <see cref="S3StorageOptions.RootPrefix"/>; sends nothing yet.</summary>
    public S3StorageDriver(S3StorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _prefix = options.RootPrefix;
        var config = new AmazonS3Config
        {
            MaxErrorRetry = 0, // the retries are this driver's (Retry), so each request is counted once
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint.ToString();
            config.ForcePathStyle = true;
            config.AuthenticationRegion = options.Region ?? "us-east-1";
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region ?? "us-east-1");
        }

        if (options.HttpClientFactory is { } factory)
        {
            config.HttpClientFactory = factory;
        }

        _client = new AmazonS3Client(config); // no credentials given: the SDK's standard chain
        Root = options.RootPrefix.Length == 0 ? $"s3://{options.Bucket}" : $"s3://{options.Bucket}/{options.RootPrefix}";
    }

    /// <inheritdoc />
    public string Root { get; }

    /// <inheritdoc />
    public int Parallelism => _options.Parallelism;

    /// <summary>The requests sent so far (each try counted).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The tries repeated so far after throttling or a transient error.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <inheritdoc />
    public string Describe(string path) => StoragePaths.Describe(Root, path);

    /// <inheritdoc />
    public IReadOnlyList<StorageListEntry>? List(string path)
    {
        StoragePaths.Validate(path);
        var folder = FolderPrefix(path);
        var entries = new List<StorageListEntry>();
        string? token = null;
        do
        {
            var page = Wait(ct => _client.ListObjectsV2Async(
                new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = folder, Delimiter = "/", ContinuationToken = token, MaxKeys = MaxKeysPerRequest }, ct));
            foreach (var common in page.CommonPrefixes ?? [])
            {
                var name = common[folder.Length..^1];
                entries.Add(new StorageListEntry(name, StorageEntryKind.Directory, IsPlainName(name)));
            }

            foreach (var item in page.S3Objects ?? [])
            {
                var name = item.Key[folder.Length..];
                if (name.Length == 0)
                {
                    continue; // a zero-byte "folder/" marker some tools write: the folder itself
                }

                entries.Add(new StorageListEntry(name, StorageEntryKind.File, IsPlainName(name)));
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);

        return entries.Count == 0 ? null : entries;
    }

    /// <inheritdoc />
    public StorageStat? Stat(string path)
    {
        StoragePaths.Validate(path);
        if (path.Length == 0)
        {
            return new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch);
        }

        var head = Wait(async ct =>
        {
            try
            {
                return await _client.GetObjectMetadataAsync(_options.Bucket, Key(path), ct).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        });
        if (head is not null)
        {
            return new StorageStat(StorageEntryKind.File, head.ContentLength, ToTime(head.LastModified));
        }

        return IsFolder(path) ? new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch) : null;
    }

    /// <inheritdoc />
    public StorageReadResult Read(string path, int maxBytes)
    {
        StoragePaths.Validate(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        if (path.Length == 0)
        {
            return new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch));
        }

        var result = Wait(ct => ReadAsync(Key(path), maxBytes, ct));
        if (result is { } read)
        {
            return read;
        }

        return IsFolder(path)
            ? new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch))
            : StorageReadResult.Missing;
    }

    /// <inheritdoc />
    /// <remarks>The object at the path (DeleteObject) and every object under it (listed flat, DeleteObjects in batches).</remarks>
    public void Delete(string path)
    {
        StoragePaths.Validate(path);
        if (path.Length == 0)
        {
            throw new StorageRefusedException(Root, "the driver's root is never deleted whole");
        }

        Wait(ct => _client.DeleteObjectAsync(_options.Bucket, Key(path), ct));
        var under = Block(ct => ListAllAsync(path, ct));
        var failures = Block(ct => DeleteKeysAsync(under.Select(o => KeyBelowRoot(o.Path)).ToList(), ct));
        if (failures.Count > 0)
        {
            throw new IOException($"Could not delete {failures.Count} object(s) under '{Describe(path)}', such as '{Describe(failures[0].Path)}': {failures[0].Reason}");
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Copies each object (CopyObject) and then deletes the sources: not atomic. Refuses an object over 5 GiB before copying
    /// anything. The target is checked to be free first; a writer that creates it between the check and the copy is overwritten.
    /// </remarks>
    public StorageMoveOutcome Move(string from, string to)
    {
        StoragePaths.Validate(from);
        StoragePaths.Validate(to);
        if (from.Length == 0 || to.Length == 0)
        {
            throw new StorageRefusedException(Root, "the driver's root is never moved or replaced");
        }

        if (to == from || to.StartsWith(from + "/", StringComparison.Ordinal))
        {
            throw new StorageRefusedException(Describe(to), $"it is '{Describe(from)}' or inside it");
        }

        var sources = new List<StorageObject>();
        if (Stat(from) is { Kind: StorageEntryKind.File } file)
        {
            sources.Add(new StorageObject(from, file.Size, file.ModifiedAt));
        }

        var inside = Block(ct => ListAllAsync(from, ct));
        if (inside.FirstOrDefault(o => !o.HasValidPath) is { Path: { } odd })
        {
            throw new StorageRefusedException(Describe(from), $"the key '{odd}' in it is no storage path; nothing was moved");
        }

        sources.AddRange(inside);
        if (sources.Count == 0)
        {
            return StorageMoveOutcome.SourceMissing;
        }

        if (sources.FirstOrDefault(o => o.Size > MaxCopySize) is { Path.Length: > 0 } huge)
        {
            throw new StorageRefusedException(Describe(huge.Path), $"it holds {huge.Size} bytes, more than the 5 GiB one copy moves; nothing was moved");
        }

        if (Stat(to) is not null)
        {
            return StorageMoveOutcome.TargetExists;
        }

        Block(async ct =>
        {
            await Parallel.ForEachAsync(sources, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (source, token) =>
            {
                var target = to + source.Path[from.Length..];
                await Retry(t => _client.CopyObjectAsync(_options.Bucket, Key(source.Path), _options.Bucket, Key(target), t), token).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return true;
        });
        var failures = Block(ct => DeleteKeysAsync(sources.Select(s => Key(s.Path)).ToList(), ct));
        if (failures.Count > 0)
        {
            throw new IOException($"Copied '{Describe(from)}' to '{Describe(to)}' but could not delete {failures.Count} source object(s), such as '{Describe(failures[0].Path)}': {failures[0].Reason}");
        }

        return StorageMoveOutcome.Moved;
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">Always: see the class remarks.</exception>
    public IDisposable? TryLock(string path) =>
        throw new NotSupportedException($"'{Describe(path)}': an S3 bucket offers no lock that a killed holder releases, so harbor-gc cannot keep two real runs apart there.");

    /// <inheritdoc />
    public async IAsyncEnumerable<StorageObject> ListTreeAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        await foreach (var item in ListKeysAsync(FolderPrefix(path), cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StorageObject>> ListTreeAsync(string path, IReadOnlyCollection<string> shards, CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Any(s => s.Length == 0))
        {
            throw new ArgumentException("A shard is empty.", nameof(shards));
        }

        var folder = FolderPrefix(path);
        var found = new List<StorageObject>[shards.Count];
        var indexed = shards.Select((shard, index) => (shard, index));
        await Parallel.ForEachAsync(indexed, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (item, token) =>
        {
            var list = new List<StorageObject>();
            await foreach (var entry in ListKeysAsync(folder + item.shard, token).ConfigureAwait(false))
            {
                list.Add(entry);
            }

            found[item.index] = list;
        }).ConfigureAwait(false);
        var all = found.SelectMany(l => l).ToList();
        all.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return all;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StorageDeleteFailure>> DeleteManyAsync(IReadOnlyCollection<string> paths, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        foreach (var path in paths)
        {
            StoragePaths.Validate(path);
            if (path.Length == 0)
            {
                throw new StorageRefusedException(Root, "the driver's root is no object to delete");
            }
        }

        return DeleteKeysAsync(paths.Select(Key).ToList(), cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    private async Task<IReadOnlyList<StorageDeleteFailure>> DeleteKeysAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var failures = new List<StorageDeleteFailure>();
        var batches = keys.Distinct(StringComparer.Ordinal).Chunk(MaxKeysPerRequest).ToList();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (batch, token) =>
        {
            var request = new DeleteObjectsRequest { BucketName = _options.Bucket, Quiet = true, Objects = batch.Select(k => new KeyVersion { Key = k }).ToList() };
            List<DeleteError>? errors;
            try
            {
                var response = await Retry(t => _client.DeleteObjectsAsync(request, t), token).ConfigureAwait(false);
                errors = response.DeleteErrors;
            }
            catch (DeleteObjectsException e)
            {
                errors = e.Response?.DeleteErrors;
            }

            if (errors is { Count: > 0 })
            {
                lock (failures)
                {
                    failures.AddRange(errors.Select(e => new StorageDeleteFailure(PathOf(e.Key), $"{e.Code}: {e.Message}")));
                }
            }
        }).ConfigureAwait(false);
        return failures;
    }

    private async IAsyncEnumerable<StorageObject> ListKeysAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, ContinuationToken = token, MaxKeys = MaxKeysPerRequest };
            var page = await Retry(ct => _client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
            foreach (var item in page.S3Objects ?? [])
            {
                if (item.Key.EndsWith('/') && item.Size is null or 0)
                {
                    continue; // a "folder/" marker
                }

                var below = _prefix.Length == 0 ? item.Key : item.Key[(_prefix.Length + 1)..];
                yield return new StorageObject(below, item.Size ?? 0, ToTime(item.LastModified), IsPath(below));
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    private async Task<StorageReadResult?> ReadAsync(string key, int maxBytes, CancellationToken cancellationToken)
    {
        GetObjectResponse response;
        try
        {
            response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = key, ByteRange = new ByteRange(0, maxBytes) }, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // an empty object has no byte 0
            var head = await _client.GetObjectMetadataAsync(_options.Bucket, key, cancellationToken).ConfigureAwait(false);
            var stat = new StorageStat(StorageEntryKind.File, head.ContentLength, ToTime(head.LastModified));
            return head.ContentLength == 0 ? new StorageReadResult(StorageReadStatus.Read, [], stat) : new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
        }

        using (response)
        {
            var size = TotalSize(response);
            var stat = new StorageStat(StorageEntryKind.File, size, ToTime(response.LastModified));
            if (size > maxBytes)
            {
                return new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
            }

            var content = new byte[size];
            await response.ResponseStream.ReadExactlyAsync(content, cancellationToken).ConfigureAwait(false);
            return new StorageReadResult(StorageReadStatus.Read, content, stat);
        }
    }

    /// <summary>The object's whole size: the total of a ranged answer's Content-Range (<c>bytes 0-N/TOTAL</c>), else its length.</summary>
    private static long TotalSize(GetObjectResponse response)
    {
        var range = response.ContentRange;
        if (!string.IsNullOrEmpty(range))
        {
            var slash = range.LastIndexOf('/');
            if (slash >= 0 && long.TryParse(range.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var total))
            {
                return total;
            }
        }

        return response.ContentLength;
    }

    private bool IsFolder(string path) =>
        Wait(ct => _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = FolderPrefix(path), MaxKeys = 1 }, ct)).KeyCount is > 0;

    /// <summary>Every object under <paramref name="path"/>, as one list.</summary>
    private async Task<List<StorageObject>> ListAllAsync(string path, CancellationToken cancellationToken)
    {
        var found = new List<StorageObject>();
        await foreach (var item in ListTreeAsync(path, cancellationToken).ConfigureAwait(false))
        {
            found.Add(item);
        }

        return found;
    }

    /// <summary>Waits for an operation that retries its requests itself.</summary>
    private static T Block<T>(Func<CancellationToken, Task<T>> operation) => operation(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Runs an SDK call with the retries, and waits for it.</summary>
    private T Wait<T>(Func<CancellationToken, Task<T>> call) => Retry(call, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Runs an SDK call, trying again after throttling, a 5xx answer or a broken connection, with exponential backoff and jitter.</summary>
    private async Task<T> Retry<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            Interlocked.Increment(ref _requests);
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < _options.MaxAttempts && IsTransient(e, cancellationToken))
            {
                Interlocked.Increment(ref _retries);
                await Task.Delay(Backoff(attempt), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The wait before try <paramref name="attempt"/> + 1: half of min(max, first × 2^(attempt−1)) plus a random part of the other half.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(_options.MaxRetryDelay.Ticks, _options.FirstRetryDelay.Ticks * (1L << Math.Min(attempt - 1, 30)));
        return TimeSpan.FromTicks((ceiling / 2) + (long)(Random.Shared.NextDouble() * (ceiling / 2)));
    }

    /// <summary>Whether an error is worth another try: throttling, a 5xx answer, a timeout or a broken connection.</summary>
    internal static bool IsTransient(Exception error, CancellationToken cancellationToken)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AmazonServiceException service when ThrottlingCodes.Contains(service.ErrorCode ?? string.Empty)
                                                          || (int)service.StatusCode >= 500 || service.StatusCode == HttpStatusCode.TooManyRequests:
                    return true;
                case AmazonServiceException:
                    return false;
                case HttpRequestException or IOException:
                    return true;
                case OperationCanceledException when !cancellationToken.IsCancellationRequested:
                    return true; // the SDK's request timeout
            }
        }

        return false;
    }

    private string Key(string path) => _prefix.Length == 0 ? path : path.Length == 0 ? _prefix : _prefix + "/" + path;

    private string KeyBelowRoot(string below) => _prefix.Length == 0 ? below : _prefix + "/" + below;

    private string PathOf(string key) => _prefix.Length == 0 ? key : key.StartsWith(_prefix + "/", StringComparison.Ordinal) ? key[(_prefix.Length + 1)..] : key;

    /// <summary>The key prefix of everything in the folder <paramref name="path"/>: its key and <c>/</c> (nothing for the bucket's root).</summary>
    private string FolderPrefix(string path)
    {
        var key = Key(path);
        return key.Length == 0 ? string.Empty : key + "/";
    }

    private static bool IsPlainName(string name) => name.Length > 0 && name is not ("." or "..") && !name.Contains('\0', StringComparison.Ordinal);

    private static bool IsPath(string path) => path.Split('/').All(IsPlainName);

    private static DateTimeOffset ToTime(DateTime? time) => time is { } t
        ? new DateTimeOffset(t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime())
        : DateTimeOffset.UnixEpoch;
}
