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
/// Move and lock (DESIGN.md, "S3 storage: real runs"): S3 has neither a rename nor, on Swift's s3api, a create-if-absent.
/// <see cref="Move"/> moves each object on its own (a conditional copy, then a conditional delete): not atomic; a crash leaves
/// each object at one place or both, never neither. <see cref="TryLock"/> is a lease of claim objects, renewed while held and
/// ended by expiry when its holder dies.
/// </para>
/// </remarks>
internal sealed class S3StorageDriver : IObjectStorageDriver, IDisposable
{
    /// <summary>The most keys one ListObjectsV2 returns and one DeleteObjects takes.</summary>
    public const int MaxKeysPerRequest = 1000;

    /// <summary>The largest object one CopyObject copies (5 GiB), and the largest part of a multipart upload.</summary>
    public const long MaxCopySize = 5L << 30;

    /// <summary>The smallest part of a multipart upload but its last (5 MiB).</summary>
    public const long MinPartSize = 5L << 20;

    /// <summary>The most parts one multipart upload has.</summary>
    public const int MaxParts = 10_000;

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
    private volatile bool _killed;
    private volatile S3Lease? _lease;

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
            return new StorageStat(StorageEntryKind.File, head.ContentLength, TimeOf(Key(path), head.Metadata, head.LastModified));
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

        var result = Wait(ct => ReadKeyAsync(Key(path), maxBytes, ct));
        if (result is { } read)
        {
            return read;
        }

