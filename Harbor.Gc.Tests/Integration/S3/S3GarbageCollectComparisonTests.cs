namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// <see cref="GarbageCollectComparisonTests"/> with the registry storing into a bucket (issue 17): Distribution's own dry run and
/// ours, each over the bucket, pick the same blobs and manifests (moved tags, untagged pushes, cross-repository mounts, orphans).
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3GarbageCollectComparisonTests : GarbageCollectComparisonTests
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();
}
