using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>
/// DESIGN.md §5: for every crash point, no remaining artifact references a blob whose bytes are gone, and a killed run leaves
/// only garbage that the next run collects. Stopping finishes the item in hand and exits cleanly.
/// </summary>
/// <remarks>60 random registries for the in-memory store, 8 for LiteDB (each crash point reopens a copy of the registry from disk).</remarks>
public class GcCrashSafetyTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task Run_KilledAfterEveryStep_NeverLosesALiveBlob_AndTheNextRunFinishes()
    {
        var crashPoints = 0;
        for (var seed = 0; seed < PerStore(inMemory: 60, liteDb: 8, postgres: 2); seed++)
        {
            // the outcome of one uninterrupted run on the same registry
            var (clean, cleanTime, _) = BuildRandom(seed, scale: 2);
            var counter = new CrashingStore(clean.Inner);
            await new GarbageCollector(counter, cleanTime).RunAsync(new GcOptions { DeleteUntagged = true });
            var expected = GcPropertyTests.Snapshot(clean);
            clean.Dispose();

            for (var crashAt = 1; crashAt <= counter.Mutations; crashAt++, crashPoints++)
            {
                var (store, time, description) = BuildRandom(seed, scale: 2);
                var because = $"seed {seed}, killed at mutation {crashAt} of {counter.Mutations}: {description}";

                var crashed = () => new GarbageCollector(new CrashingStore(store.Inner, crashAt), time).RunAsync(new GcOptions { DeleteUntagged = true });

                await crashed.Should().ThrowAsync<SimulatedCrashException>(because);
                GcInvariants.AssertNoArtifactLostABlob(store, because);
                await new GarbageCollector(store.Inner, time).RunAsync(new GcOptions { DeleteUntagged = true });
                var after = GcPropertyTests.Snapshot(store);
                after.Artifacts.Should().BeEquivalentTo(expected.Artifacts, because);
                after.Blobs.Should().BeEquivalentTo(expected.Blobs, because);
                after.Tags.Should().BeEquivalentTo(expected.Tags, because);
                store.Dispose();
            }
        }

        crashPoints.Should().BeGreaterThan(PerStore(inMemory: 1_000, liteDb: 120, postgres: 30), "the registries are large enough to exercise every kind of step");
    }

    [Test]
    public async Task Run_Cancelled_StopsAfterTheItemInHand_AndTheNextRunFinishes()
    {
        var (store, time, description) = BuildRandom(seed: 7, scale: 4);
        using var cancel = new CancellationTokenSource();
        var stopping = new CrashingStore(store.Inner) { OnMutation = n => { if (n == 5) cancel.Cancel(); } };

        var stopped = await new GarbageCollector(stopping, time).RunAsync(new GcOptions { DeleteUntagged = true }, cancel.Token);

        stopped.Outcome.Should().Be(GcOutcome.Stopped, description);
        stopped.StopReason.Should().Be(GcStopReason.Cancelled);
        stopping.Mutations.Should().BeInRange(5, 6, "the run stops after the item in hand: a blob takes at most two more steps past the cancel");
        GcInvariants.AssertNoArtifactLostABlob(store, description);
        var next = await new GarbageCollector(store.Inner, time).RunAsync(new GcOptions { DeleteUntagged = true });
        next.Outcome.Should().Be(GcOutcome.Completed);
        (await new GarbageCollector(store.Inner, time).PlanAsync(new GcOptions { DeleteUntagged = true })).Blobs.Should().BeEmpty();
    }

    [Test]
    public async Task Run_PastMaxDuration_StopsCleanly_WithTheReason()
    {
        var (store, time, description) = BuildRandom(seed: 11, scale: 4);
        var slow = new CrashingStore(store.Inner) { OnMutation = _ => time.Advance(TimeSpan.FromSeconds(1)) };

        var result = await new GarbageCollector(slow, time).RunAsync(new GcOptions { DeleteUntagged = true, MaxDuration = TimeSpan.FromSeconds(3) });

        result.Outcome.Should().Be(GcOutcome.Stopped, description);
        result.StopReason.Should().Be(GcStopReason.MaxDuration);
        slow.Mutations.Should().BeLessThan(10, "the run stopped about three (fake) seconds in");
        GcInvariants.AssertNoArtifactLostABlob(store, description);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Run_PastMaxDurationWhileReading_StopsBeforeThePlan_AndDeletesNothing(bool dryRun)
    {
        // given a store whose read takes longer than the run's maximum duration (the fake clock moves 2 minutes as it starts)
        var (store, time, description) = BuildRandom(seed: 11, scale: 4);
        var slow = HookedStore.Create(store.Inner, (method, _) =>
        {
            if (method == nameof(IRegistryStore.ReadSnapshotAsync))
            {
                time.Advance(TimeSpan.FromMinutes(2));
            }
        });
        var before = GcPropertyTests.Snapshot(store);

        // when a run (dry or real) with a one-minute maximum duration
        var result = await new GarbageCollector(slow, time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, MaxDuration = TimeSpan.FromMinutes(1), DryRun = dryRun });

        // then it stops before its plan is made, for that reason, and deletes nothing
        (result.Outcome, result.StopReason).Should().Be((GcOutcome.Stopped, GcStopReason.MaxDuration), description);
        (result.ArtifactsDeleted, result.BlobsDeleted, result.Plan.Artifacts.Count, result.Plan.Blobs.Count).Should().Be((0, 0, 0, 0));
        AssertSame(GcPropertyTests.Snapshot(store), before, description);
        using var report = JsonDocument.Parse(GcReportWriter.ToJson(result));
        (report.RootElement.GetProperty("stopReason").GetString(), report.RootElement.GetProperty("stoppedWhile").GetString(), report.RootElement.GetProperty("planned").GetBoolean())
            .Should().Be(("max-duration", "reading-store", false));
    }

    [Test]
    public async Task Run_PastMaxDurationWhilePlanning_DeletesNothing()
    {
        // given a run whose planning takes longer than its maximum duration (the fake clock moves 2 minutes as planning starts)
        var (store, time, description) = BuildRandom(seed: 11, scale: 4);
        var before = GcPropertyTests.Snapshot(store);
        var progress = new Reporter(p =>
        {
            if (p is { Phase: GcPhase.Planning, Done: 0 })
            {
                time.Advance(TimeSpan.FromMinutes(2));
            }
        });

        // when a real run with a one-minute maximum duration
        var result = await new GarbageCollector(store.Inner, time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, MaxDuration = TimeSpan.FromMinutes(1), Progress = progress });

        // then it stops (while planning, or at the latest before the sweep's first item) and deletes nothing
        (result.Outcome, result.StopReason).Should().Be((GcOutcome.Stopped, GcStopReason.MaxDuration), description);
        (result.ArtifactsDeleted, result.BlobsDeleted, result.UploadsDeleted).Should().Be((0, 0, 0));
        AssertSame(GcPropertyTests.Snapshot(store), before, description);
    }

    [Test]
    public async Task Run_CancelledWhileReading_ReturnsAStoppedResult_AndDeletesNothing()
    {
        // given a run cancelled (SIGTERM, in the command line) as it starts reading the store
        var (store, time, description) = BuildRandom(seed: 7, scale: 4);
        using var cancel = new CancellationTokenSource();
        var reading = HookedStore.Create(store.Inner, (method, _) =>
        {
            if (method == nameof(IRegistryStore.ReadSnapshotAsync))
            {
                cancel.Cancel();
            }
        });
        var before = GcPropertyTests.Snapshot(store);

        // when it runs
        var result = await new GarbageCollector(reading, time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero }, cancel.Token);

        // then it returns a stopped result (it does not throw), before the plan, and deleted nothing
        (result.Outcome, result.StopReason).Should().Be((GcOutcome.Stopped, GcStopReason.Cancelled), description);
        result.Plan.Artifacts.Should().BeEmpty();
        AssertSame(GcPropertyTests.Snapshot(store), before, description);
        using var report = JsonDocument.Parse(GcReportWriter.ToJson(result.WithStoppedBy("SIGTERM")));
        (report.RootElement.GetProperty("outcome").GetString(), report.RootElement.GetProperty("stopReason").GetString(), report.RootElement.GetProperty("planned").GetBoolean())
            .Should().Be(("stopped", "SIGTERM", false));
    }

    private static void AssertSame(
        (HashSet<ArtifactKey> Artifacts, HashSet<Digest> Blobs, HashSet<(RepositoryName, string, Digest)> Tags) after,
        (HashSet<ArtifactKey> Artifacts, HashSet<Digest> Blobs, HashSet<(RepositoryName, string, Digest)> Tags) before,
        string because)
    {
        after.Artifacts.Should().BeEquivalentTo(before.Artifacts, "nothing was deleted: " + because);
        after.Blobs.Should().BeEquivalentTo(before.Blobs, "nothing was deleted: " + because);
        after.Tags.Should().BeEquivalentTo(before.Tags, "nothing was deleted: " + because);
    }

    /// <summary>Hears progress on the thread doing the work (<see cref="Progress{T}"/> would post it elsewhere).</summary>
    private sealed class Reporter(Action<GcProgress> report) : IProgress<GcProgress>
    {
        public void Report(GcProgress value) => report(value);
    }
}
