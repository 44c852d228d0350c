using Harbor.Gc.Collection;
using Harbor.Gc.DependencyInjection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// <c>services.AddHarborGc(...)</c> with the LiteDB store's blob bytes in a bucket (issue 17), configured as an embedding registry
/// configures it (<c>HarborGc:Store:S3Blobs:*</c>), on the real Swift s3api server; and bad S3 settings refused at start by key.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3EmbeddedBlobsServiceTests
{
    private StoreFactory _folders = null!;

    [SetUp]
    public void SetUp() => _folders = new StoreFactory(StoreKind.LiteDb);

    [TearDown]
    public void TearDown() => _folders.Dispose();

    [Test]
    public async Task GivenAnS3BlobsSection_WhenTheContainerIsBuilt_ThenPushedBytesAreObjectsInTheBucket_AndAGcRunDeletesTheGarbageOnes()
    {
        // given a configuration naming a LiteDB file and a bucket for its blobs
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("di");
        var services = new ServiceCollection();
        services.AddHarborGc(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HarborGc:Store:Kind"] = "LiteDb",
            ["HarborGc:Store:Path"] = Path.Combine(_folders.NewFolder(), "meta.db"),
            ["HarborGc:Store:Connection"] = "Direct",
            ["HarborGc:Store:S3Blobs:Bucket"] = bucket,
            ["HarborGc:Store:S3Blobs:Prefix"] = "registry/blobs",
            ["HarborGc:Store:S3Blobs:Endpoint"] = server.Endpoint.ToString(),
            ["HarborGc:Store:S3Blobs:Region"] = S3Server.Region,
        }).Build());
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        // when an image and a stray blob are pushed through the registry API, and a real run collects
        var api = provider.GetRequiredService<RegistryApi>();
        var layer = await Push(api, "layer");
        var config = await Push(api, "{}");
        var stray = await Push(api, "stray");
        var manifest = Image(config, [layer]);
        await api.PushManifestAsync(RepositoryName.Parse("library/app"), "v1", manifest, MediaTypes.OciManifest);
        var result = await provider.GetRequiredService<GarbageCollector>().RunAsync(new GcOptions { TimeWindow = TimeSpan.Zero });

        // then the store is the LiteDB one over the bucket, the stray blob's object is gone, and the image's are there
        provider.GetRequiredService<IRegistryStore>().Should().BeOfType<LiteDbRegistryStore>().Which.BlobsPath.Should().Be($"s3://{bucket}/registry/blobs");
        result.BlobsDeleted.Should().Be(1);
        var keys = await server.KeysAsync(bucket);
        keys.Should().Contain(Key(layer)).And.Contain(Key(config)).And.Contain(Key(Digest.Sha256Of(manifest))).And.NotContain(Key(stray));
    }

    [Test]
    public async Task GivenBadS3BlobsValues_WhenTheStoreIsResolved_ThenEachIsListedByItsKey_WithoutTheCredential()
    {
        var services = new ServiceCollection();
        services.AddHarborGc(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HarborGc:Store:Kind"] = "LiteDb",
            ["HarborGc:Store:Path"] = Path.Combine(_folders.NewFolder(), "meta.db"),
            ["HarborGc:Store:BlobsPath"] = "/srv/blobs",
            ["HarborGc:Store:S3Blobs:Bucket"] = "Bad_Bucket",
            ["HarborGc:Store:S3Blobs:Endpoint"] = "http://AKIAEXAMPLE:s3cret-key@127.0.0.1:9000",
            ["HarborGc:Store:S3Blobs:Region"] = "Mars",
        }).Build());
        await using var provider = services.BuildServiceProvider();

        var resolve = () => provider.GetRequiredService<IRegistryStore>();

        var failures = resolve.Should().Throw<OptionsValidationException>().Which.Failures.ToList();
        failures.Should().Contain(f => f.StartsWith("HarborGc:Store:BlobsPath: give the blob folder or HarborGc:Store:S3Blobs, not both", StringComparison.Ordinal))
            .And.Contain(f => f.StartsWith("HarborGc:Store:S3Blobs:Bucket: 'Bad_Bucket' is not a bucket name", StringComparison.Ordinal))
            .And.Contain(f => f.StartsWith("HarborGc:Store:S3Blobs:Endpoint: credentials never go in the address", StringComparison.Ordinal))
            .And.Contain(f => f.StartsWith("HarborGc:Store:S3Blobs:Region: 'Mars' is not a region name", StringComparison.Ordinal));
        string.Join("\n", failures).Should().NotContain("s3cret-key");
    }

    private static string Key(Digest digest) => $"registry/blobs/sha256/{digest.Hex[..2]}/{digest.Hex}";

    private static async Task<Digest> Push(RegistryApi api, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var digest = Digest.Sha256Of(bytes);
        await api.PushBlobAsync(digest, new MemoryStream(bytes));
        return digest;
    }
}
