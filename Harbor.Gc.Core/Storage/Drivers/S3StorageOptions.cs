namespace Harbor.Gc.Storage.Drivers;

/// <summary>Where and how <see cref="S3StorageDriver"/> reaches a bucket. Credentials are not here: the SDK's standard chain finds them.</summary>
internal sealed class S3StorageOptions
{
    /// <summary>The bucket.</summary>
    public required string Bucket { get; init; }

    /// <summary>The key prefix the driver's root is (no leading or trailing <c>/</c>; a driver path); the whole bucket when empty.</summary>
    public string RootPrefix { get; init; } = string.Empty;

    /// <summary>An S3-compatible server's address (<c>http://127.0.0.1:9000</c>), addressed path-style; AWS's own endpoint for <see cref="Region"/> when null.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The region requests are signed for; <c>us-east-1</c> when null.</summary>
    public string? Region { get; init; }

    /// <summary>How many listing or deleting requests run at once.</summary>
    /// <value>16 by default; 1 to 256.</value>
    public int Parallelism { get; init; } = 16;

    /// <summary>How many times a request is tried before its error is given up to the caller (throttling, 5xx, a broken connection).</summary>
    /// <value>8 by default; 1 tries once.</value>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>The first retry's delay; each retry doubles it up to <see cref="MaxRetryDelay"/>, and waits a random part of it (jitter).</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two tries.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a real run's lease on the bucket lasts without a renewal (a killed run's claim blocks others that long).</summary>
    /// <value>60 s by default; 1 s to 1 h (the command line takes 3 s at least).</value>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// For tests: called with <c>"WHAT PATH"</c> before each request that changes the bucket; false stops the driver there, as a kill
    /// would (that request and every later one fail without reaching the server).
    /// </summary>
    internal Func<string, bool>? BeforeWrite { get; init; }

    /// <summary>
    /// The size above which a move copies an object in parts (CreateMultipartUpload, UploadPartCopy, CompleteMultipartUpload) instead
    /// of with one CopyObject, which S3 refuses above 5 GiB. Internal so that a test can move a small object in parts.
    /// </summary>
    /// <value><see cref="S3StorageDriver.MaxCopySize"/> (5 GiB) by default; at most that.</value>
    internal long MultipartCopyThreshold { get; init; } = S3StorageDriver.MaxCopySize;

    /// <summary>The size of each part of a copy in parts (the last may be smaller), raised when the object would need more than 10,000.</summary>
    /// <value>512 MiB by default; 5 MiB (S3's smallest part but the last) to 5 GiB.</value>
    internal long CopyPartSize { get; init; } = 512L << 20;

    /// <summary>
    /// A local folder of manifest bytes a Distribution store's snapshot uses instead of a GET per manifest (<c>cache=DIR</c>;
    /// <see cref="Distribution.ManifestCache"/>); none when null. Not used by the driver itself.
    /// </summary>
    public string? ManifestCacheFolder { get; init; }

    /// <summary>The clock the retries wait on, and the lease's.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>For tests: the HTTP client the SDK sends through (a handler that answers some requests itself, as a throttling server would).</summary>
    internal Amazon.Runtime.HttpClientFactory? HttpClientFactory { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Bucket, nameof(Bucket));
        StoragePaths.Validate(RootPrefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(Parallelism, 1, nameof(Parallelism));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Parallelism, 256, nameof(Parallelism));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(FirstRetryDelay, TimeSpan.Zero, nameof(FirstRetryDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetryDelay, FirstRetryDelay, nameof(MaxRetryDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(LeaseDuration, TimeSpan.FromSeconds(1), nameof(LeaseDuration));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LeaseDuration, TimeSpan.FromHours(1), nameof(LeaseDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MultipartCopyThreshold, 0, nameof(MultipartCopyThreshold));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MultipartCopyThreshold, S3StorageDriver.MaxCopySize, nameof(MultipartCopyThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThan(CopyPartSize, S3StorageDriver.MinPartSize, nameof(CopyPartSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(CopyPartSize, S3StorageDriver.MaxCopySize, nameof(CopyPartSize));
    }
}
