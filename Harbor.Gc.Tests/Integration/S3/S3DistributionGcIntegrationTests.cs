namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// <see cref="DistributionGcIntegrationTests"/> with the registry storing into a bucket (issue 17): harbor-gc's real run on
/// <c>distribution:s3://</c> over issue 3's pushes deletes exactly their garbage; the restarted registry serves every live manifest
/// and blob (each hashing to its digest) and none of the garbage; a run with the default window changes no object.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3DistributionGcIntegrationTests : DistributionGcIntegrationTests
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    private protected override Task<List<string>> TreeAsync() => S3Registry.ObjectsAsync(Registry);
}
