using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Blobs;

/// <summary>
/// Where an embedded store (LiteDB, PostgreSQL) keeps its blob bytes in S3 instead of a folder: the bucket, a key prefix, and the
/// server. Credentials are never here: the AWS SDK's standard chain finds them (<c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c>,
/// <c>AWS_PROFILE</c> and the shared files, web identity, container and instance roles).
/// </summary>
public sealed class S3BlobStoreOptions
{
    /// <summary>The smallest part a multipart upload takes (S3's rule for every part but the last).</summary>
    internal const int MinPartSize = 5 << 20;

    /// <summary>The bucket. It must exist.</summary>
    public required string Bucket { get; init; }

    /// <summary>
    /// The key prefix the blobs are under (<c>PREFIX/sha256/ab/&lt;hex&gt;</c>; no leading or trailing <c>/</c>); the whole bucket when
    /// empty. The prefix belongs to one store: it holds the store's id (<c>PREFIX/.harbor-gc-store</c>), and any other store is refused.
    /// </summary>
    public string Prefix { get; init; } = string.Empty;

    /// <summary>An S3-compatible server's address (<c>http://127.0.0.1:9000</c>), addressed path-style; AWS's own endpoint for <see cref="Region"/> when null.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The region requests are signed for; <c>us-east-1</c> when null.</summary>
    public string? Region { get; init; }

    /// <summary>
    /// The size of a multipart upload's parts: a blob up to this size is sent in one PutObject, a larger one in parts of this size
    /// (each held in memory while it is sent). 8 MiB by default; 5 MiB to 1 GiB (with S3's 10,000 parts, 8 MiB parts take blobs up to 78 GiB).
    /// </summary>
    public int PartSize { get; init; } = 8 << 20;

    /// <summary>How many times a request is tried before its error is given up (throttling, 5xx, a broken connection). 8 by default.</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>For tests: called with <c>"WHAT PATH"</c> before each request that changes the bucket; false stops the store there, as a kill would.</summary>
    internal Func<string, bool>? BeforeWrite { get; init; }

    /// <summary><c>s3://BUCKET/PREFIX</c>.</summary>
    /// <returns>The address, without the endpoint.</returns>
    public override string ToString() => Prefix.Length == 0 ? $"s3://{Bucket}" : $"s3://{Bucket}/{Prefix}";

    /// <summary>The driver options these give (the retries, the client, the request counting are the S3 storage driver's).</summary>
    internal S3StorageOptions ToDriverOptions(TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PartSize, MinPartSize, nameof(PartSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PartSize, 1 << 30, nameof(PartSize));
        var options = new S3StorageOptions
        {
            Bucket = Bucket,
            RootPrefix = Prefix,
            Endpoint = Endpoint,
            Region = Region,
            MaxAttempts = MaxAttempts,
            BeforeWrite = BeforeWrite,
            TimeProvider = time,
        };
        options.Validate();
        return options;
    }
}
