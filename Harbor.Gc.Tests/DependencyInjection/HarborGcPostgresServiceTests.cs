using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.DependencyInjection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.DependencyInjection;

/// <summary><c>services.AddHarborGc(...)</c> with the <c>postgres:</c> store, configured as an embedding registry configures it.</summary>
[NonParallelizable] // a database cluster
public class HarborGcPostgresServiceTests
{
    private StoreFactory _folders = null!;
    private readonly List<IDisposable> _databases = [];

    [SetUp]
    public void SetUp() => _folders = new StoreFactory(StoreKind.Postgres);

    [TearDown]
    public void TearDown()
    {
        _folders.Dispose();
        foreach (var database in _databases)
        {
            database.Dispose();
        }
    }

    [Test]
    public async Task GivenAPostgresSection_WhenTheContainerIsBuilt_ThenTheRegistryApiPushesIntoIt_AndTheCollectorReadsIt()
    {
        // given an empty database, and a configuration naming it with a blob folder that does not exist yet
        var name = PostgresTestDatabases.NewEmptyDatabase();
        _databases.Add(new PostgresTestDatabases.Database(name));
        var blobs = Path.Combine(_folders.NewFolder(), "blobs");
        var services = new ServiceCollection();
        services.AddHarborGc(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HarborGc:Store:Kind"] = "Postgres",
            ["HarborGc:Store:ConnectionString"] = PostgresTestDatabases.ConnectionString(name),
            ["HarborGc:Store:BlobsPath"] = blobs,
        }).Build());
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        // when an image is pushed through the registry API and a dry run plans
        var store = provider.GetRequiredService<IRegistryStore>();
        var api = provider.GetRequiredService<RegistryApi>();
        var layer = await Push(api, "layer");
        var config = await Push(api, "{}");
        var image = await api.PushManifestAsync(RepositoryName.Parse("library/app"), "v1", Image(config, [layer]), MediaTypes.OciManifest);
        var result = await provider.GetRequiredService<GarbageCollector>().RunAsync(new GcOptions { DryRun = true, DeleteUntagged = true });

        // then the store is the postgres one (created: CreateIfMissing is on by default), it holds the image, and nothing of it is garbage
        store.Should().BeOfType<PostgresRegistryStore>();
        provider.GetRequiredService<IWritableRegistryStore>().Should().BeSameAs(store);
        store.Description.Should().StartWith("postgres:postgresql://harbor@127.0.0.1:").And.EndWith($"/{name}?blobs={blobs}").And.NotContain(PostgresTestDatabases.Cluster.Password);
        (await ((IWritableRegistryStore)store).GetArtifactAsync(image.Key)).Should().NotBeNull();
        File.Exists(Path.Combine(blobs, "sha256", layer.Hex[..2], layer.Hex)).Should().BeTrue();
        result.Plan.Artifacts.Should().BeEmpty();
        result.Plan.Blobs.Should().BeEmpty();
    }

    [Test]
    public async Task GivenAPostgresStoreWithoutItsSettings_WhenTheContainerStarts_ThenEachMissingSettingIsListed()
    {
        // given the Postgres kind with neither a connection string nor a blob folder
        var services = new ServiceCollection();
        services.AddHarborGc(o => o.Store.Kind = HarborGcStoreKind.Postgres);
        await using var provider = services.BuildServiceProvider();

        // when the options are read
        var read = () => provider.GetRequiredService<IOptions<HarborGcOptions>>().Value;

        // then both are named, and no store is opened
        read.Should().Throw<OptionsValidationException>().Which.Failures.Should().BeEquivalentTo(
            "HarborGc:Store:ConnectionString: required for the Postgres store (its database), but is empty.",
            "HarborGc:Store:BlobsPath: required for the Postgres store (the blob folder every process of the store shares), but is empty.");
    }

    private static async Task<Digest> Push(RegistryApi api, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var digest = Digest.Sha256Of(bytes);
        using var stream = new MemoryStream(bytes);
        await api.PushBlobAsync(digest, stream);
        return digest;
    }
}
