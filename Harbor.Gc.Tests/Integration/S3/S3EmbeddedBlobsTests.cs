using System.Text;
using Amazon.S3.Model;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Blobs;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The embedded stores with their blob bytes in a bucket of the real Swift s3api server (issue 17): the LiteDB store and the
/// PostgreSQL store open with <see cref="S3BlobStoreOptions"/>, a registry pushes through <see cref="RegistryApi"/>, and GC plans and
/// deletes as it does over a folder. Parts are 5 MiB (the smallest S3 takes), so a 6 MiB layer goes as a two-part multipart upload.
/// </summary>
[TestFixture(StoreKind.LiteDb)]
[TestFixture(StoreKind.Postgres)]
[Category("Integration")]
[Category("S3")]
[NonParallelizable] // a database cluster and a server shared by the run
public sealed class S3EmbeddedBlobsTests(StoreKind kind)
{
    private const string Prefix = "store/blobs";
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

    private S3Server _server = null!;
    private string _bucket = null!;
    private StoreFactory _folders = null!;
    private string _folder = null!;
    private PostgresTestDatabases.Database? _database;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("eb");
        _folders = new StoreFactory(kind);
        _folder = _folders.NewFolder();
        _database = kind == StoreKind.Postgres ? PostgresTestDatabases.NewStoreDatabase() : null;
    }

    [TearDown]
    public void TearDown()
    {
        _folders.Dispose();
        _database?.Dispose();
    }

    [Test]
    public async Task Push_DryRun_RealRun_LiveBlobsReadBackWhole_AndTheGarbageObjectsAreGone()
    {
        // given a tagged image whose layer is over one part (a multipart upload), an untagged image, and a blob nothing references
        using var opened = Open(TimeProvider.System);
        var store = (IWritableRegistryStore)opened;
        var api = new RegistryApi(store);
        var layer = Bytes(6 << 20, seed: 1);
        var liveLayer = await PushAsync(api, layer);
        var liveConfig = await PushAsync(api, "{\"live\":true}"u8.ToArray());
        var liveManifest = Image(liveConfig, [liveLayer]);
        await api.PushManifestAsync(Repo, "v1", liveManifest);
        var deadConfig = await PushAsync(api, "{\"dead\":true}"u8.ToArray());
        var deadLayer = await PushAsync(api, Bytes(70_000, seed: 2));
        var deadManifest = Image(deadConfig, [deadLayer]);
        await api.PushManifestAsync(Repo, Digest.Sha256Of(deadManifest).ToString(), deadManifest);
        var orphan = await PushAsync(api, "orphan"u8.ToArray());
        var live = new[] { liveLayer, liveConfig, Digest.Sha256Of(liveManifest) };
        var garbage = new[] { deadConfig, deadLayer, Digest.Sha256Of(deadManifest), orphan };
        (await BlobKeysAsync()).Should().BeEquivalentTo(live.Concat(garbage).Select(Key));

        // when a dry run plans with no time window, then a real run deletes
        var options = new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero };
        var dry = await new GarbageCollector(store, TimeProvider.System).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, DryRun = true });
        var keysAfterDry = await BlobKeysAsync();
        var real = await new GarbageCollector(store, TimeProvider.System).RunAsync(options);

        // then the plan named exactly the garbage, the dry run deleted nothing, and the real run deleted the garbage's objects only
        dry.Plan.Blobs.Select(b => b.Digest).Should().BeEquivalentTo(garbage);
        dry.Plan.Uploads.Should().BeEmpty();
        keysAfterDry.Should().BeEquivalentTo(live.Concat(garbage).Select(Key));
        real.BlobsDeleted.Should().Be(garbage.Length);
        (await BlobKeysAsync()).Should().BeEquivalentTo(live.Select(Key));
        (await MultipartUploadsAsync()).Should().BeEmpty();

        // and every live blob reads back whole with its digest, and the image pulls
        foreach (var digest in live)
        {
            await using var stream = (await store.OpenBlobAsync(digest))!;
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Digest.Sha256Of(copy.ToArray()).Should().Be(digest);
        }

        (await store.OpenBlobAsync(deadLayer)).Should().BeNull();
        (await store.HasBlobContentAsync(orphan)).Should().BeFalse();
        (await api.PullManifestAsync(Repo, "v1"))!.Content.Should().Equal(liveManifest);
        opened.Should().BeAssignableTo<IRegistryStore>().Which.Description.Should().Contain($"s3://{_bucket}/{Prefix}");
    }

    [Test]
    public async Task ABlobDeleteTheServerRefuses_FailsThatBlobOnly_MarkedDeleteFailed_AndTheNextRunDeletesIt()
    {
        // given a tagged image and two blobs nothing references, the store reaching the server through a proxy that has it refuse
        // (403) every DELETE of the first blob's object
        using var proxy = new S3RequestCounter(_server.Endpoint);
        var refused = Digest.Sha256Of("refused orphan"u8);
        proxy.Refuse = (method, path) => method == "DELETE" && path == $"/{_bucket}/{Key(refused)}";
        using var opened = Open(TimeProvider.System, endpoint: proxy.Endpoint);
        var store = (IWritableRegistryStore)opened;
        var api = new RegistryApi(store);
        var config = await PushAsync(api, "{\"live\":true}"u8.ToArray());
        var layer = await PushAsync(api, "live layer"u8.ToArray());
        await api.PushManifestAsync(Repo, "v1", Image(config, [layer]));
        (await PushAsync(api, "refused orphan"u8.ToArray())).Should().Be(refused);
        var deleted = await PushAsync(api, "deleted orphan"u8.ToArray());

        // when a real run (no window) collects both
        var options = new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero };
        var result = await new GarbageCollector(store, TimeProvider.System).RunAsync(options);

        // then the refused blob failed, named with its object and the server's answer, and is marked delete-failed with its bytes in
        // place; the run went on and deleted the other one
        proxy.Refused.Should().BeGreaterThan(0);
        result.Outcome.Should().Be(GcOutcome.Completed);
        result.BlobsFailed.Should().ContainSingle().Which.Digest.Should().Be(refused);
        result.BlobsFailed[0].Error.Should().Contain(Key(refused)).And.Contain("403");
        result.BlobsDeleted.Should().Be(1);
        (await store.GetBlobAsync(refused))!.Status.Should().Be(BlobStatus.DeleteFailed);
        (await BlobKeysAsync()).Should().Contain(Key(refused)).And.NotContain(Key(deleted));

        // and the next run, the server answering again, deletes it; the image still pulls whole
        proxy.Refuse = null;
        var next = await new GarbageCollector(store, TimeProvider.System).RunAsync(options);
        next.BlobsFailed.Should().BeEmpty();
        (await BlobKeysAsync()).Should().NotContain(Key(refused));
        (await store.GetBlobAsync(refused)).Should().BeNull();
        (await ReadAsync(store, layer)).Should().Equal("live layer"u8.ToArray());
        (await api.PullManifestAsync(Repo, "v1")).Should().NotBeNull();
    }

    [Test]
    public async Task BytesThatDoNotMatchTheDigest_NeverBecomeVisible_SmallOrMultipart()
    {
        using var opened = Open(TimeProvider.System);
        var store = (IWritableRegistryStore)opened;
        var small = Bytes(1_000, seed: 3);
        var large = Bytes(11 << 20, seed: 4); // three parts
        var claimedSmall = Digest.Sha256Of(Bytes(1_000, seed: 5));
        var claimedLarge = Digest.Sha256Of(Bytes(11 << 20, seed: 6));

        // when each is pushed under a digest its bytes do not hash to
        var pushSmall = async () => await store.PutBlobAsync(claimedSmall, new MemoryStream(small));
        var pushLarge = async () => await store.PutBlobAsync(claimedLarge, new MemoryStream(large));

        // then both are refused, and neither the object, nor a record, nor an unfinished upload is left
        await pushSmall.Should().ThrowAsync<BlobDigestMismatchException>();
        await pushLarge.Should().ThrowAsync<BlobDigestMismatchException>();
        (await BlobKeysAsync()).Should().BeEmpty();
        (await MultipartUploadsAsync()).Should().BeEmpty("the parts sent before the digest was known are aborted");
        (await store.GetBlobAsync(claimedLarge)).Should().BeNull();
        (await store.HasBlobContentAsync(claimedSmall)).Should().BeFalse();

        // and the right bytes under the right digest go in whole
        var right = Digest.Sha256Of(large);
        (await store.PutBlobAsync(right, new MemoryStream(large))).Size.Should().Be(large.Length);
        (await BlobKeysAsync()).Should().Equal(Key(right));
    }

    [Test]
    public async Task InterruptedUploads_AreListedWithTheirTimes_TheOldOnesCollected_AndAFreshOneKept()
    {
        // given a push killed after its first part (the store stops sending, as a killed process would: not even the abort goes out)
        var layer = Bytes(12 << 20, seed: 7);
        var digest = Digest.Sha256Of(layer);
        var parts = 0;
        using (var dying = Open(TimeProvider.System, beforeWrite: what => !what.StartsWith("part ", StringComparison.Ordinal) || ++parts < 2))
        {
            var push = async () => await ((IWritableRegistryStore)dying).PutBlobAsync(digest, new MemoryStream(layer));
            await push.Should().ThrowAsync<IOException>();
        }

        // and an object a push wrote whole but did not record (killed between the commit and the record)
        var unrecorded = "unrecorded bytes"u8.ToArray();
        var unrecordedDigest = Digest.Sha256Of(unrecorded);
        await _server.PutAsync(_bucket, [new(Key(unrecordedDigest), unrecorded)]);

        // and, a few seconds later, a fresh interrupted upload of another blob
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var fresh = Digest.Sha256Of(Bytes(100, seed: 8));
        using (var client = _server.CreateClient())
        {
            var started = await client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = Key(fresh) });
            using var part = new MemoryStream(Bytes(100, seed: 9));
            await client.UploadPartAsync(new UploadPartRequest { BucketName = _bucket, Key = Key(fresh), UploadId = started.UploadId, PartNumber = 1, InputStream = part, UseChunkEncoding = false });
        }

        // when the store is reopened, the killed push's blob is not there, and a dry run lists three uploads of no repository
        using var opened = Open(TimeProvider.System);
        var store = (IWritableRegistryStore)opened;
        (await store.HasBlobContentAsync(digest)).Should().BeFalse();
        (await store.GetBlobAsync(digest)).Should().BeNull();
        var all = (await new GarbageCollector(store, Later()).PlanAsync(new GcOptions { TimeWindow = TimeSpan.Zero })).Uploads;
        all.Should().HaveCount(3).And.OnlyContain(u => u.Repository == null);
        var killed = all.Should().ContainSingle(u => u.Id.StartsWith($"sha256-{digest.Hex}-", StringComparison.Ordinal)).Subject;
        killed.Size.Should().Be(5 << 20, "one part of 5 MiB was sent before the kill");
        var left = all.Should().ContainSingle(u => u.Id == $"sha256-{unrecordedDigest.Hex}").Subject;
        left.Size.Should().Be(unrecorded.Length);
        var young = all.Should().ContainSingle(u => u.Id.StartsWith($"sha256-{fresh.Hex}-", StringComparison.Ordinal)).Subject;

        // then a real run whose window ends between the old ones and the fresh one deletes the old ones and keeps the fresh one
        var window = TimeSpan.FromMinutes(10);
        var oldest = new[] { killed.LastWrittenAt, left.LastWrittenAt }.Max();
        young.LastWrittenAt.Should().BeAfter(oldest + TimeSpan.FromSeconds(1));
        var clock = new FakeTimeProvider(oldest + ((young.LastWrittenAt - oldest) / 2) + window);
        var real = await new GarbageCollector(store, clock).RunAsync(new GcOptions { TimeWindow = window });
        real.Plan.Uploads.Select(u => u.Id).Should().BeEquivalentTo([killed.Id, left.Id]);
        real.UploadsDeleted.Should().Be(2);
        (await MultipartUploadsAsync()).Should().Equal(Key(fresh));
        (await BlobKeysAsync()).Should().BeEmpty();

        // and the killed blob pushes whole afterwards
        (await store.PutBlobAsync(digest, new MemoryStream(layer))).Size.Should().Be(layer.Length);
        Digest.Sha256Of(await ReadAsync(store, digest)).Should().Be(digest);
    }

    [Test]
    public async Task AnUploadWrittenSinceThePlan_IsKept()
    {
        // given an unfinished upload the plan saw with one part
        var digest = Digest.Sha256Of(Bytes(10, seed: 10));
        using var client = _server.CreateClient();
        var started = await client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = Key(digest) });
        await client.UploadPartAsync(new UploadPartRequest { BucketName = _bucket, Key = Key(digest), UploadId = started.UploadId, PartNumber = 1, InputStream = new MemoryStream(Bytes(5 << 20, seed: 11)), UseChunkEncoding = false });
        using var opened = Open(TimeProvider.System);
        var collector = new GarbageCollector((IRegistryStore)opened, Later());
        var plan = await collector.PlanAsync(new GcOptions { TimeWindow = TimeSpan.Zero });
        plan.Uploads.Should().ContainSingle();

        // when a part arrives after the plan
        await client.UploadPartAsync(new UploadPartRequest { BucketName = _bucket, Key = Key(digest), UploadId = started.UploadId, PartNumber = 2, InputStream = new MemoryStream(Bytes(10, seed: 12)), UseChunkEncoding = false });
        var result = await collector.ExecuteAsync(plan, new GcOptions { TimeWindow = TimeSpan.Zero });

        // then the upload is kept, and so it is when the store itself is asked to delete it as the plan saw it
        result.UploadsDeleted.Should().Be(0);
        result.UploadsSkipped.Should().ContainSingle();
        (await ((IWritableRegistryStore)opened).DeleteUploadAsync(plan.Uploads[0])).Should().Be(UploadDeleteOutcome.Changed);
        (await MultipartUploadsAsync()).Should().Equal(Key(digest));
    }

    [Test]
    public async Task Open_UnreachableEndpoint_IsRefusedClearly_AndWritesNothing()
    {
        var closed = new Uri($"http://127.0.0.1:{ClosedPort()}");
        var s3 = new S3BlobStoreOptions { Bucket = _bucket, Prefix = Prefix, Endpoint = closed, Region = S3Server.Region };

        var open = () => (IDisposable)(kind == StoreKind.Postgres
            ? PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = _database!.ConnectionString, S3Blobs = s3, CreateIfMissing = true })
            : LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = Path.Combine(_folder, "meta.db"), S3Blobs = s3, CreateIfMissing = true }));

        open.Should().Throw<InvalidDataException>()
            .Where(e => e.Message.Contains("Cannot reach the S3 blob store", StringComparison.Ordinal) && e.Message.Contains(closed.ToString(), StringComparison.Ordinal)
                && e.Message.Contains($"s3://{_bucket}/{Prefix}", StringComparison.Ordinal));
        (await BlobKeysAsync(all: true)).Should().BeEmpty();
    }

    [Test]
    public void Open_APrefixAnotherStoreClaimed_IsRefused()
    {
        // given the prefix claimed by another store
        _server.PutAsync(_bucket, [new($"{Prefix}/{S3BlobStore.OwnerObject}", "0123456789abcdef0123456789abcdef\n"u8.ToArray())]).GetAwaiter().GetResult();

        // when the store is opened on it, then it is refused naming the other store's id
        var open = () => Open(TimeProvider.System);
        open.Should().Throw<InvalidDataException>().WithMessage("*belongs to another store*");
    }

    [Test]
    public async Task TheCommand_RunsOnTheStoreWithItsBlobsInTheBucket_AndAnUnreachableEndpointExits2_DeletingNothing()
    {
        // given a store with a tagged image and an untagged one, pushed three days before the command's clock by a registry that has stopped
        Digest[] live, garbage;
        string where;
        using (var opened = Open(new FakeTimeProvider(Runner.GcCommandTests.Now - TimeSpan.FromDays(3))))
        {
            var api = new RegistryApi((IWritableRegistryStore)opened);
            var liveConfig = await PushAsync(api, "{\"live\":1}"u8.ToArray());
            var liveManifest = Image(liveConfig, [liveConfig]);
            await api.PushManifestAsync(Repo, "v1", liveManifest);
            var deadLayer = await PushAsync(api, Bytes(5_000, seed: 13));
            var deadManifest = Image(liveConfig, [deadLayer]);
            await api.PushManifestAsync(Repo, Digest.Sha256Of(deadManifest).ToString(), deadManifest);
            live = [liveConfig, Digest.Sha256Of(liveManifest)];
            garbage = [deadLayer, Digest.Sha256Of(deadManifest)];
            where = opened is PostgresRegistryStore postgres ? postgres.Where : Path.Combine(_folder, "meta.db");
        }

        var passfile = string.Empty;
        if (kind == StoreKind.Postgres)
        {
            var file = Path.Combine(_folders.NewFolder(), "pgpass");
            var cluster = PostgresTestDatabases.Cluster;
            File.WriteAllText(file, $"127.0.0.1:{cluster.Port}:*:{PostgresCluster.User}:{cluster.Password}\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            passfile = "&passfile=" + file;
        }

        string Spec(Uri endpoint) => $"{(kind == StoreKind.Postgres ? "postgres" : "litedb")}:{where}?blobs=s3://{_bucket}/{Prefix}&endpoint={endpoint}&region={S3Server.Region}{passfile}";

        // when the command runs against an endpoint nothing listens on, then on the server (a dry run, then a real run)
        var closed = new Uri($"http://127.0.0.1:{ClosedPort()}");
        var unreachable = await Runner.GcCommandTests.Run("gc", "--store", Spec(closed), "--delete-untagged", "--time-window", "0");
        var keysAfterRefusal = await BlobKeysAsync();
        var dry = await Runner.GcCommandTests.Run("gc", "--store", Spec(_server.Endpoint), "--delete-untagged", "--time-window", "0", "--dry-run");
        var keysAfterDry = await BlobKeysAsync();
        var real = await Runner.GcCommandTests.Run("gc", "--store", Spec(_server.Endpoint), "--delete-untagged", "--time-window", "0");

        // then the unreachable endpoint exited 2 naming it, and deleted nothing; the dry run deleted nothing; the real run the garbage
        unreachable.Code.Should().Be(2, unreachable.Err);
        unreachable.Err.Should().Contain("Cannot reach the S3 blob store").And.Contain(closed.ToString());
        keysAfterRefusal.Should().BeEquivalentTo(live.Concat(garbage).Select(Key));
        dry.Code.Should().Be(0, dry.Err);
        keysAfterDry.Should().BeEquivalentTo(live.Concat(garbage).Select(Key));
        real.Code.Should().Be(0, real.Err);
        (await BlobKeysAsync()).Should().BeEquivalentTo(live.Select(Key));
    }

    private IDisposable Open(TimeProvider time, Func<string, bool>? beforeWrite = null, Uri? endpoint = null)
    {
        var s3 = new S3BlobStoreOptions
        {
            Bucket = _bucket, Prefix = Prefix, Endpoint = endpoint ?? _server.Endpoint, Region = S3Server.Region, PartSize = 5 << 20, BeforeWrite = beforeWrite,
        };
        return kind == StoreKind.Postgres
            ? PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = _database!.ConnectionString, S3Blobs = s3, CreateIfMissing = true }, time)
            : LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = Path.Combine(_folder, "meta.db"), S3Blobs = s3, CreateIfMissing = true, Connection = LiteDbConnectionMode.Direct }, time);
    }

    /// <summary>A clock a minute ahead: Swift dates an upload's parts to the next whole second, which may still be ahead of the system clock.</summary>
    private static FakeTimeProvider Later() => new(TimeProvider.System.GetUtcNow() + TimeSpan.FromMinutes(1));

    private static string Key(Digest digest) => $"{Prefix}/sha256/{digest.Hex[..2]}/{digest.Hex}";

    private static async Task<Digest> PushAsync(RegistryApi api, byte[] content)
    {
        var digest = Digest.Sha256Of(content);
        await api.PushBlobAsync(digest, new MemoryStream(content));
        return digest;
    }

    private static async Task<byte[]> ReadAsync(IWritableRegistryStore store, Digest digest)
    {
        await using var stream = (await store.OpenBlobAsync(digest))!;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    /// <summary>The blob objects in the bucket (not the store's marker), or every key.</summary>
    private async Task<List<string>> BlobKeysAsync(bool all = false) =>
        (await _server.KeysAsync(_bucket)).Where(k => all || !k.EndsWith(S3BlobStore.OwnerObject, StringComparison.Ordinal)).ToList();

    private async Task<List<string>> MultipartUploadsAsync()
    {
        using var client = _server.CreateClient();
        var page = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _bucket });
        return (page.MultipartUploads ?? []).Select(u => u.Key).ToList();
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
