namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// <see cref="DistributionMountIntegrationTests"/> with the registry storing into a bucket (issue 17): a blob the registry mounts
/// into a repository after the plan (a layer link written into the bucket) is kept by the sweep's re-check, and a manifest pushed
/// with it afterwards pulls whole from the restarted registry. The mount comes more than a second after the push: the server dates
/// objects to the second, and a link written again with the same bytes in the same second as the first is the same object to
/// anyone listing the bucket (same ETag, same Last-Modified), so no re-check can see it; what keeps a push safe then is the
/// quarantine's grace period (<see cref="S3GracePeriodPushTests"/>): the manifest push needing the moved blob is refused, and the
/// client uploads it again.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3DistributionMountIntegrationTests : DistributionMountIntegrationTests
{
    private protected override TimeSpan PushTimeResolution => TimeSpan.FromSeconds(1.1);

    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();
}

/// <summary>
/// <see cref="DistributionUploadIntegrationTests"/> with the registry storing into a bucket (issue 17): the uploads the registry
/// left in the bucket (its <c>startedat</c> object and the multipart upload of its data) are read as the registry wrote them, a
/// real run removes the abandoned one (objects and multipart upload), and an upload resumed after the plan still completes.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3DistributionUploadIntegrationTests : DistributionUploadIntegrationTests
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    private protected override Task<bool> UploadLeftAsync(string repository, string id) => S3Registry.UploadLeftAsync(Registry, repository, id);
}

/// <summary>
/// <see cref="RetentionIntegrationTests"/> with the registry storing into a bucket (issue 17): <c>harbor-gc retention run</c> on
/// <c>distribution:s3://</c> deletes v1 with its accessories, and the next GC frees exactly their blobs. The pushes are more than
/// a second apart, since the server dates objects to the second and latest-pushed-K orders by those dates.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3RetentionIntegrationTests : RetentionIntegrationTests
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override TimeSpan PushTimeResolution => TimeSpan.FromSeconds(1.1);

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();
}
