using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Blobs;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The commands around a LiteDB store whose blob bytes are in a bucket (<c>litedb:PATH?blobs=s3://…</c>, issue 17) on the real Swift
/// s3api server: <c>store convert</c> copies its database and the copy collects through the same bucket prefix, and a daemon's
/// scheduled GC job on it loads and runs (and one on a bucket's Distribution layout loads; and a postgres: store's job runs too).
/// </summary>
[TestFixture]
[Category("Integration")]
[Category("S3")]
[NonParallelizable]
internal sealed class S3EmbeddedBlobsCommandTests
{
    private const string Prefix = "store/blobs";
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

    private S3Server _server = null!;
    private string _bucket = null!;
    private StoreFactory _folders = null!;
    private string _folder = null!;
    private Digest[] _live = null!;
    private Digest[] _garbage = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("ebc");
        _folders = new StoreFactory(StoreKind.LiteDb);
        _folder = _folders.NewFolder();

        // a tagged image and an untagged one, pushed three days before the commands' clock by a registry that has stopped
        var s3 = new S3BlobStoreOptions { Bucket = _bucket, Prefix = Prefix, Endpoint = _server.Endpoint, Region = S3Server.Region };
        using var store = LiteDbRegistryStore.Open(
            new LiteDbStoreOptions { DatabasePath = Path.Combine(_folder, "meta.db"), S3Blobs = s3, CreateIfMissing = true }, new FakeTimeProvider(GcCommandTests.Now - TimeSpan.FromDays(3)));
        (_live, _garbage) = await PushImagesAsync(store);
    }

    private static async Task<(Digest[] Live, Digest[] Garbage)> PushImagesAsync(IWritableRegistryStore store)
    {
        var api = new RegistryApi(store);
        var config = await PushAsync(api, "{\"live\":1}"u8.ToArray());
        var liveManifest = Image(config, [config]);
        await api.PushManifestAsync(Repo, "v1", liveManifest);
        var deadLayer = await PushAsync(api, "dead layer"u8.ToArray());
        var deadManifest = Image(config, [deadLayer]);
        await api.PushManifestAsync(Repo, Digest.Sha256Of(deadManifest).ToString(), deadManifest);
        return ([config, Digest.Sha256Of(liveManifest)], [deadLayer, Digest.Sha256Of(deadManifest)]);
    }

    [TearDown]
    public void TearDown() => _folders.Dispose();

    [Test]
    public async Task StoreConvert_OfAStoreWithBlobsInTheBucket_CopiesTheDatabase_AndTheCopyCollectsThroughTheSamePrefix()
    {
        // given the store's address with its blobs in the bucket
        var database = Path.Combine(_folder, "meta.db");
        var converted = Path.Combine(_folder, "meta.new.db");
        var before = File.ReadAllBytes(database);
        var marker = await _server.KeysAsync(_bucket);

        // when it is converted into a new file, and the new file is collected with the same blob address
        var convert = await GcCommandTests.Run("store", "convert", "--store", Spec(database), "--to", converted);
        var keysAfterConvert = await _server.KeysAsync(_bucket);
        var gc = await GcCommandTests.Run("gc", "--store", Spec(converted), "--delete-untagged", "--time-window", "0");

        // then convert read the old file only, touched nothing in the bucket, and said how to open the copy (no secret in it); the
        // copy has the store id the bucket prefix is claimed by, so it opens there, and GC deletes the garbage's objects only
        convert.Code.Should().Be(0, convert.Err);
        convert.Out.Should().Contain($"open it as litedb:{converted}?blobs=s3://{_bucket}/{Prefix}");
        File.ReadAllBytes(database).Should().Equal(before);
        keysAfterConvert.Should().Equal(marker);
        gc.Code.Should().Be(0, gc.Err);
        (await BlobKeysAsync()).Should().BeEquivalentTo(_live.Select(Key));
    }

    [Test]
    public async Task StoreConvert_WithACredentialInTheAddress_AnUnknownSetting_OrAnAddressForTheCopy_Exits2_AndWritesNothing()
    {
        var database = Path.Combine(_folder, "meta.db");
        var converted = Path.Combine(_folder, "meta.new.db");

        var secret = await GcCommandTests.Run("store", "convert", "--store", $"litedb:{database}?blobs=s3://key:hunter2@{_bucket}/{Prefix}&region={S3Server.Region}", "--to", converted);
        var unknown = await GcCommandTests.Run("store", "convert", "--store", $"litedb:{database}?blobs=s3://{_bucket}/{Prefix}&region={S3Server.Region}&colour=red", "--to", converted);

        var address = await GcCommandTests.Run("store", "convert", "--store", Spec(database), "--to", $"litedb:{converted}?blobs=s3://{_bucket}/other");

        secret.Code.Should().Be(2, secret.Err);
        (secret.Out + secret.Err).Should().NotContain("hunter2");
        unknown.Code.Should().Be(2, unknown.Err);
        unknown.Err.Should().Contain("colour");
        address.Code.Should().Be(2, address.Err);
        address.Err.Should().Contain("the blob bytes are not copied");
        File.Exists(converted).Should().BeFalse();
    }

    [Test]
    public async Task ADaemonGcJob_OnAStoreWithBlobsInTheBucket_Loads_WithItsAddressKept_AndItsScheduledRunDeletesTheGarbage()
    {
        // given a daemon configuration with a GC job on the store, named relative to the configuration's folder
        var file = Path.Combine(_folder, "daemon.json");
        var relative = $"litedb:meta.db?blobs=s3://{_bucket}/{Prefix}&endpoint={_server.Endpoint}&region={S3Server.Region}";
        var bucketLayout = $"distribution:s3://{_bucket}/registry?endpoint={_server.Endpoint}&region={S3Server.Region}"; // and one on a bucket's layout
        var blob = Digest.Sha256Of("a blob"u8.ToArray());
        await _server.PutAsync(_bucket, [new($"registry/docker/registry/v2/blobs/sha256/{blob.Hex[..2]}/{blob.Hex}/data", "a blob"u8.ToArray())]);
        File.WriteAllText(file, $$"""
            { "history": "runs.db",
              "jobs": [ { "name": "nightly-gc", "kind": "gc", "store": "{{relative}}", "schedule": "0 0 3 * * *",
                          "deleteUntagged": true, "timeWindow": "0s" },
                        { "name": "registry-gc", "kind": "gc", "store": "{{bucketLayout}}", "schedule": "0 0 4 * * *", "dryRun": true } ] }
            """);

        // when it is loaded (which opens the store once) and its job runs as the scheduler runs it
        var time = new FakeTimeProvider(GcCommandTests.Now);
        var config = DaemonConfigReader.Load(file, time);
        config.Jobs.Should().HaveCount(2);
        var job = config.Jobs[0];
        using var history = RunHistory.Open(Path.Combine(_folder, "runs.db"), create: true);
        using var logs = LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time)));
        var run = await new JobRunner(history, new RetentionJob(time), time, logs).RunAsync(job, RunTrigger.Schedule, CancellationToken.None);

        // then the path was made absolute and the blob address kept as written (not read as part of a path: "s3://" and "http://"
        // stay), and the run deleted the garbage's objects only
        job.Store.Should().Be($"litedb:{Path.Combine(_folder, "meta.db")}?blobs=s3://{_bucket}/{Prefix}&endpoint={_server.Endpoint}&region={S3Server.Region}");
        config.Jobs[1].Store.Should().Be(bucketLayout);
        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        run.Blobs.Should().Be(_garbage.Length);
        (await BlobKeysAsync()).Where(k => k.StartsWith(Prefix, StringComparison.Ordinal)).Should().BeEquivalentTo(_live.Select(Key));
    }

    [Test]
    [Category("Postgres")]
    public async Task ADaemonGcJob_OnAPostgresStoreWithBlobsInTheBucket_RunsAndDeletesTheGarbage()
    {
        // given a postgres: store with its blobs in the bucket, a pgpass file, and a daemon configuration with a GC job on it
        using var database = PostgresTestDatabases.NewStoreDatabase();
        var s3 = new S3BlobStoreOptions { Bucket = _bucket, Prefix = "pg/blobs", Endpoint = _server.Endpoint, Region = S3Server.Region };
        string where;
        (Digest[] Live, Digest[] Garbage) images;
        using (var store = PostgresRegistryStore.Open(
            new PostgresStoreOptions { ConnectionString = database.ConnectionString, S3Blobs = s3, CreateIfMissing = true }, new FakeTimeProvider(GcCommandTests.Now - TimeSpan.FromDays(3))))
        {
            images = await PushImagesAsync(store);
            where = store.Where;
        }

        var passfile = Path.Combine(_folder, "pgpass");
        var cluster = PostgresTestDatabases.Cluster;
        File.WriteAllText(passfile, $"127.0.0.1:{cluster.Port}:*:{PostgresCluster.User}:{cluster.Password}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var spec = $"postgres:{where}?blobs=s3://{_bucket}/pg/blobs&endpoint={_server.Endpoint}&region={S3Server.Region}&passfile={passfile}";
        var file = Path.Combine(_folder, "daemon.json");
        File.WriteAllText(file, $$"""
            { "history": "runs.db",
              "jobs": [ { "name": "nightly-gc", "kind": "gc", "store": "{{spec}}", "schedule": "0 0 3 * * *", "deleteUntagged": true, "timeWindow": "0s" } ] }
            """);

        // when it is loaded and its job runs as the scheduler runs it
        var time = new FakeTimeProvider(GcCommandTests.Now);
        var job = DaemonConfigReader.Load(file, time).Jobs.Should().ContainSingle().Subject;
        using var history = RunHistory.Open(Path.Combine(_folder, "runs.db"), create: true);
        using var logs = LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time)));
        var run = await new JobRunner(history, new RetentionJob(time), time, logs).RunAsync(job, RunTrigger.Schedule, CancellationToken.None);

        // then the address is kept as written, and the run deleted the garbage's objects only
        job.Store.Should().Be(spec);
        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        run.Blobs.Should().Be(images.Garbage.Length);
        (await _server.KeysAsync(_bucket)).Where(k => k.StartsWith("pg/blobs/sha256/", StringComparison.Ordinal))
            .Should().BeEquivalentTo(images.Live.Select(d => $"pg/blobs/sha256/{d.Hex[..2]}/{d.Hex}"));
    }

    private string Spec(string database) => $"litedb:{database}?blobs=s3://{_bucket}/{Prefix}&endpoint={_server.Endpoint}&region={S3Server.Region}";

    private static string Key(Digest digest) => $"{Prefix}/sha256/{digest.Hex[..2]}/{digest.Hex}";

    private static async Task<Digest> PushAsync(RegistryApi api, byte[] content)
    {
        var digest = Digest.Sha256Of(content);
        await api.PushBlobAsync(digest, new MemoryStream(content));
        return digest;
    }

    private async Task<List<string>> BlobKeysAsync() =>
        (await _server.KeysAsync(_bucket)).Where(k => !k.EndsWith(S3BlobStore.OwnerObject, StringComparison.Ordinal)).ToList();
}
