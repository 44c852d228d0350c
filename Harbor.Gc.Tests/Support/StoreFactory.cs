using Harbor.Gc.Model;
using Harbor.Gc.Storage.InMemory;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.PostgresMetadata;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Support;

/// <summary>The stores the shared GC suite runs against.</summary>
public enum StoreKind
{
    /// <summary><see cref="InMemoryRegistryStore"/>.</summary>
    InMemory,

    /// <summary><see cref="LiteDbRegistryStore"/> in a temporary folder (direct mode: one process, as the tests are).</summary>
    LiteDb,

    /// <summary>
    /// <see cref="PostgresRegistryStore"/>: a database of the test run's PostgreSQL cluster (a copy of a migrated template) and a blob
    /// folder in a temporary folder. Ignored when PostgreSQL is not installed (a failure with <c>HARBOR_GC_REQUIRE_POSTGRES=1</c>).
    /// </summary>
    Postgres,

    /// <summary>
    /// <see cref="LiteDbRegistryStore"/> with its blob bytes in a new bucket of the test run's S3 server (issue 17; Swift's s3api),
    /// for a representative subset of the shared suites. Ignored when Swift is not installed (a failure with <c>HARBOR_GC_REQUIRE_S3=1</c>).
    /// </summary>
    LiteDbS3,
}

/// <summary>
/// Creates stores of one kind for a test and removes them afterwards: a fixture makes one per test (<c>[SetUp]</c>) and disposes
/// it in <c>[TearDown]</c>, which closes every LiteDB store and deletes its folder.
/// </summary>
internal sealed class StoreFactory(StoreKind kind) : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly Dictionary<(int Seed, int Scale), (string Folder, string Description, IReadOnlyDictionary<Digest, byte[]> Contents, string? Database)> _templates = [];

    public StoreKind Kind => kind;

    public TestStore Create(TimeProvider time)
    {
        TestStore store;
        if (kind == StoreKind.InMemory)
        {
            store = new TestStore(new InMemoryRegistryStore(time));
        }
        else if (kind == StoreKind.Postgres)
        {
            var folder = NewFolder();
            var database = PostgresTestDatabases.NewStoreDatabase();
            store = new TestStore(OpenPostgres(database, folder, time), folder, resources: database);
        }
        else if (kind == StoreKind.LiteDbS3)
        {
            var folder = NewFolder();
            var server = Integration.S3.S3Server.Shared;
            var bucket = server.CreateBucketAsync("sf").GetAwaiter().GetResult();
            var s3 = new Harbor.Gc.Storage.Blobs.S3BlobStoreOptions { Bucket = bucket, Prefix = "blobs", Endpoint = server.Endpoint, Region = Integration.S3.S3Server.Region };
            store = new TestStore(LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = Path.Combine(folder, "harbor-gc.db"), S3Blobs = s3, CreateIfMissing = true, Connection = LiteDbConnectionMode.Direct }, time), folder);
        }
        else
        {
            var folder = NewFolder();
            store = new TestStore(LiteDbRegistryStore.Open(Options(folder, create: true), time), folder);
        }

        _owned.Add(store);
        return store;
    }

    /// <summary>
    /// The random registry of <paramref name="seed"/> (<see cref="RandomRegistry"/>) in a new store. A LiteDB registry is written
    /// once per factory, closed, and copied (database and blob folder) for each call: the copy is opened from disk, as after a
    /// restart, and the crash tests, which rebuild the same registry for every crash point, stay fast.
    /// </summary>
    /// <remarks>The store's clock is left at <see cref="RandomRegistry.Now"/>; the returned clock, for collectors, starts there.</remarks>
    public (TestStore Store, FakeTimeProvider Time, string Description) Random(int seed, int scale)
    {
        var time = new ManualClock(RandomRegistry.Now);
        if (kind == StoreKind.InMemory)
        {
            var store = Create(time);
            return (store, new FakeTimeProvider(RandomRegistry.Now), RandomRegistry.Fill(store, time, seed, scale));
        }

        if (kind == StoreKind.LiteDbS3)
        {
            throw new NotSupportedException("the random registries are copied as folders; the S3-blob variant runs the suites that build their own stores");
        }

        if (!_templates.TryGetValue((seed, scale), out var template))
        {
            var folder = NewFolder();
            var templateTime = new ManualClock(RandomRegistry.Now);
            if (kind == StoreKind.Postgres)
            {
                var database = PostgresTestDatabases.NewStoreDatabase();
                _owned.Add(database);
                using var store = new TestStore(OpenPostgres(database, folder, templateTime));
                template = (folder, RandomRegistry.Fill(store, templateTime, seed, scale), store.Contents, database.Name);
            }
            else
            {
                using var store = new TestStore(LiteDbRegistryStore.Open(Options(folder, create: true), templateTime));
                template = (folder, RandomRegistry.Fill(store, templateTime, seed, scale), store.Contents, null);
            }

            _templates.Add((seed, scale), template);
        }

        var copy = NewFolder();
        CopyFolder(template.Folder, copy);
        TestStore opened;
        if (template.Database is { } templateDatabase)
        {
            var database = PostgresTestDatabases.Copy(templateDatabase);
            opened = new TestStore(OpenPostgres(database, copy, time), copy, template.Contents, database);
        }
        else
        {
            opened = new TestStore(LiteDbRegistryStore.Open(Options(copy), time), copy, template.Contents);
        }

        _owned.Add(opened);
        return (opened, new FakeTimeProvider(RandomRegistry.Now), template.Description);
    }

    public static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>
    /// A new empty folder, deleted with the factory. On a memory file system (<c>/dev/shm</c>) when there is one: the stores
    /// flush every commit and every blob to disk, which costs milliseconds on a disk and nothing in memory, and the tests simulate
    /// process deaths, not power loss.
    /// </summary>
    public string NewFolder()
    {
        var root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var folder = Path.Combine(root, "harbor-gc-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        _owned.Add(new TemporaryFolder(folder));
        return folder;
    }

    /// <summary>Opens the <c>postgres:</c> store of <paramref name="database"/> with its blobs in <paramref name="folder"/>/blobs (created, with the schema, when new).</summary>
    public static PostgresRegistryStore OpenPostgres(PostgresTestDatabases.Database database, string folder, TimeProvider time) =>
        PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = Path.Combine(folder, "blobs"), CreateIfMissing = true }, time);

    public static LiteDbStoreOptions Options(string folder, bool create = false, LiteDbConnectionMode connection = LiteDbConnectionMode.Direct) =>
        new() { DatabasePath = Path.Combine(folder, "harbor-gc.db"), CreateIfMissing = create, Connection = connection };

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _owned.Clear();
    }

    /// <summary>Deletes a folder when disposed.</summary>
    internal sealed class TemporaryFolder(string path) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
                // already gone
            }
            catch (IOException)
            {
                // best effort: a temporary folder
            }
        }
    }
}
