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
        var before = pushers.Pushed.Count;
        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4, Progress = pushers.HoldSweepUntilMorePushes(3) });
        var duringRun = pushers.Pushed.Count - before;
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

    [Test]
    public async Task AMediaTypeFirstPushedThroughAnotherOpener_IsReadBackByName_ByAnOpenerThatHadReadTheMediaTypesBefore()
    {
        // given two openers of one store (two processes), the second having read the store's media types already (a dry run)
        var registry = new ScenarioRegistry(_stores);
        registry.Image("library/app", [registry.Blob()], tag: "v1");
        using var other = SecondOpener(registry);
        (await new GarbageCollector(other, registry.Time).PlanAsync(new GcOptions { DryRun = true })).Artifacts.Should().BeEmpty();

        // when the first pushes an artifact whose artifact type and layer media type no push had (new ids in media_types)
        var layer = registry.Blob(40, "application/vnd.example.report.v1+json");
        var config = registry.Blob(20, MediaTypes.OciConfig);
        var report = registry.Store.PutArtifact(new Artifact
        {
            Repository = ScenarioRegistry.Repo("library/app"),
            Digest = registry.Blob(200, MediaTypes.OciManifest),
            MediaType = MediaTypes.OciManifest,
            Kind = ManifestKind.OciManifest,
            ArtifactType = "application/vnd.example.report",
            Size = 200,
            References = [new BlobReference(config, 20, MediaTypes.OciConfig, BlobReferenceKind.Config), new BlobReference(layer, 40, "application/vnd.example.report.v1+json", BlobReferenceKind.Layer)],
            PushedAt = registry.Time.GetUtcNow(),
        });

        // then the second reads it back with those names (it reads the media types again on meeting an id it has not seen),
        // through a lookup and through a snapshot
        var read = await other.GetArtifactAsync(report.Key);
        read!.ArtifactType.Should().Be("application/vnd.example.report");
        read.References.Select(r => r.MediaType).Should().Equal(MediaTypes.OciConfig, "application/vnd.example.report.v1+json");
        registry.Age();
        var plan = await new GarbageCollector(other, registry.Time).PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true });
        plan.Artifacts.Should().ContainSingle(a => a.Key == report.Key, "the untagged report is garbage to the second opener's snapshot too");
    }

    /// <summary>The store of <paramref name="registry"/> opened a second time, as by another process on another machine.</summary>
    private static PostgresRegistryStore SecondOpener(ScenarioRegistry registry)
    {
        var first = (PostgresRegistryStore)registry.Store.Inner;
        var database = first.Where[(first.Where.LastIndexOf('/') + 1)..];
        return PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(database), BlobsPath = first.BlobsPath }, registry.Time);
    }

    [Test]
    public async Task TwoRealGcAndRetentionRunsAtOnce_ThroughTwoOpeners_BothGoAhead_AndEachDeletionIsMadeOnce()
    {
        // given two untagged images a day old and a tagged one, opened twice (two collector processes)
        var registry = new ScenarioRegistry(_stores);
        registry.Image("library/app", [registry.Blob(), registry.Blob()]);
        registry.Image("library/app", [registry.Blob()]);
        registry.Image("library/app", [registry.Blob()], tag: "v1");
        foreach (var unused in new[] { registry.Blob(), registry.Blob() })
        {
            registry.Store.PutLayerLink(new LayerLink(ScenarioRegistry.Repo("library/app"), unused, registry.Time.GetUtcNow())); // links no manifest uses
        }

        registry.Age();
        using var other = SecondOpener(registry);
        var first = new GarbageCollector(registry.Store.Inner, registry.Time);
        var second = new GarbageCollector(other, registry.Time);
        var garbage = await first.PlanAsync(new GcOptions { DeleteUntagged = true });

        // when the second collector's whole real run happens while the first's sweep starts (a hook at its first sweep report)
        GcResult? inside = null;
        var hook = new SweepStartHook(() => inside = second.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4 }).GetAwaiter().GetResult());
        var outside = await first.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4, Progress = hook });
        var policy = new RetentionPolicy("library", [new RetentionRule(RetentionTemplate.LatestPushedK, 0, RepositorySelector.Matching("**"), TagSelector.Matching("**"))]);
        var retentions = await Task.WhenAll(
            new RetentionRunner(registry.Store.Inner, registry.Time).RunAsync(policy), new RetentionRunner(other, registry.Time).RunAsync(policy));

        // then both ran (no run lock); between them they deleted each garbage artifact and blob once, and nothing is left twice counted
        inside.Should().NotBeNull("the second run went ahead while the first was running");
        (inside!.ArtifactsDeleted + outside.ArtifactsDeleted).Should().Be(garbage.Artifacts.Count);
        (inside.BlobsDeleted + outside.BlobsDeleted).Should().Be(garbage.Blobs.Count);
        garbage.LayerLinks.Should().HaveCount(2);
        (inside.LayerLinksDeleted + outside.LayerLinksDeleted).Should().Be(2);
        garbage.Blobs.Should().OnlyContain(b => registry.Store.GetBlob(b.Digest) == null && !registry.Store.Inner.HasBlobContentAsync(b.Digest, default).AsTask().Result);
        // both retention runs went ahead too; v1 was deleted once (the other found it gone)
        retentions.Sum(r => r.Execution!.Deleted.Length).Should().Be(1);
        registry.Store.GetArtifacts().Should().BeEmpty();
    }

    [Test]
    public async Task ABlobAnotherCollectorIsDeleting_IsLeftToIt_AndFinishedByTheNextRunOnceThatCollectorIsKilled()
    {
        // given an untagged image a day old, and a collector (another process) that deleted it and is in the middle of deleting its
        // layer: the layer claimed by its sweep and committed to deletion (deleting), the bytes not yet removed
        var registry = new ScenarioRegistry(_stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        var layer = registry.Blob();
        var image = registry.Image("library/app", [layer]);
        registry.Age();
        await using var claims = await ((ISharedSweepStore)store).BeginClaimsAsync(default);
        var claim = await claims.TryClaimBlobAsync(layer, default);
        claim.Should().NotBeNull();
        (await store.DeleteArtifactAsync(image.Key, (await store.GetArtifactAsync(image.Key))!.Version)).Should().Be(ArtifactDeleteOutcome.Deleted);
        (await store.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();
        (await store.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, null)).Should().BeTrue();
        using var other = SecondOpener(registry);

        // when another collector runs for real meanwhile
        var during = await new GarbageCollector(other, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then it plans the layer (a blob committed to deletion) but leaves it to the collector that holds it: not deleted, not counted
        during.Plan.Blobs.Select(b => b.Digest).Should().Contain(layer);
        during.BlobsDeleted.Should().Be(during.Plan.Blobs.Count - 1, "every other blob of the plan was deleted");
        during.BlobsSkipped.Should().NotContain(layer);
        registry.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.Deleting);
        (await store.HasBlobContentAsync(layer)).Should().BeTrue();

        // when the first collector is killed (its sweep's session ends without releasing anything), and another run follows
        await using (var admin = await store.OpenConnectionAsync())
        await using (var kill = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            + "WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = 1212629826 AND l.granted AND a.application_name = @name AND a.datname = current_database()", admin))
        {
            // the session that holds the claim (the other collector's ended sessions may still be listed for a moment)
            kill.Parameters.AddWithValue("name", PostgresRegistryStore.ClaimsApplicationName);
            (await kill.ExecuteScalarAsync()).Should().Be(1L, "the killed collector's sweep session was there to end");
        }

        var after = await new GarbageCollector(other, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then that run finishes the half-deleted layer: record and bytes gone, counted once
        after.BlobsDeleted.Should().Be(1);
        registry.Store.GetBlob(layer).Should().BeNull();
        (await store.HasBlobContentAsync(layer)).Should().BeFalse();
    }

    [Test]
    public async Task ABlobAnotherCollectorFinishesAfterThePlan_AndAPushUploadsAgain_IsKeptWhole()
    {
        // given an untagged image a day old whose layer another collector (another process) has claimed and committed to deleting
        var registry = new ScenarioRegistry(_stores);
        var store = (PostgresRegistryStore)registry.Store.Inner;
        var layer = registry.Blob();
        var bytes = registry.Store.Contents[layer];
        var image = registry.Image("library/app", [layer]);
        registry.Age();
        var claims = await ((ISharedSweepStore)store).BeginClaimsAsync(default);
        var claim = (await claims.TryClaimBlobAsync(layer, default))!;
        (await store.DeleteArtifactAsync(image.Key, (await store.GetArtifactAsync(image.Key))!.Version)).Should().Be(ArtifactDeleteOutcome.Deleted);
        (await store.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();
        (await store.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, null)).Should().BeTrue();
        using var other = SecondOpener(registry);
        Artifact? pushed = null;

        // when a second collector plans (seeing the layer in deleting), and before its sweep starts the first collector finishes the
        // layer and ends, and a client pushes the same layer again in a new tagged image
        var hook = new SweepStartHook(() =>
        {
            store.DeleteBlobContentAsync(layer).AsTask().GetAwaiter().GetResult();
            store.DeleteBlobRecordAsync(layer).AsTask().GetAwaiter().GetResult();
            claim.DisposeAsync().AsTask().GetAwaiter().GetResult();
            claims.DisposeAsync().AsTask().GetAwaiter().GetResult();
            var api = new RegistryApi(store);
            var config = Encoding.UTF8.GetBytes("{\"config\":\"pushed again\"}");
            api.PushBlobAsync(Digest.Sha256Of(config), new MemoryStream(config)).AsTask().GetAwaiter().GetResult();
            api.PushBlobAsync(layer, new MemoryStream(bytes)).AsTask().GetAwaiter().GetResult();
            pushed = api.PushManifestAsync(image.Repository, "v2", Image(Digest.Sha256Of(config), [layer])).AsTask().GetAwaiter().GetResult();
        });
        var result = await new GarbageCollector(other, registry.Time).RunAsync(new GcOptions { DeleteUntagged = true, Progress = hook });

        // then the second collector does not finish what it planned: the layer pushed again keeps its record and bytes, and is
        // reported kept
        result.Plan.Blobs.Select(b => b.Digest).Should().Contain(layer);
        pushed.Should().NotBeNull();
        result.BlobsSkipped.Should().Contain(layer);
        registry.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.None);
        (await store.HasBlobContentAsync(layer)).Should().BeTrue();
        (await store.GetArtifactAsync(pushed!.Key)).Should().NotBeNull();
    }

    /// <summary>Runs an action, once, at a run's first sweep report (after its plan, before its first deletion).</summary>
    private sealed class SweepStartHook(Action action) : IProgress<GcProgress>
    {
        private int _done;

        public void Report(GcProgress value)
        {
            if (value.Phase == GcPhase.Sweeping && Interlocked.Exchange(ref _done, 1) == 0)
            {
                action();
            }
        }
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

    [Test]
    public async Task PushesSharingBlobsInOppositeOrders_FromTwoOpeners_AtOnce_NeverDeadlock()
    {
        // given six layers every push shares and a config for each opener, in a store opened twice (as by two registry processes)
        var registry = new ScenarioRegistry(_stores);
        using var other = SecondOpener(registry);
        RegistryApi[] apis = [new((PostgresRegistryStore)registry.Store.Inner), new(other)];
        var layers = Enumerable.Range(0, 6).Select(_ => registry.Blob()).ToArray();
        Digest[] configs = [registry.Blob(mediaType: MediaTypes.OciConfig), registry.Blob(mediaType: MediaTypes.OciConfig)];
        var contents = registry.Store.Contents;
        const int Rounds = 60;

        // when, round after round, each opener uploads the shared blobs again and then pushes a manifest of them, the first opener
        // in one order and the second in the opposite one, both manifests let go at the same moment (a deadlock would be
        // PostgreSQL's 40P01)
        var repository = RepositoryName.Parse("library/app");
        var started = TimeProvider.System.GetTimestamp();
        for (var round = 0; round < Rounds; round++)
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var ready = new CountdownEvent(2);
            var pushes = Enumerable.Range(0, 2).Select(opener => Task.Run(async () =>
            {
                var order = opener == 0 ? layers : [.. layers.Reverse()];
                var own = Encoding.UTF8.GetBytes($"round {round} opener {opener}");
                foreach (var digest in order.Append(configs[opener]))
                {
                    using var stream = new MemoryStream(contents[digest], writable: false);
                    await apis[opener].PushBlobAsync(digest, stream);
                }

                using (var stream = new MemoryStream(own, writable: false))
                {
                    await apis[opener].PushBlobAsync(Digest.Sha256Of(own), stream);
                }

                ready.Signal();
                await go.Task;
                return await apis[opener].PushManifestAsync(repository, $"r{round}-o{opener}", Image(configs[opener], [.. order, Digest.Sha256Of(own)]));
            })).ToList();
            await Task.Run(() => ready.Wait(TimeSpan.FromSeconds(60)));
            go.SetResult();
            await Task.WhenAll(pushes).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // then every push went through, and each tag names its manifest, whichever opener reads it
        var elapsed = TimeProvider.System.GetElapsedTime(started);
        await TestContext.Out.WriteLineAsync($"{Rounds} rounds of two pushes in opposite orders in {elapsed.TotalSeconds:F1} s");
        registry.Store.GetTags().Should().HaveCount(2 * Rounds);
        foreach (var api in apis)
        {
            (await api.PullManifestAsync(repository, $"r{Rounds - 1}-o1")).Should().NotBeNull();
        }
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
