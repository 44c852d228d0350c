using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Npgsql;
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
        using var pushers = new RacingPushers(api, contents, reused, Live);
        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4 });
        var duringRun = pushers.Pushed.Count;
        await pushers.StopAsync();
        await TestContext.Out.WriteLineAsync($"{garbage.Length} garbage blobs, {result.BlobsDeleted} deleted, {result.BlobsSkipped.Count} skipped, {duringRun} pushes during the run, {pushers.Pushed.Count} in all, {pushers.Retries} retries");

        // then the run deleted garbage, and every accepted push still has every blob, record and bytes, seen from either opener
        result.BlobsDeleted.Should().BeGreaterThan(0);
        duringRun.Should().BeGreaterThan(0, "the pushes must overlap the run");
        foreach (var artifact in pushers.Pushed)
        {
            (await collectorStore.GetArtifactAsync(artifact.Key)).Should().NotBeNull();
            foreach (var reference in artifact.References)
            {
                (await collectorStore.GetBlobAsync(reference.Digest)).Should().NotBeNull($"{artifact.Key} needs {reference.Digest}");
                (await registry.HasBlobContentAsync(reference.Digest)).Should().BeTrue($"{artifact.Key} needs the bytes of {reference.Digest}");
            }
        }
    }

    /// <summary>The store of <paramref name="registry"/> opened a second time, as by another process on another machine.</summary>
    private static PostgresRegistryStore SecondOpener(ScenarioRegistry registry)
    {
        var first = (PostgresRegistryStore)registry.Store.Inner;
        var database = first.Where[(first.Where.LastIndexOf('/') + 1)..];
        return PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(database), BlobsPath = first.BlobsPath }, registry.Time);
    }

    [Test]
    public async Task WhileOneOpenersRealRunHoldsTheRunLock_ARealGcOrRetentionRunThroughAnother_IsRefusedAndChangesNothing_ADryRunIsNot()
    {
        // given a store with an untagged image a day old, opened twice; the first opener in a real run (holding the store's run lock)
        var registry = new ScenarioRegistry(_stores);
        var garbage = registry.Image("library/app", [registry.Blob()]);
        registry.Image("library/app", [registry.Blob()], tag: "v1");
        registry.Age();
        using var other = SecondOpener(registry);
        var running = ((IExclusiveRunStore)registry.Store.Inner).TakeRunLock();

        // when the second opener runs GC for real, then retention for real, then a GC dry run
        var gc = () => new GarbageCollector(other, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true });
        var policy = new RetentionPolicy("library", [new RetentionRule(RetentionTemplate.LatestPushedK, 0, RepositorySelector.Matching("**"), TagSelector.Matching("**"))]);
        var retention = () => new RetentionRunner(other, registry.Time).RunAsync(policy);

        // then both real runs are refused saying why, and nothing changed; the dry run plans as usual
        await gc.Should().ThrowAsync<InvalidDataException>().WithMessage("*another harbor-gc real run holds the store's run lock*nothing was changed*");
        await retention.Should().ThrowAsync<InvalidDataException>().WithMessage("*another harbor-gc real run holds the store's run lock*");
        registry.Store.GetArtifacts().Should().HaveCount(2);
        (await new GarbageCollector(other, registry.Time).PlanAsync(new GcOptions { DeleteUntagged = true })).Artifacts.Select(a => a.Key).Should().Equal(garbage.Key);

        // and once the first run ends, the second opener's real run goes ahead
        running.Dispose();
        (await gc()).ArtifactsDeleted.Should().Be(1);
    }

    [Test]
    public async Task ARunKilledWhileHoldingTheRunLock_LeavesNoLockBehind()
    {
        // given a real run holding the store's run lock, whose process dies (its database session ends without unlocking)
        var registry = new ScenarioRegistry(_stores);
        registry.Image("library/app", [registry.Blob()]);
        registry.Age();
        using var other = SecondOpener(registry);
        var held = ((IExclusiveRunStore)registry.Store.Inner).TakeRunLock();
        await using (var admin = await ((PostgresRegistryStore)registry.Store.Inner).OpenConnectionAsync())
        await using (var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1212629843 AND objid = 2 AND pid <> pg_backend_pid()", admin))
        {
            (await kill.ExecuteScalarAsync()).Should().Be(true, "the lock holder's session was there to end");
        }

        // when another opener runs GC for real
        var result = await new GarbageCollector(other, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then it takes the lock and collects
        result.ArtifactsDeleted.Should().Be(1);
        held.Dispose(); // the dead session's unlock fails quietly
    }

    [Test]
    public async Task APush_ThatMeetsASweepsCompareAndSwapInFlight_WaitsForIt_AndIsRefusedRetryably()
    {
        // given a blob a sweep has marked for deletion, and a sweep (another process) in the middle of moving it on to deleting:
        // its UPDATE done, its transaction not yet committed
        var registry = new ScenarioRegistry(_stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        var layer = registry.Blob();
        var config = registry.Blob();
        (await store.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();
        await using var sweep = await store.OpenConnectionAsync();
        await using var inFlight = await sweep.BeginTransactionAsync();
        await using (var cas = new NpgsqlCommand("UPDATE blobs SET status = 2 WHERE digest = @digest AND status = 1", sweep))
        {
            cas.Parameters.AddWithValue("digest", layer.ToHashBytes());
            (await cas.ExecuteNonQueryAsync()).Should().Be(1);
        }

        // when a manifest referencing the blob is pushed meanwhile, and the sweep commits once the push is waiting for it
        var push = Task.Run(() => new RegistryApi(store).PushManifestAsync(RepositoryName.Parse("library/app"), "v1", Image(config, [layer])).AsTask());
        await WaitUntilAWriterWaitsForALockAsync(store, push);
        await inFlight.CommitAsync();

        // then the push, having waited, sees the blob being deleted: refused (retryable), nothing stored
        await push.Invoking(p => p).Should().ThrowAsync<BlobBeingDeletedException>();
        registry.Store.GetArtifacts().Should().BeEmpty();
        registry.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.Deleting, "the push did not take it back");
    }

    [Test]
    public async Task ATagCreatedByAnotherWriterInFlight_MakesACompareAndSwapExpectingNoTag_FailWithTagChanged()
    {
        // given two untagged images, and another writer (another process) in the middle of creating the tag v1 on the first: its
        // row written under the tag's lock, its transaction not yet committed
        var registry = new ScenarioRegistry(_stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        var first = registry.Image("library/app", [registry.Blob()]);
        var second = registry.Image("library/app", [registry.Blob()]);
        await using var other = await store.OpenConnectionAsync();
        await using var inFlight = await other.BeginTransactionAsync();
        await using (var create = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtextextended('tag library/app:v1', 0)); INSERT INTO tags VALUES ('library/app', 'v1', @digest, 0, NULL)", other))
        {
            create.Parameters.AddWithValue("digest", first.Digest.ToHashBytes());
            await create.ExecuteNonQueryAsync();
        }

        // when this writer, having read that v1 does not exist, creates it on the second image, and the other commits meanwhile
        var put = Task.Run(() => store.PutTagAsync(first.Repository, "v1", second.Digest, new TagExpectation(null)).AsTask());
        await WaitUntilAWriterWaitsForALockAsync(store, put);
        await inFlight.CommitAsync();

        // then its compare-and-swap fails, naming the digest the tag has now, and the other writer's tag stands
        (await put.Invoking(p => p).Should().ThrowAsync<TagChangedException>()).Which.Message.Should().Contain(first.Digest.ToString());
        registry.Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(first.Digest);
    }

    [Test]
    public async Task BlobFilesWithoutARecord_AreStaleUploads_ARealRunDeletesThem_ButNeverOneRecordedSince()
    {
        // given a tagged image, and two blob files whose pushes were killed between the rename and the record, a day old for the collector
        var registry = new ScenarioRegistry(_stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        registry.Image("library/app", [registry.Blob()], tag: "v1");
        var lost = Encoding.UTF8.GetBytes("bytes of a push killed after the rename");
        var retried = Encoding.UTF8.GetBytes("bytes a client pushes again");
        var lostPath = WriteUnrecorded(store, lost);
        var retriedPath = WriteUnrecorded(store, retried);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(TimeProvider.System.GetUtcNow() + TimeSpan.FromDays(1));
        var collector = new GarbageCollector(store, time);

        // when a plan lists them, then the second is pushed again (renamed over and recorded), then the store is asked to delete it
        var plan = await collector.PlanAsync(new GcOptions());
        plan.Uploads.Select(u => (u.Repository, u.Id)).Should().BeEquivalentTo(
            [((RepositoryName?)null, "sha256-" + Digest.Sha256Of(lost).Hex), ((RepositoryName?)null, "sha256-" + Digest.Sha256Of(retried).Hex)]);
        // (its last write set back to what the plan saw: same bytes, same size, same times; only the record tells them apart)
        var planned = plan.Uploads.Single(u => u.Id.EndsWith(Digest.Sha256Of(retried).Hex, StringComparison.Ordinal));
        registry.Store.PutBlob(retried);
        File.SetLastWriteTimeUtc(retriedPath, planned.LastWrittenAt.UtcDateTime);
        var outcome = await store.DeleteUploadAsync(planned);

        // then the recorded one is kept, whole
        outcome.Should().Be(UploadDeleteOutcome.Changed);
        File.ReadAllBytes(retriedPath).Should().Equal(retried);
        (await store.GetBlobAsync(Digest.Sha256Of(retried))).Should().NotBeNull();

        // and when a real run follows, the other is deleted as an upload (the recorded one, unreferenced, is a blob for GC now), and
        // the image keeps everything
        var result = await collector.RunAsync(new GcOptions());
        result.UploadsDeleted.Should().Be(1);
        File.Exists(lostPath).Should().BeFalse();
        GcInvariants.AssertNoArtifactLostABlob(registry.Store, "the tagged image is live");
    }

    private static string WriteUnrecorded(PostgresRegistryStore store, byte[] bytes)
    {
        var digest = Digest.Sha256Of(bytes);
        var path = Path.Combine(store.BlobsPath, "sha256", digest.Hex[..2], digest.Hex);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Polls the server until some session of the store's database waits for a lock (the push, blocked by the sweep's row).</summary>
    private static async Task WaitUntilAWriterWaitsForALockAsync(PostgresRegistryStore store, Task push)
    {
        await using var connection = await store.OpenConnectionAsync();
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", connection);
            if ((long)(await command.ExecuteScalarAsync())! > 0 || push.IsCompleted)
            {
                return;
            }

            TimeProvider.System.GetElapsedTime(started).Should().BeLessThan(TimeSpan.FromSeconds(60), "the push must reach the blob's row");
            await Task.Delay(10);
        }
    }
}
