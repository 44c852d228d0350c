using System.Globalization;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Npgsql;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The round trips a push through <see cref="RegistryApi"/> makes to the <c>postgres:</c> store's server, counted on the wire by a
/// proxy between the store and a real server (<see cref="RoundTripCountingProxy"/>): with four clients on two cores, a push's time is
/// mostly its round trips, so this is what keeps the pushes per second from going back down. A count that goes up fails here.
/// </summary>
[NonParallelizable] // a database cluster
public class PostgresRoundTripTests
{
    /// <summary>A blob upload: the digest's lock with the blob's row, then the record and the commit in one batch.</summary>
    private const int BlobPush = 2;

    /// <summary>A manifest push by tag: its bytes as a blob (2), the artifact (1: locks, checks, writes and commit in one batch), the tag (1, likewise).</summary>
    private const int ManifestPushByTag = 4;

    private const int Pushes = 20;

    [Test]
    public async Task PushesThroughRegistryApi_MakeNoMoreRoundTripsThanCounted()
    {
        // given an empty store whose connections go through the counting proxy, and the registry API without immutability rules
        using var database = PostgresTestDatabases.NewStoreDatabase();
        var direct = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        using var proxy = new RoundTripCountingProxy(direct.Host!, direct.Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port };
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "harbor-gc-roundtrips-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        try
        {
            await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = viaProxy.ConnectionString, BlobsPath = folder });
            var api = new RegistryApi(store);
            var repository = RepositoryName.Parse("library/app");
            await PushImageAsync(api, repository, "warm-up", 0); // the pool's connection opened, the types loaded

            // when images are pushed one after another, each 3 new blobs and a manifest by a new tag, then by moving one tag
            var connections = proxy.Connections;
            long blobs = 0, manifests = 0, moves = 0;
            for (var n = 1; n <= Pushes; n++)
            {
                var (b, m) = await PushImageAsync(api, repository, $"v{n}", n);
                blobs += b;
                manifests += m;
            }

            for (var n = 1; n <= Pushes; n++)
            {
                var (_, m) = await PushImageAsync(api, repository, "latest", Pushes + n);
                moves += m;
            }

