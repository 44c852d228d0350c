using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// <c>harbor-gc gc --store postgres:postgresql://USER@HOST:PORT/DB?blobs=DIR&amp;passfile=FILE</c>: the shared store, end to end through
/// the command, with the password from a pgpass file; bad input exits 2 and changes nothing.
/// </summary>
[NonParallelizable] // a database cluster
public class GcCommandPostgresTests
{
    private static readonly DateTimeOffset Now = GcCommandTests.Now;
    private StoreFactory _stores = null!;
    private TestStore _store = null!;
    private string _spec = null!;
    private string _where = null!;
    private Artifact _dead = null!;
    private Artifact _live = null!;

    [SetUp]
    public void SetUp()
    {
        // given a postgres: store where an untagged image and a tagged one (sharing a layer) were pushed three days ago, and a
        // pgpass file holding the password
        _stores = new StoreFactory(StoreKind.Postgres);
        var time = new FakeTimeProvider(Now - TimeSpan.FromDays(3));
        _store = _stores.Create(time);
        var r = new GcCommandLiteDbTests.ScenarioRegistryOver(_store);
        var shared = r.Blob("shared");
        _dead = r.Image(r.Blob("dead config"), shared, r.Blob("dead layer"));
        _live = r.Image(r.Blob("live config"), shared);
        _store.PutTag(_live.Repository, "v1", _live.Digest);
        var postgres = (PostgresRegistryStore)_store.Inner;
        _where = postgres.Where;
        var passfile = Path.Combine(_stores.NewFolder(), "pgpass");
        var cluster = PostgresTestDatabases.Cluster;
        WritePassfile(passfile, $"127.0.0.1:{cluster.Port}:*:{Integration.PostgresCluster.User}:{cluster.Password}");
        _spec = $"postgres:{_where}?blobs={postgres.BlobsPath}&passfile={passfile}";
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => GcCommandTests.Run(args);

    [Test]
    public async Task DryRun_ThenRealRun_DeleteTheUntaggedImageAndItsOwnBlobFiles_AndASecondRunFindsNothing()
    {
        // when a dry run plans, then a real run collects
        var dry = await Run("gc", "--store", _spec, "--delete-untagged", "--dry-run", "--report-json", "-");
        var real = await Run("gc", "--store", _spec, "--delete-untagged");

        // then the dry run planned the untagged image (naming the store without its password), and the real run deleted it and
        // its own blobs, bytes and records, and nothing the tagged image needs
        dry.Code.Should().Be(0, dry.Err);
        using (var report = JsonDocument.Parse(dry.Out))
        {
            report.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => a.GetProperty("digest").GetString()).Should().Equal(_dead.Digest.ToString());
            report.RootElement.GetProperty("summary").GetProperty("blobs").GetInt32().Should().Be(3, "the manifest, its config and its own layer");
        }

        dry.Err.Should().Contain($"GC dry run on postgres:{_where}");
        (dry.Out + dry.Err + real.Out + real.Err).Should().NotContain(PostgresTestDatabases.Cluster.Password);
        real.Code.Should().Be(0, real.Err);
        _store.GetArtifacts().Select(a => a.Key).Should().Equal(_live.Key);
        _live.References.Should().OnlyContain(x => _store.HasBlobContent(x.Digest));
        _dead.References.Where(x => !_live.References.Contains(x)).Should().OnlyContain(x => !_store.HasBlobContent(x.Digest) && _store.GetBlob(x.Digest) == null);
        (await Run("gc", "--store", _spec, "--delete-untagged", "--dry-run")).Out.Should().Contain("0 blobs and 0 manifests");
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task ADatabaseThatGoesAwayMidRun_FailsTheRunWithExit1NamingTheStore_AndTheNextRunFinishesItsWork(CancellationToken bound)
    {
        // given 600 more untagged images three days old (1,800 garbage blobs), so the sweep takes a while
        var r = new GcCommandLiteDbTests.ScenarioRegistryOver(_store);
        for (var i = 0; i < 600; i++)
        {
            r.Image(r.Blob($"config {i}"), r.Blob($"layer {i}"));
        }

        var database = _where[(_where.LastIndexOf('/') + 1)..];
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresTestDatabases.ConnectionString(database)) { Pooling = false }.ConnectionString);
        await admin.OpenAsync(bound);
        async Task<long> ArtifactsLeft()
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM artifacts", admin);
            return (long)(await count.ExecuteScalarAsync(bound))!;
        }

        var before = await ArtifactsLeft();

        // when a real run is sweeping and every connection to the database is ended (an administrator, a failover), again and again
        var run = Task.Run(() => Run("gc", "--store", _spec, "--delete-untagged", "--workers", "2"), bound);
        while (!run.IsCompleted && await ArtifactsLeft() == before)
        {
            await Task.Delay(5, bound);
        }

        var ended = 0L;
        while (!run.IsCompleted)
        {
            await using (var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", admin))
            {
                ended += (long)(await kill.ExecuteScalarAsync(bound))!;
            }

            await Task.Delay(20, bound);
        }

        var failed = await run;
        var left = await ArtifactsLeft();
        // (read through a fresh opener: the test store's pooled connections were ended too)
        var postgres = (PostgresRegistryStore)_store.Inner;
        using var fresh = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(database), BlobsPath = postgres.BlobsPath });

        // then the run fails with exit 1, saying the store's database failed and naming the store, without a stack trace
        ended.Should().BeGreaterThan(0, "the run's connections were ended");
        left.Should().BeLessThan(before, "the run was sweeping");
        failed.Code.Should().Be(1, failed.Err);
        failed.Err.Should().Contain($"postgres:{_where}").And.Contain("the store's database failed during the run").And.NotContain("   at ");
        _live.References.Should().OnlyContain(x => fresh.HasBlobContentAsync(x.Digest, default).AsTask().Result && fresh.GetBlobAsync(x.Digest, default).AsTask().Result != null);

        // and the next run finishes the work: nothing left to plan, the tagged image whole
        var next = await Run("gc", "--store", _spec, "--delete-untagged");
        next.Code.Should().Be(0, next.Err);
        (await Run("gc", "--store", _spec, "--delete-untagged", "--dry-run")).Out.Should().Contain("0 blobs and 0 manifests");
        (await fresh.GetArtifactAsync(_live.Key)).Should().NotBeNull();
        (await ArtifactsLeft()).Should().Be(1, "only the tagged image is left");
        _live.References.Should().OnlyContain(x => fresh.HasBlobContentAsync(x.Digest, default).AsTask().Result);
    }

    [TestCase("postgresql://harbor:s3cret-pw@127.0.0.1:5432/db?blobs=/tmp/x", "a password on the command line is refused")]
    [TestCase("postgresql://harbor@127.0.0.1:5432/db?blobs=/tmp/x&password=s3cret-pw", "a password on the command line is refused")]
    [TestCase("postgresql://harbor@127.0.0.1:5432/db", "give blobs=DIR")]
    [TestCase("postgresql://127.0.0.1:5432/db?blobs=/tmp/x", "name the database user")]
    [TestCase("postgresql://harbor@127.0.0.1:5432/?blobs=/tmp/x", "name the database after the host")]
    [TestCase("/var/lib/store.db", "give the store's database as postgres:postgresql://")]
    public async Task ABadAddress_ExitsWith2_SayingWhat_AndNeverEchoesAPassword(string address, string expected)
    {
        // when gc is given the address
        var (code, _, errors) = await Run("gc", "--store", "postgres:" + address, "--dry-run");

        // then it exits 2 saying what is wrong, and a password given is not repeated
        code.Should().Be(2, errors);
        errors.Should().Contain(expected).And.NotContain("s3cret-pw");
    }

    [Test]
    public async Task ANewerSchemaVersion_AnotherApplicationsDatabase_AnEmptyDatabase_WrongCredentials_AndAnUnreachableServer_ExitWith2_AndChangeNothing()
    {
        // given the store marked as migrated by a newer version, a database of another application, an empty database, a pgpass
        // file with a wrong password, and a port nothing listens on
        Execute(_where, "INSERT INTO harbor_gc_schema (version, name) VALUES (99, '0099_future')");
        var foreign = PostgresTestDatabases.NewEmptyDatabase();
        using var dropForeign = new PostgresTestDatabases.Database(foreign);
        Execute($"postgresql://x@x:1/{foreign}", "CREATE TABLE invoices (id int)");
        var empty = PostgresTestDatabases.NewEmptyDatabase();
        using var dropEmpty = new PostgresTestDatabases.Database(empty);
        var blobs = ((PostgresRegistryStore)_store.Inner).BlobsPath;
        var port = PostgresTestDatabases.Cluster.Port;
        var wrongPassfile = Path.Combine(_stores.NewFolder(), "pgpass");
        WritePassfile(wrongPassfile, $"127.0.0.1:{port}:*:{Integration.PostgresCluster.User}:not-the-password");
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        // when gc runs (for real) on each
        var newer = await Run("gc", "--store", _spec, "--delete-untagged");
        var other = await Run("gc", "--store", _spec.Replace(_where, $"postgresql://harbor@127.0.0.1:{port}/{foreign}", StringComparison.Ordinal), "--delete-untagged");
        var none = await Run("gc", "--store", _spec.Replace(_where, $"postgresql://harbor@127.0.0.1:{port}/{empty}", StringComparison.Ordinal), "--delete-untagged");
        var credentials = await Run("gc", "--store", $"postgres:{_where}?blobs={blobs}&passfile={wrongPassfile}", "--delete-untagged");
        var unreachable = await Run("gc", "--store", $"postgres:postgresql://harbor@127.0.0.1:{closedPort}/store?blobs={blobs}", "--delete-untagged");

        // then each exits 2 naming what is wrong and where, and nothing is deleted
        newer.Code.Should().Be(2, newer.Err);
        newer.Err.Should().Contain("schema version 99, newer than this harbor-gc knows").And.Contain(_where);
        other.Code.Should().Be(2, other.Err);
        other.Err.Should().Contain("another application").And.Contain("invoices");
        none.Code.Should().Be(2, none.Err);
        none.Err.Should().Contain("empty database with no Harbor.Gc store").And.Contain(empty);
        Scalar(empty, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Should().Be(0, "gc never creates a store");
        credentials.Code.Should().Be(2, credentials.Err);
        credentials.Err.Should().Contain("refused the credentials of user 'harbor'").And.NotContain("not-the-password");
        unreachable.Code.Should().Be(2, unreachable.Err);
        unreachable.Err.Should().Contain($"127.0.0.1:{closedPort}/store").And.Contain("Cannot connect");
        Execute(_where, "DELETE FROM harbor_gc_schema WHERE version = 99");
        _store.GetArtifacts().Should().HaveCount(2);
        _dead.References.Should().OnlyContain(x => _store.HasBlobContent(x.Digest));
    }

    [Test]
    public async Task AStoreOfAnOlderSchemaVersion_IsRefusedByADryRun_WithExit2_AndMigratedByARealRun()
    {
        // given a store as schema version 4 left it (before its references were kept as blob row ids)
        using var database = await PostgresTestDatabases.NewStoreDatabaseAtAsync(4);
        var older = database.Name;
        var spec = _spec.Replace(_where, $"postgresql://harbor@127.0.0.1:{PostgresTestDatabases.Cluster.Port}/{older}", StringComparison.Ordinal)
            .Replace(((PostgresRegistryStore)_store.Inner).BlobsPath, _stores.NewFolder(), StringComparison.Ordinal); // a blob folder of its own

        // when a dry run opens it, then a real run, then a dry run again
        var dry = await Run("gc", "--store", spec, "--delete-untagged", "--dry-run");
        var versionAfterDryRun = Scalar(older, "SELECT max(version)::bigint FROM harbor_gc_schema");
        var real = await Run("gc", "--store", spec, "--delete-untagged");
        var again = await Run("gc", "--store", spec, "--delete-untagged", "--dry-run");

        // then the dry run exits 2 saying a read-only opening does not migrate, and changes nothing; the real run migrates the store
        // to this version's schema, after which a dry run works
        dry.Code.Should().Be(2, dry.Err);
        dry.Err.Should().Contain("schema version 4").And.Contain("a read-only opening does not migrate");
        versionAfterDryRun.Should().Be(4);
        real.Code.Should().Be(0, real.Err);
        Scalar(older, "SELECT max(version)::bigint FROM harbor_gc_schema").Should().Be(PostgresSchema.CurrentVersion);
        again.Code.Should().Be(0, again.Err);
    }

    private static long Scalar(string database, string sql)
    {
        using var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(database));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        var result = (long)command.ExecuteScalar()!;
        NpgsqlConnection.ClearPool(connection);
        return result;
    }

    /// <summary>Writes a pgpass file of one line, readable by its owner only (as libpq asks).</summary>
    private static void WritePassfile(string path, string line)
    {
        File.WriteAllText(path, line + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>Runs a statement in the database an address (<c>postgresql://USER@HOST:PORT/DB</c>) names, as the cluster's superuser.</summary>
    private static void Execute(string where, string sql)
    {
        var database = where[(where.LastIndexOf('/') + 1)..];
        using var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(database));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
        NpgsqlConnection.ClearPool(connection);
    }
}
