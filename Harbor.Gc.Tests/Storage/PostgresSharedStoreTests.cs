using System.Collections.Concurrent;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The <c>postgres:</c> store shared by two openers, as by a registry process and a collector process: each has its own connections
/// and nothing in memory in common, so every guard between a push and the sweep is the database's.
/// </summary>
[NonParallelizable] // a database cluster
public class PostgresSharedStoreTests
{
    private static readonly RepositoryName Live = RepositoryName.Parse("live/pushes");
    private StoreFactory _stores = null!;

    [SetUp]
    public void SetUp() => _stores = new StoreFactory(StoreKind.Postgres);

    [TearDown]
    public void TearDown() => _stores.Dispose();

    [Test]
    public async Task PushesThroughOneOpener_DuringARealRunThroughAnother_EveryAcceptedPushKeepsAllItsBlobs()
    {
        // given a registry where most blobs are garbage, opened twice: by the registry (pushes) and by the collector
        var (store, time, _) = _stores.Random(seed: 11, scale: 30);
        var registry = (PostgresRegistryStore)store.Inner;
        var database = registry.Where[(registry.Where.LastIndexOf('/') + 1)..];
        using var collectorStore = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(database), BlobsPath = registry.BlobsPath }, time);
        var collector = new GarbageCollector(collectorStore, time);
        var contents = store.Contents;
        var garbage = (await collector.PlanAsync(new GcOptions { DeleteUntagged = true })).Blobs
            .Where(b => contents.ContainsKey(b.Digest)).Select(b => b.Digest).ToArray();
        garbage.Length.Should().BeGreaterThan(100, "the pushes must race the sweep over many blobs");
        var api = new RegistryApi(registry);
        var reused = garbage[..(garbage.Length / 2)];

        // when two clients of the registry keep pushing manifests that reuse garbage blobs while the collector runs for real
        var pushed = new ConcurrentBag<Artifact>();
        var retries = 0;
        using var done = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 2).Select(client => Task.Run(async () =>
        {
            var random = new Random(client);
            for (var i = 0; !done.IsCancellationRequested || i < 30; i++)
            {
                var config = reused[random.Next(reused.Length)];
                var layer = reused[random.Next(reused.Length)];
                var own = Encoding.UTF8.GetBytes($"client {client} push {i}");
                while (true)
                {
                    try
                    {
                        foreach (var digest in new[] { config, layer })
                        {
                            using var stream = new MemoryStream(contents[digest], writable: false);
                            await api.PushBlobAsync(digest, stream);
                        }

                        using (var stream = new MemoryStream(own, writable: false))
                        {
                            await api.PushBlobAsync(Digest.Sha256Of(own), stream);
                        }

                        pushed.Add(await api.PushManifestAsync(Live, $"c{client}-{i}", Image(config, [layer, Digest.Sha256Of(own)])));
                        break;
                    }
                    catch (BlobBeingDeletedException)
                    {
                        Interlocked.Increment(ref retries); // being deleted right now: upload again, as a client would
                        Thread.Yield();
                    }
                }
            }
        })).ToArray();
        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4 });
        var duringRun = pushed.Count;
        await done.CancelAsync();
        await Task.WhenAll(clients);
        await TestContext.Out.WriteLineAsync($"{garbage.Length} garbage blobs, {result.BlobsDeleted} deleted, {result.BlobsSkipped.Count} skipped, {duringRun} pushes during the run, {pushed.Count} in all, {retries} retries");

        // then the run deleted garbage, and every accepted push still has every blob, record and bytes, seen from either opener
        result.BlobsDeleted.Should().BeGreaterThan(0);
        duringRun.Should().BeGreaterThan(0, "the pushes must overlap the run");
        foreach (var artifact in pushed)
        {
            (await collectorStore.GetArtifactAsync(artifact.Key)).Should().NotBeNull();
            foreach (var reference in artifact.References)
            {
                (await collectorStore.GetBlobAsync(reference.Digest)).Should().NotBeNull($"{artifact.Key} needs {reference.Digest}");
                (await registry.HasBlobContentAsync(reference.Digest)).Should().BeTrue($"{artifact.Key} needs the bytes of {reference.Digest}");
            }
        }
    }
}
