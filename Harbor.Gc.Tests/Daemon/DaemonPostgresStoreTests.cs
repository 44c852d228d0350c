using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>The daemon's configuration with a <c>postgres:</c> store: an address, kept as written (not read as a path).</summary>
[NonParallelizable] // a database cluster
public class DaemonPostgresStoreTests
{
    private StoreFactory _stores = null!;

    [SetUp]
    public void SetUp() => _stores = new StoreFactory(StoreKind.Postgres);

    [TearDown]
    public void TearDown() => _stores.Dispose();

    [Test]
    public void Given_a_gc_job_on_a_postgres_store_when_loaded_then_its_address_is_kept_and_the_store_opens()
    {
        // given a postgres: store, a pgpass file, and a daemon configuration whose job names the store
        var store = (PostgresRegistryStore)_stores.Create(new FakeTimeProvider()).Inner;
        var folder = _stores.NewFolder();
        var passfile = Path.Combine(folder, "pgpass");
        var cluster = PostgresTestDatabases.Cluster;
        File.WriteAllText(passfile, $"127.0.0.1:{cluster.Port}:*:{Integration.PostgresCluster.User}:{cluster.Password}\n");
        var spec = $"postgres:{store.Where}?blobs={store.BlobsPath}&passfile={passfile}";
        var file = Path.Combine(folder, "daemon.json");
        File.WriteAllText(file, $$"""
            { "history": "runs.db",
              "jobs": [ { "name": "nightly-gc", "kind": "gc", "store": "{{spec}}", "schedule": "0 0 3 * * *", "dryRun": true } ] }
            """);

        // when the configuration is loaded (which opens each job's store once)
        var config = DaemonConfigReader.Load(file, TimeProvider.System);

        // then the job's store is the address as written
        config.Jobs.Should().ContainSingle().Which.Store.Should().Be(spec);
    }
}