            // then each blob push and each manifest push costs no more round trips than counted (and no new connection was opened)
            await TestContext.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"round trips: {blobs / (3.0 * Pushes):0.##} per blob push, {manifests / (double)Pushes:0.##} per manifest push by a new tag, {moves / (double)Pushes:0.##} per manifest push moving a tag"));
            proxy.Connections.Should().Be(connections, "the pushes reuse the pool's connection");
            (blobs / (3.0 * Pushes)).Should().BeLessThanOrEqualTo(BlobPush);
            (manifests / (double)Pushes).Should().BeLessThanOrEqualTo(ManifestPushByTag);
            (moves / (double)Pushes).Should().BeLessThanOrEqualTo(ManifestPushByTag);
            (await store.GetTagAsync(repository, "latest")).Should().NotBeNull();
            (await store.GetTagAsync(repository, $"v{Pushes}")).Should().NotBeNull();
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        async Task<(long Blobs, long Manifest)> PushImageAsync(RegistryApi api, RepositoryName repository, string tag, int n)
        {
            var start = proxy.RoundTrips;
            var config = await PushBlobAsync(api, $"config {n}");
            var layers = new[] { await PushBlobAsync(api, $"layer {n} a"), await PushBlobAsync(api, $"layer {n} b") };
            var afterBlobs = proxy.RoundTrips;
            await api.PushManifestAsync(repository, tag, Image(config, layers));
            return (afterBlobs - start, proxy.RoundTrips - afterBlobs);
        }

        static async Task<Digest> PushBlobAsync(RegistryApi api, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var digest = Digest.Sha256Of(bytes);
            using var stream = new MemoryStream(bytes);
            await api.PushBlobAsync(digest, stream);
            return digest;
        }
    }

    [Test]
    public async Task ATagWrite_WhoseAssertionFails_WritesNothing_AndIsMadeAgainStepByStep_ToSayWhatIsWrong()
    {
        // given a store with one image tagged v1
        using var stores = new StoreFactory(StoreKind.Postgres);
        var registry = new ScenarioRegistry(stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        var image = registry.Image("library/app", [registry.Blob()]);
        (await store.PutTagAsync(image.Repository, "v1", image.Digest)).Tag.Digest.Should().Be(image.Digest);
        var pushedAt = (await store.GetTagAsync(image.Repository, "v1"))!.PushedAt;
        var version = (await store.GetArtifactAsync(image.Key))!.Version;
        registry.Age(); // a write would show in the push time

        // when a tag is pointed at a manifest that is not there, and v1 is written expecting another digest
        var missing = async () => await store.PutTagAsync(image.Repository, "v2", D('e'));
        var changed = async () => await store.PutTagAsync(image.Repository, "v1", image.Digest, new TagExpectation(D('f')));

        // then each is refused as the careful write says (no manifest; the tag changed), and neither wrote anything, the artifact's
        // version included (the batch bumps it before its assertions)
        (await missing.Should().ThrowAsync<KeyNotFoundException>()).WithMessage("*there is no manifest*");
        (await changed.Should().ThrowAsync<TagChangedException>()).Which.Message.Should().Contain(image.Digest.ToString());
        (await store.GetTagAsync(image.Repository, "v2")).Should().BeNull();
        (await store.GetTagAsync(image.Repository, "v1"))!.PushedAt.Should().Be(pushedAt);
        (await store.GetArtifactAsync(image.Key))!.Version.Should().Be(version);

        // and pointing v1 at the digest it has is not a push: nothing previous, the tag as it was
        var again = await store.PutTagAsync(image.Repository, "v1", image.Digest, new TagExpectation(image.Digest));
        again.PreviousDigest.Should().BeNull();
        again.Tag.PushedAt.Should().Be(pushedAt);
    }

    /// <summary>A swept blob of a real run: its claim (with the previous claim's release), mark, reference check, deleting, record.</summary>
    private const int SweptBlob = 5;

    /// <summary>A swept artifact: one batch (its row locked with the version asserted, its tags, links and record deleted, the commit).</summary>
    private const int SweptArtifact = 1;

    [Test]
    public async Task ARealRun_MakesNoMoreRoundTripsPerDeletedArtifactAndBlobThanCounted()
    {
        // given two stores of untagged images a day old, 10 and 20 of them, each one artifact and 4 blobs (config, 2 layers, manifest),
        // collected by a real run through the counting proxy
        var ten = await RealRunRoundTripsAsync(10);
        var twenty = await RealRunRoundTripsAsync(20);

        // then each further image costs no more round trips than its artifact's and its 4 blobs' (what every run costs once, the
        // snapshot, the store's and the claims' connections, cancels out)
        var perImage = (twenty - ten) / 10.0;
        await TestContext.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"real run: {ten} round trips for 10 images, {twenty} for 20: {perImage:0.##} per image"));
        // (less than one more: what a run costs once varies by a round trip or two; one more per blob would be 4 more per image)
        perImage.Should().BeLessThan(SweptArtifact + (4 * SweptBlob) + 1);
    }

    private static async Task<long> RealRunRoundTripsAsync(int images)
    {
        using var stores = new StoreFactory(StoreKind.Postgres);
        var registry = new ScenarioRegistry(stores);
        for (var i = 0; i < images; i++)
        {
            registry.Image("library/app", [registry.Blob(), registry.Blob()]);
        }

        registry.Age();
        var first = (PostgresRegistryStore)registry.Store.Inner;
        var database = first.Where[(first.Where.LastIndexOf('/') + 1)..];
        var direct = new NpgsqlConnectionStringBuilder(PostgresTestDatabases.ConnectionString(database));
        using var proxy = new RoundTripCountingProxy(direct.Host!, direct.Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port };
        await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = viaProxy.ConnectionString, BlobsPath = first.BlobsPath }, registry.Time);
        var result = await new GarbageCollector(store, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true });
        result.ArtifactsDeleted.Should().Be(images);
        result.BlobsDeleted.Should().Be(images * 4);
        return proxy.RoundTrips;
    }
}