        return IsFolder(path)
            ? new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch))
            : StorageReadResult.Missing;
    }

    /// <inheritdoc />
    public async Task<StorageReadResult> ReadAsync(string path, int maxBytes, CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        if (path.Length == 0)
        {
            return new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch));
        }

        if (await Retry(ct => ReadKeyAsync(Key(path), maxBytes, ct), cancellationToken).ConfigureAwait(false) is { } read)
        {
            return read;
        }

        var folder = await Retry(ct => _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = FolderPrefix(path), MaxKeys = 1 }, ct), cancellationToken)
            .ConfigureAwait(false);
        return folder.KeyCount is > 0
            ? new StorageReadResult(StorageReadStatus.NotAFile, [], new StorageStat(StorageEntryKind.Directory, 0, DateTimeOffset.UnixEpoch))
            : StorageReadResult.Missing;
    }

    /// <inheritdoc />
    /// <remarks>The object at the path (DeleteObject) and every object under it (listed flat, DeleteObjects in batches).</remarks>
    public void Delete(string path) => ForItem(path, () =>
    {
        DeleteCore(path);
        return true;
    });

    private void DeleteCore(string path)
    {
        StoragePaths.Validate(path);
        if (path.Length == 0)
        {
            throw new StorageRefusedException(Root, "the driver's root is never deleted whole");
        }

        BeforeWrite("delete", path);
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
    /// Moves each object on its own (DESIGN.md, "S3 storage: real runs"): HeadObject, CopyObject of exactly that version
    /// (<c>copy-source-if-match</c> its ETag) with the source's time kept in the copy's metadata (<see cref="ModifiedMetadata"/>,
    /// which <see cref="Stat"/> and <see cref="Read"/> report as the copy's time), then DeleteObject with <c>If-Match</c> that ETag:
    /// a source written after its copy stays where it is (its writer's copy wins), one written between the HEAD and the copy is
    /// looked at again. An object written by a multipart upload (ETag <c>…-N</c>, which Swift's s3api matches with no
    /// <c>If-Match</c>) is copied under <c>copy-source-if-unmodified-since</c> its Last-Modified instead, and looked at again just
    /// before an unconditional delete (a write in the same second, or between that look and the delete, is not seen). Not atomic as a whole: a crash leaves some objects at the source and some at the target, never one at
    /// neither. An object over <see cref="S3StorageOptions.MultipartCopyThreshold"/> (5 GiB, the most one CopyObject copies) is
    /// copied in parts instead (<see cref="CopyInPartsAsync"/>), each part under the same condition. The target is checked to be
    /// free first; a writer that creates it between the check and the copy is overwritten.
    /// </remarks>
    public StorageMoveOutcome Move(string from, string to) => ForItem(from, () => MoveCore(from, to));

    private StorageMoveOutcome MoveCore(string from, string to)
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

        if (Stat(to) is not null)
        {
            return StorageMoveOutcome.TargetExists;
        }

        var moved = 0;
        Block(async ct =>
        {
            await Parallel.ForEachAsync(sources, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (source, token) =>
            {
                if (await MoveObjectAsync(source.Path, to + source.Path[from.Length..], token).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref moved);
                }
            }).ConfigureAwait(false);
            return true;
        });
        return moved > 0 ? StorageMoveOutcome.Moved : StorageMoveOutcome.SourceMissing;
    }

    /// <summary>The user metadata a moved object keeps its source's time in (ISO 8601), reported as its own.</summary>
    public const string ModifiedMetadata = "harbor-gc-modified";

    /// <summary>Moves one object (see <see cref="Move"/>); false when it was gone before it could be copied.</summary>
    private async Task<bool> MoveObjectAsync(string from, string to, CancellationToken cancellationToken)
    {
        try
        {
            return await MoveObjectCoreAsync(from, to, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsServerOrClientFailure(e))
        {
            throw ItemFailure(from, e);
        }
    }

    private async Task<bool> MoveObjectCoreAsync(string from, string to, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            var head = await HeadAsync(Key(from), cancellationToken).ConfigureAwait(false);
            if (head is null)
            {
                return false;
            }

            var time = TimeOf(Key(from), head.Metadata, head.LastModified);

            // an object written by a multipart upload (ETag "…-N": the registry's blob data, moved in from an upload) is matched by
            // no If-Match on Swift's s3api; the registry never writes such an object twice (an upload whose blob exists skips the
            // move). Such an object is copied under copy-source-if-unmodified-since its Last-Modified instead, and looked at again
            // just before the delete (DESIGN.md, "S3 storage: real runs")
            var multipart = head.ETag is { } tag && tag.Contains('-', StringComparison.Ordinal);
            var etag = multipart ? null : head.ETag;
            var unmodifiedSince = multipart ? head.LastModified : null;
            var copy = new CopyObjectRequest
            {
                SourceBucket = _options.Bucket, SourceKey = Key(from), DestinationBucket = _options.Bucket, DestinationKey = Key(to),
                ETagToMatch = etag, UnmodifiedSinceDate = unmodifiedSince, MetadataDirective = S3MetadataDirective.REPLACE,
            };
            copy.Metadata[ModifiedMetadata] = time.ToString("O", CultureInfo.InvariantCulture);
            try
            {
                BeforeWrite("copy", from);
                if (head.ContentLength > _options.MultipartCopyThreshold)
                {
                    await CopyInPartsAsync(from, to, head.ContentLength, etag, unmodifiedSince, time, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await Retry(t => _client.CopyObjectAsync(copy, t), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                continue; // written since the HEAD: look again
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }

            try
            {
                BeforeWrite("delete", from);
                if (multipart && await HeadAsync(Key(from), cancellationToken).ConfigureAwait(false) is var again
                    && (again is null || again.ETag != head.ETag || again.LastModified != head.LastModified))
                {
                    return true; // written again after the copy (its writer's copy stays and wins, as a 412 says for others), or gone
                }

                await Retry(t => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = Key(from), IfMatch = etag }, t), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.NotFound)
            {
                // written again after the copy (its writer's copy stays and wins), or already gone
            }

            return true;
        }

        throw new IOException($"'{Describe(from)}' changed at every one of 5 tries to copy it out of the registry's sight");
    }

    /// <summary>
    /// Copies an object of <paramref name="size"/> bytes in parts, for one over what one CopyObject copies: CreateMultipartUpload of
    /// the target with the source's time in its metadata (as <see cref="Move"/>'s single copy keeps it), then UploadPartCopy of each
    /// byte range, one after another, each with <c>copy-source-if-match</c> <paramref name="etag"/> (or, for a source written by a
    /// multipart upload, <c>copy-source-if-unmodified-since</c> <paramref name="unmodifiedSince"/>), so a source written during the
    /// copy refuses the part that reads it, and the parts never mix two versions; then CompleteMultipartUpload. Any failure aborts
    /// the upload (nothing of the target appears) and is thrown: a 412 as a 412, which the caller takes as "written since the HEAD".
    /// </summary>
    private async Task CopyInPartsAsync(string from, string to, long size, string? etag, DateTime? unmodifiedSince, DateTimeOffset time, CancellationToken cancellationToken)
    {
        var partSize = Math.Max(_options.CopyPartSize, (size + MaxParts - 1) / MaxParts);
        var parts = (int)((size + partSize - 1) / partSize);
        var create = new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = Key(to) };
        create.Metadata[ModifiedMetadata] = time.ToString("O", CultureInfo.InvariantCulture);
        var upload = await Retry(t => _client.InitiateMultipartUploadAsync(create, t), cancellationToken).ConfigureAwait(false);
        try
        {
            var etags = new List<PartETag>(parts);
            for (var part = 1; part <= parts; part++)
            {
                var first = (part - 1) * partSize;
                var request = new CopyPartRequest
                {
                    SourceBucket = _options.Bucket, SourceKey = Key(from), DestinationBucket = _options.Bucket, DestinationKey = Key(to),
                    UploadId = upload.UploadId, PartNumber = part, FirstByte = first, LastByte = Math.Min(size, first + partSize) - 1, ETagToMatch = etag is null ? null : [etag],
                    UnmodifiedSinceDate = unmodifiedSince,
                };
                BeforeWrite(string.Create(CultureInfo.InvariantCulture, $"copy part {part}"), from);
                _lease?.ThrowIfLost(); // a copy of many parts takes long: one whose run lost its lease meanwhile stops, and the source stays
                var copied = await Retry(t => _client.CopyPartAsync(request, t), cancellationToken).ConfigureAwait(false);
                etags.Add(new PartETag(part, copied.ETag));
            }

            BeforeWrite("complete", to);
            _lease?.ThrowIfLost();
            try
            {
                await Retry(t => _client.CompleteMultipartUploadAsync(
                    new CompleteMultipartUploadRequest { BucketName = _options.Bucket, Key = Key(to), UploadId = upload.UploadId, PartETags = etags }, t), cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
            {
                // a completion whose answer was lost and that was sent again finds no upload: the copy is there whole
                if (await HeadAsync(Key(to), cancellationToken).ConfigureAwait(false) is not { } done || done.ContentLength != size
                    || done.Metadata[ModifiedMetadata] != create.Metadata[ModifiedMetadata])
                {
                    throw;
                }
            }
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
        {
            // aborted by someone else: another run took it for a killed run's leftover (DistributionRegistryStore's stale copies,
            // aborted only once unchanged for the time window). Not "the source is gone" (a 404 the caller takes so): the move fails,
            // and nothing of the source was deleted
            throw new IOException($"the copy of '{Describe(from)}' to '{Describe(to)}' in parts was aborted by someone else (a later run takes a multipart copy unchanged for its time window for a stopped run's leftover); nothing was deleted, the source stays", e);
        }
        catch
        {
            try
            {
                BeforeWrite("abort", to);
                await Retry(t => _client.AbortMultipartUploadAsync(
                    new AbortMultipartUploadRequest { BucketName = _options.Bucket, Key = Key(to), UploadId = upload.UploadId }, t), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AmazonServiceException or HttpRequestException or IOException or OperationCanceledException)
            {
                // left unfinished under the target's key (DESIGN.md, "S3 storage: real runs"); the copy's own error is the one to report
            }

            throw;
        }
    }

    private async Task<GetObjectMetadataResponse?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await Retry(t => _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = key }, t), cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The folder, below the root, whose copies keep their source's time (the quarantine is in it).</summary>
    public const string OwnFolder = "_harbor-gc";

    /// <summary>
    /// An object's time: in <see cref="OwnFolder"/>, the one a move kept in its metadata, else its Last-Modified. An object copied
    /// back out of it (a quarantined item put back) is dated by its Last-Modified, the time a flat listing shows for it, so a time a
    /// reader takes from a listing is the one a later Stat or Read of the same object gives.
    /// </summary>
    private DateTimeOffset TimeOf(string key, MetadataCollection metadata, DateTime? lastModified) =>
        key.StartsWith(KeyBelowRoot(OwnFolder) + "/", StringComparison.Ordinal) &&
        metadata[ModifiedMetadata] is { Length: > 0 } kept &&
        DateTimeOffset.TryParseExact(kept, "O", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time.ToUniversalTime()
            : ToTime(lastModified);

    /// <inheritdoc />
    /// <remarks>
    /// A lease (DESIGN.md, "S3 storage: real runs"): a claim object <c>PATH/_harbor-gc/lease/SECONDS-ID</c>, written, then every claim
    /// listed; expired claims (Last-Modified plus their lease and a second, the servers' time granularity, no later than this
    /// claim's) are deleted, and any other claim refuses the lock
    /// (null, with <see cref="LockRefusal"/> saying whose it is). The holder rewrites its claim every quarter of
    /// <see cref="S3StorageOptions.LeaseDuration"/>; see <see cref="IStorageLease.ThrowIfLost"/>.
    /// </remarks>
    public IDisposable? TryLock(string path)
    {
        StoragePaths.Validate(path);
        var lease = _options.LeaseDuration;
        var folder = (path.Length == 0 ? string.Empty : path + "/") + "_harbor-gc/lease";
        var seconds = (long)Math.Ceiling(lease.TotalSeconds);
        var mine = $"{folder}/{seconds.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}";
        var body = string.Create(CultureInfo.InvariantCulture, $"harbor-gc real run on {Environment.MachineName}, process {Environment.ProcessId}, lease {seconds} s\n");
        var started = _options.TimeProvider.GetTimestamp();
        PutText(mine, body);
        var claims = Block(ct => ListAllAsync(folder, ct));
        if (claims.FirstOrDefault(c => c.Path == mine) is not { Path: not null } own || own.Path is null)
        {
            Delete(mine);
            throw new IOException($"'{Describe(mine)}' was written but is not listed: the server does not list what was just written, and harbor-gc cannot keep two real runs apart on it");
        }

        foreach (var claim in claims.Where(c => c.Path != mine))
        {
            var name = claim.Path[(folder.Length + 1)..];
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            var ends = dash > 0 && long.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var theirs)
                ? claim.ModifiedAt + TimeSpan.FromSeconds(theirs)
                : DateTimeOffset.MaxValue; // not a claim this project wrote: never taken for expired
            // times are whole seconds, rounded up (Swift's s3api; AWS's are finer): a second more makes sure a full lease has passed
            if (ends + TimeSpan.FromSeconds(1) <= own.ModifiedAt)
            {
                DeleteClaim(claim.Path, claim.ETag);
                continue;
            }

            Delete(mine);
            LockRefusal = $"another harbor-gc real run holds the lease '{Describe(claim.Path)}' until {ends:u} (server time; renewed while it runs)";
            return null;
        }

        LockRefusal = null;
        return _lease = new S3Lease(this, mine, body, lease, started);
    }

    /// <summary>Why the last <see cref="TryLock"/> returned null: whose lease it met, and when that lease ends.</summary>
    public string? LockRefusal { get; private set; }

    private void PutText(string path, string text)
    {
        BeforeWrite("put", path);
        Wait(ct => _client.PutObjectAsync(new PutObjectRequest { BucketName = _options.Bucket, Key = Key(path), ContentBody = text, UseChunkEncoding = false }, ct));
    }

    private void DeleteClaim(string path, string? etag)
    {
        try
        {
            BeforeWrite("delete", path);
            Wait(ct => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = Key(path), IfMatch = etag }, ct));
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.NotFound)
        {
            // renewed since it was listed, or gone: either way not this run's to delete
        }
    }

    /// <summary>A held lease: renewed on a timer until disposed, which deletes its claim.</summary>
    private sealed class S3Lease : IStorageLease
    {
        private readonly S3StorageDriver _driver;
        private readonly string _path;
        private readonly string _body;
        private readonly TimeSpan _lease;
        private readonly ITimer _timer;
        private readonly Lock _gate = new();
        private long _validUntil;
        private bool _disposed;

        public S3Lease(S3StorageDriver driver, string path, string body, TimeSpan lease, long started)
        {
            (_driver, _path, _body, _lease) = (driver, path, body, lease);
            _validUntil = started + (long)((lease - Margin(lease)).TotalSeconds * driver._options.TimeProvider.TimestampFrequency);
            var period = lease / 4;
            _timer = driver._options.TimeProvider.CreateTimer(_ => Renew(), null, period, period);
        }

        private static TimeSpan Margin(TimeSpan lease) => lease / 10;

        public void ThrowIfLost()
        {
            lock (_gate)
            {
                if (_driver._options.TimeProvider.GetTimestamp() > _validUntil)
                {
                    throw new IOException($"the lease '{_driver.Describe(_path)}' could not be renewed in time, so another run may hold the bucket now; this run stops deleting");
                }
            }
        }

        private void Renew()
        {
            var started = _driver._options.TimeProvider.GetTimestamp();
            lock (_gate)
            {
                if (_disposed || started > _validUntil)
                {
                    return; // lost: a renewal now could overlap a run that took over
                }
            }

            try
            {
                _driver.PutText(_path, _body);
            }
            catch (Exception e) when (e is AmazonServiceException or AmazonClientException or IOException or HttpRequestException)
            {
                return; // tried again at the next tick, while the lease lasts
            }

            lock (_gate)
            {
                _validUntil = Math.Max(_validUntil, started + (long)((_lease - Margin(_lease)).TotalSeconds * _driver._options.TimeProvider.TimestampFrequency));
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
            }

            _timer.Dispose();
            Interlocked.CompareExchange(ref _driver._lease, null, this);
            try
            {
                _driver.Delete(_path);
            }
            catch (Exception e) when (e is AmazonServiceException or AmazonClientException or IOException or HttpRequestException)
            {
                // the claim expires by itself
            }
        }
    }

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
    public async Task<IReadOnlyList<StorageObject>> ListRangesAsync(IReadOnlyList<StorageKeyRange> ranges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var found = new List<StorageObject>[ranges.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, ranges.Count), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (index, token) =>
        {
            var range = ranges[index];
            var list = new List<StorageObject>();
            await foreach (var entry in ListKeysAsync(KeyBelowRoot(range.Prefix), token, markers: true,
                               startAfter: range.After is { } after ? KeyBelowRoot(after) : null, last: range.Last is { } last ? KeyBelowRoot(last) : null).ConfigureAwait(false))
            {
                list.Add(entry);
            }

            found[index] = list;
        }).ConfigureAwait(false);
        return found.SelectMany(l => l).ToList();
    }

    /// <inheritdoc />
    public async Task<(IReadOnlyList<StorageObject> Objects, bool Truncated)> ListFirstPageAsync(string prefix, int maxKeys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxKeys, MaxKeysPerRequest);
        var key = KeyBelowRoot(prefix);
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = key, MaxKeys = maxKeys };
        var page = await Retry(ct => _client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
        var objects = new List<StorageObject>();
        foreach (var item in (page.S3Objects ?? []).Take(maxKeys))
        {
            var below = _prefix.Length == 0 ? item.Key : item.Key[(_prefix.Length + 1)..];
            objects.Add(new StorageObject(below, item.Size ?? 0, ToTime(item.LastModified), IsPath(below), item.ETag));
        }

        return (objects, page.IsTruncated == true || (page.S3Objects?.Count ?? 0) > maxKeys);
    }

    /// <inheritdoc />
    public async Task<(IReadOnlyList<string> Folders, IReadOnlyList<StorageObject> Objects)> ListFolderAsync(string path, CancellationToken cancellationToken = default)
    {
        StoragePaths.Validate(path);
        var folder = FolderPrefix(path);
        var folders = new List<string>();
        var objects = new List<StorageObject>();
        string? token = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = folder, Delimiter = "/", ContinuationToken = token, MaxKeys = MaxKeysPerRequest };
            var page = await Retry(ct => _client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
            folders.AddRange((page.CommonPrefixes ?? []).Select(common => common[folder.Length..^1]));
            foreach (var item in page.S3Objects ?? [])
            {
                var below = PathOf(item.Key);
                objects.Add(new StorageObject(below, item.Size ?? 0, ToTime(item.LastModified), IsPath(below), item.ETag));
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return (folders, objects);
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
    public IReadOnlyList<StorageMultipartUpload> ListMultipartUploads(string path)
    {
        var folder = path.EndsWith('/');
        StoragePaths.Validate(folder ? path[..^1] : path);
        var prefix = folder ? FolderPrefix(path[..^1]) : Key(path);
        var found = new List<StorageMultipartUpload>();
        string? keyMarker = null, idMarker = null;
        do
        {
            var page = Wait(ct => _client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _options.Bucket, Prefix = prefix, KeyMarker = keyMarker, UploadIdMarker = idMarker }, ct));
            foreach (var upload in page.MultipartUploads ?? [])
            {
                var below = PathOf(upload.Key);
                if (IsPath(below))
                {
                    found.Add(new StorageMultipartUpload(below, upload.UploadId, ToTime(upload.Initiated)));
                }
            }

            (keyMarker, idMarker) = page.IsTruncated == true ? (page.NextKeyMarker, page.NextUploadIdMarker) : (null, null);
        }
        while (keyMarker is not null);
        return found;
    }

    /// <inheritdoc />
    public (long Size, DateTimeOffset LastWrittenAt) ReadMultipartUpload(StorageMultipartUpload upload)
    {
        var size = 0L;
        var last = upload.InitiatedAt;
        int? marker = null;
        while (true)
        {
            ListPartsResponse page;
            try
            {
                page = Wait(ct => _client.ListPartsAsync(new ListPartsRequest { BucketName = _options.Bucket, Key = Key(upload.Path), UploadId = upload.UploadId, PartNumberMarker = marker?.ToString(CultureInfo.InvariantCulture) }, ct));
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return (size, last); // completed or aborted meanwhile
            }

            foreach (var part in page.Parts ?? [])
            {
                size += part.Size ?? 0;
                if (ToTime(part.LastModified) > last)
                {
                    last = ToTime(part.LastModified);
                }
            }

            if (page.IsTruncated != true || page.NextPartNumberMarker is not { } next)
            {
                return (size, last);
            }

            marker = next;
        }
    }

    /// <inheritdoc />
    public void AbortMultipartUpload(StorageMultipartUpload upload) => ForItem(upload.Path, () =>
    {
        BeforeWrite("abort", upload.Path);
        try
        {
            Wait(ct => _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _options.Bucket, Key = Key(upload.Path), UploadId = upload.UploadId }, ct));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // completed or aborted meanwhile
        }

        return true;
    });

    /// <summary>
    /// Runs a change the sweep makes for one item (a move, a delete, an abort). What the server refuses (a 403 of a bucket policy, a
    /// 4xx the driver does not handle) and what still fails after the retries (a 5xx, a lost connection) becomes an
    /// <see cref="IOException"/> naming the object, as a file system's refusal is one: that item fails, is reported and left for the
    /// next run, and the run goes on with the others, where the SDK's own exception used to end the whole run without a report.
    /// </summary>
    private T ForItem<T>(string path, Func<T> change)
    {
        try
        {
            return change();
        }
        catch (Exception e) when (IsServerOrClientFailure(e))
        {
            throw ItemFailure(path, e);
        }
    }

    /// <summary>
    /// A failure of the request itself: the server's answer, or the client's (a connection, or the SDK's timeout, which surfaces as a
    /// <see cref="TaskCanceledException"/>: an item's changes run without a caller's token, so no cancel reaches them as one).
    /// </summary>
    private static bool IsServerOrClientFailure(Exception e) => e is AmazonServiceException or AmazonClientException or HttpRequestException or TaskCanceledException;

    private IOException ItemFailure(string path, Exception e) => new(e is AmazonServiceException service
        ? string.Create(CultureInfo.InvariantCulture, $"the S3 server refused a change to '{Describe(path)}': {service.ErrorCode} (HTTP {(int)service.StatusCode}): {service.Message}")
        : $"a change to '{Describe(path)}' failed: {e.Message}", e);

    /// <summary>Calls the test hook before a request that changes the bucket; once it says stop, every later request fails (a kill).</summary>
    private void BeforeWrite(string what, string path)
    {
        ThrowIfKilled();
        if (_options.BeforeWrite is { } hook && !hook($"{what} {path}"))
        {
            _killed = true;
            ThrowIfKilled();
        }
    }

    private void ThrowIfKilled()
    {
        if (_killed)
        {
            throw new IOException("the S3 driver was stopped by its test hook (a simulated kill): no request reaches the server any more");
        }
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
            BeforeWrite("delete", PathOf(batch[0]));
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

    /// <summary>
    /// The keys under <paramref name="prefix"/>, page by page; with <paramref name="startAfter"/> from the first key after it, and
    /// with <paramref name="last"/> up to and including it (the page that passes it is the range's last request). Folder markers
    /// only with <paramref name="markers"/>.
    /// </summary>
    private async IAsyncEnumerable<StorageObject> ListKeysAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken,
        bool markers = false, string? startAfter = null, string? last = null)
    {
        string? token = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, ContinuationToken = token, MaxKeys = MaxKeysPerRequest };
            if (token is null && startAfter is not null)
            {
                request.StartAfter = startAfter;
            }

            var page = await Retry(ct => _client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
            foreach (var item in page.S3Objects ?? [])
            {
                if (last is not null && StoragePaths.CompareKeys(item.Key, last) > 0)
                {
                    yield break; // the next range's
                }

                if (!markers && item.Key.EndsWith('/') && item.Size is null or 0)
                {
                    continue; // a "folder/" marker
                }

                var below = _prefix.Length == 0 ? item.Key : item.Key[(_prefix.Length + 1)..];
                yield return new StorageObject(below, item.Size ?? 0, ToTime(item.LastModified), IsPath(below), item.ETag);
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    private async Task<StorageReadResult?> ReadKeyAsync(string key, int maxBytes, CancellationToken cancellationToken)
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
            var stat = new StorageStat(StorageEntryKind.File, head.ContentLength, TimeOf(key, head.Metadata, head.LastModified));
            return head.ContentLength == 0 ? new StorageReadResult(StorageReadStatus.Read, [], stat) : new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
        }

        using (response)
        {
            var size = TotalSize(response);
            var stat = new StorageStat(StorageEntryKind.File, size, TimeOf(key, response.Metadata, response.LastModified));
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

    /// <summary>
    /// Runs an SDK call, trying again after throttling, a 5xx answer or a broken connection, with exponential backoff and jitter; each
    /// try is counted in <see cref="Requests"/>. The embedded stores' S3 blob store sends its requests through it too.
    /// </summary>
    /// <param name="call">The SDK call.</param>
    /// <param name="cancellationToken">Stops the call and the waits.</param>
    /// <param name="maxAttempts">Fewer tries than <see cref="S3StorageOptions.MaxAttempts"/> (a probe that should fail fast); all of them when null.</param>
    internal async Task<T> Retry<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken, int? maxAttempts = null)
    {
        var attempts = Math.Min(maxAttempts ?? _options.MaxAttempts, _options.MaxAttempts);
        for (var attempt = 1; ; attempt++)
        {
            ThrowIfKilled();
            Interlocked.Increment(ref _requests);
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < attempts && IsTransient(e, cancellationToken))
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
                case AmazonServiceException { StatusCode: HttpStatusCode.NotImplemented }:
                    return false; // a request this server does not do: asking again changes nothing
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

    /// <summary>The SDK client (for the S3 blob store, which sends its own requests through <see cref="Retry"/>).</summary>
    internal IAmazonS3 Client => _client;

    /// <summary>The bucket.</summary>
    internal string Bucket => _options.Bucket;

    /// <summary>Calls the test hook (<see cref="S3StorageOptions.BeforeWrite"/>) before a request that changes the bucket; throws once it said stop.</summary>
    internal void BeforeWriteOf(string what, string path) => BeforeWrite(what, path);

    /// <summary>The key of a driver path.</summary>
    internal string Key(string path) => _prefix.Length == 0 ? path : path.Length == 0 ? _prefix : _prefix + "/" + path;

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
