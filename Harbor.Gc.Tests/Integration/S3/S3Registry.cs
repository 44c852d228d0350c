using System.Globalization;
using Amazon.S3.Model;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The real registry (Debian's <c>docker-registry</c> 2.8.2) storing through its <c>s3</c> driver into a bucket of its own on the
/// test run's S3 server (<see cref="S3Server.Shared"/>), under the <c>rootdirectory</c> <see cref="RootDirectory"/>: what the S3
/// fixtures of the registry integration tests make in place of a registry on a folder (issue 17).
/// </summary>
internal static class S3Registry
{
    /// <summary>The registry's <c>rootdirectory</c> in its bucket.</summary>
    public const string RootDirectory = "reg";

    /// <summary>
    /// A registry (not started) over a new bucket of the run's S3 server, reaching the server at <paramref name="endpoint"/> when
    /// given (a proxy in front of it), else directly.
    /// </summary>
    public static async Task<DistributionRegistryProcess> CreateAsync(Uri? endpoint = null)
    {
        var binary = RegistryBinary.Require();
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("reg");
        return new DistributionRegistryProcess(binary, TimeProvider.System, s3: new S3RegistryStorage(endpoint ?? server.Endpoint, bucket, RootDirectory, S3Server.AccessKey, server.Secret, S3Server.Region));
    }

    /// <summary>harbor-gc's <c>--store</c> address for the registry's bucket.</summary>
    public static string StoreSpec(DistributionRegistryProcess registry)
    {
        var s3 = registry.S3 ?? throw new InvalidOperationException("the registry does not store into a bucket");
        return $"distribution:s3://{s3.Bucket}/{s3.RootDirectory}?endpoint={s3.Endpoint}&region={s3.Region}";
    }

    /// <summary>
    /// The clock harbor-gc runs on against the bucket: two seconds ahead, since the server dates an object by the next whole second
    /// after its write (Swift's Last-Modified is rounded up), and a run with no time window must see what was just pushed as past.
    /// </summary>
    public static TimeProvider Clock { get; } = new AheadTimeProvider(TimeSpan.FromSeconds(2));

    /// <summary>Every object in the registry's bucket with its size and ETag (the bucket's state, for a before/after comparison).</summary>
    public static Task<List<string>> ObjectsAsync(DistributionRegistryProcess registry) =>
        S3Server.Shared.ObjectsAsync((registry.S3 ?? throw new InvalidOperationException("the registry does not store into a bucket")).Bucket);

    /// <summary>The unfinished multipart uploads in the registry's bucket (key and id).</summary>
    public static async Task<List<(string Key, string UploadId, DateTime Initiated)>> MultipartUploadsAsync(DistributionRegistryProcess registry)
    {
        var s3 = registry.S3 ?? throw new InvalidOperationException("the registry does not store into a bucket");
        using var client = S3Server.Shared.CreateClient();
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = s3.Bucket });
        return [.. (uploads.MultipartUploads ?? []).Select(u => (u.Key, u.UploadId, u.Initiated ?? default))];
    }

    /// <summary>
    /// Whether anything of the registry's upload <paramref name="id"/> of <paramref name="repository"/> is left in its bucket: an
    /// object under the upload's prefix (its <c>startedat</c>, hash states) or an unfinished multipart upload of its data.
    /// </summary>
    public static async Task<bool> UploadLeftAsync(DistributionRegistryProcess registry, string repository, string id)
    {
        var s3 = registry.S3 ?? throw new InvalidOperationException("the registry does not store into a bucket");
        var prefix = $"{s3.RootDirectory}/docker/registry/v2/repositories/{repository}/_uploads/{id}/";
        using var client = S3Server.Shared.CreateClient();
        var objects = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = s3.Bucket, Prefix = prefix, MaxKeys = 1 });
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = s3.Bucket, Prefix = prefix });
        return (objects.S3Objects?.Count ?? 0) > 0 || (uploads.MultipartUploads?.Count ?? 0) > 0;
    }

    /// <summary>The system clock, <paramref name="ahead"/> in the future (its timers are the system's).</summary>
    private sealed class AheadTimeProvider(TimeSpan ahead) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + ahead;
    }
}
