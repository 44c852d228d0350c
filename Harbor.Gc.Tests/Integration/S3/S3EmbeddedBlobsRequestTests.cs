using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Blobs;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// What the embedded stores' blob bytes in a bucket cost in S3 requests (issue 17), counted at a proxy in front of the real Swift
/// s3api server (<see cref="S3RequestCounter"/>), with the default part size (8 MiB): a blob pushed in one PutObject or in parts, a
/// manifest push, a dry run, and the blobs a real run deletes. The figures are in the benchmarks README.
/// </summary>
[TestFixture(StoreKind.LiteDb)]
[TestFixture(StoreKind.Postgres)]
[Category("Integration")]
[Category("S3")]
[NonParallelizable]
internal sealed class S3EmbeddedBlobsRequestTests(StoreKind kind)
{
    private const int MiB = 1 << 20;
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

    private S3Server _server = null!;
    private string _bucket = null!;
    private StoreFactory _folders = null!;
    private PostgresTestDatabases.Database? _database;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("ebr");
        _folders = new StoreFactory(kind);
        _database = kind == StoreKind.Postgres ? PostgresTestDatabases.NewStoreDatabase() : null;
    }

    [TearDown]
    public void TearDown()
    {
        _folders.Dispose();
        _database?.Dispose();
    }

    [Test]
    public async Task Requests_PerBlobPushed_PerManifest_PerDryRun_AndPerBlobDeleted_AreAsTheDesignCountsThem()
    {
        using var counter = new S3RequestCounter(_server.Endpoint);
        var s3 = new S3BlobStoreOptions { Bucket = _bucket, Prefix = "store/blobs", Endpoint = counter.Endpoint, Region = S3Server.Region };
        using var opened = kind == StoreKind.Postgres
            ? (IDisposable)PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = _database!.ConnectionString, S3Blobs = s3, CreateIfMissing = true }, TimeProvider.System)
            : LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = Path.Combine(_folders.NewFolder(), "meta.db"), S3Blobs = s3, CreateIfMissing = true }, TimeProvider.System);
        var store = (IWritableRegistryStore)opened;
        var api = new RegistryApi(store);
        var opening = Take(counter);

        // a blob of at most one part (8 MiB exactly), one of three parts (20 MiB), and ten small ones
        var onePart = await PushAsync(api, Bytes(8 * MiB, 1));
        var single = Take(counter);
        var threeParts = await PushAsync(api, Bytes(20 * MiB, 2));
        var multipart = Take(counter);
        var small = new List<Digest>();
        for (var i = 0; i < 10; i++)
        {
            small.Add(await PushAsync(api, Bytes(1_000 + i, 10 + i)));
        }

        var tenSmall = Take(counter);

        // a tagged image of the 8 MiB blob and one small one; an untagged image of the 20 MiB blob and four small ones; five small
        // blobs nothing references: 11 garbage blobs (the untagged manifest, its config and four layers, and the five)
        var live = Image(small[0], [onePart]);
        await api.PushManifestAsync(Repo, "v1", live);
        var manifestPush = Take(counter);
        var dead = Image(small[1], [threeParts, small[2], small[3], small[4]]);
        await api.PushManifestAsync(Repo, Digest.Sha256Of(dead).ToString(), dead);
        Take(counter);

        var options = new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero };
        var dry = await new GarbageCollector(store, TimeProvider.System).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, DryRun = true });
        var dryRun = Take(counter);
        var real = await new GarbageCollector(store, TimeProvider.System).RunAsync(options);
        var realRun = Take(counter);

        var figures = string.Join("\n", new[] { ("open", opening), ("push 8 MiB", single), ("push 20 MiB", multipart), ("push 10 x 1 kB", tenSmall), ("manifest (2 blobs)", manifestPush), ("dry run", dryRun), ($"real run ({real.BlobsDeleted} blobs)", realRun) }
            .Select(p => $"{kind} {p.Item1}: {Total(p.Item2)} = {string.Join(", ", p.Item2.Select(c => $"{c.Key} {c.Value}"))}"));
        await TestContext.Progress.WriteLineAsync(figures);

        // then: a blob of at most one part is one PutObject (the bytes are hashed while read and held; no existence check); one of
        // three parts is CreateMultipartUpload, three UploadParts and CompleteMultipartUpload
        counter.Failures.Should().Be(0);
        Total(opening).Should().BeLessThanOrEqualTo(3, figures); // the prefix's owner object read (and written by the first opening)
        single.Should().Equal(Counts(("PutObject", 1)), figures);
        multipart.Should().Equal(Counts(("CompleteMultipartUpload", 1), ("CreateMultipartUpload", 1), ("UploadPart", 3)), figures);
        tenSmall.Should().Equal(Counts(("PutObject", 10)), figures);

        // a manifest push writes its own bytes (one PutObject) and checks each blob's bytes once (RegistryApi, which names every
        // missing one; the store's write then checks their records only: the bytes it was told were seen, and the manifest's own,
        // are not looked for again)
        manifestPush.Should().Equal(Counts(("HeadObject", 2), ("PutObject", 1)), figures);

        // a dry run lists: ListMultipartUploads and one ListObjectsV2 per 1,000 blob objects of each algorithm folder (sha256/,
        // sha512/), no GET or HEAD per blob
        dry.Plan.Blobs.Should().HaveCount(11);
        dryRun.Should().Equal(Counts(("ListMultipartUploads", 2), ("ListObjectsV2", 2)), figures);

        // a real run: the dry run's listings, then one DeleteObject per blob deleted, nothing else per blob
        real.BlobsDeleted.Should().Be(11);
        realRun.Should().Equal(Counts(("DeleteObject", 11), ("ListMultipartUploads", 2), ("ListObjectsV2", 2)), figures);
    }

    private static async Task<Digest> PushAsync(RegistryApi api, byte[] content)
    {
        var digest = Digest.Sha256Of(content);
        await api.PushBlobAsync(digest, new MemoryStream(content));
        return digest;
    }

    private static Dictionary<string, long> Take(S3RequestCounter counter)
    {
        var counts = counter.Snapshot().ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        counter.Reset();
        return counts;
    }

    private static Dictionary<string, long> Counts(params (string Operation, long Count)[] counts) => counts.ToDictionary(c => c.Operation, c => c.Count, StringComparer.Ordinal);

    private static long Total(Dictionary<string, long> counts) => counts.Values.Sum();

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
