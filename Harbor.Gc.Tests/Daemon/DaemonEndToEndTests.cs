using System.Diagnostics;
using Harbor.Gc.Collection;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// Issue 6's end-to-end test: the real <c>harbor-gc daemon</c> process, a GC job firing every 3 seconds on a LiteDB store holding
/// a random registry, stopped by SIGTERM in the middle of a run.
/// </summary>
[NonParallelizable]
public class DaemonEndToEndTests
{
    private const int Seed = 6;
    private const int Scale = 60;
    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(15);

    [Test]
    [CancelAfter(120_000)]
    public async Task Sigterm_MidRun_StopsAfterTheItemInHand_ExitsZero_AndTheHistoryIsRight()
    {
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        var database = Path.Combine(folder, "harbor-gc.db");
        var clock = new ManualClock(RandomRegistry.Now);
        CollectionPlan before;
        using (var fill = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), clock)))
        {
            RandomRegistry.Fill(fill, clock, Seed, Scale);
            before = await new GarbageCollector(fill.Inner, TimeProvider.System).PlanAsync(new GcOptions { DeleteUntagged = true });
        }

        before.Summary.Blobs.Should().BeGreaterThan(100, "the run must take a while");
        var blobFiles = Directory.EnumerateFiles(Path.Combine(folder, "blobs"), "*", SearchOption.AllDirectories).Count();
        var history = Path.Combine(folder, "history.db");
        var config = Path.Combine(folder, "daemon.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "history": "history.db",
              "jobs": [
                { "name": "gc-every-3s", "kind": "gc", "deleteUntagged": true, "store": "litedb:harbor-gc.db", "schedule": "*/3 * * * * *", "workers": 1 }
              ]
            }
            """);

        // given the daemon, when a scheduled run has deleted some blobs, then SIGTERM
        var stopwatch = Stopwatch.StartNew();
        using (var daemon = DaemonProcess.Start(config))
        {
            await daemon.WaitForHistoryAsync(history, runs => runs.Any(r => r.Status == RunStatus.Running), TimeSpan.FromSeconds(20), "a run in progress");
            var deleting = Stopwatch.StartNew();
            while (Directory.EnumerateFiles(Path.Combine(folder, "blobs"), "*", SearchOption.AllDirectories).Count() > blobFiles - 10)
            {
                deleting.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(20), $"the run deletes blobs; output:\n{daemon.Output}");
                await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
            }

            daemon.Terminate();
            (await daemon.WaitForExitAsync(ExitBound)).Should().Be(0, $"SIGTERM stops the daemon cleanly; output:\n{daemon.Output}");
            TestContext.Out.WriteLine($"first daemon stopped after {stopwatch.Elapsed}:\n{daemon.Output}");
        }

        using (var runs = RunHistory.Open(history, create: false))
        {
            var stopped = runs.List(null, 100).Should().ContainSingle(r => r.Status != RunStatus.Skipped).Subject;
            stopped.Status.Should().Be(RunStatus.Stopped, "the signal came mid-run");
            stopped.Trigger.Should().Be(RunTrigger.Schedule);
            stopped.Blobs.Should().BeInRange(10, before.Summary.Blobs - 1, "it stopped after some deletions, before the end");
            stopped.FinishedAt.Should().NotBeNull();
            stopped.Log.Should().Contain(l => l.Contains("stopped", StringComparison.Ordinal));
            runs.ReadReport(stopped.Id).Should().Contain("\"kind\": \"gc\"");
        }

        // when the daemon starts again, the next run carries on and completes; a later one finds nothing
        using (var daemon = DaemonProcess.Start(config))
        {
            await daemon.WaitForHistoryAsync(
                history,
                runs => runs.Count(r => r.Status == RunStatus.Succeeded) >= 2,
                TimeSpan.FromSeconds(30),
                "two completed runs after the restart");
            daemon.Terminate();
            (await daemon.WaitForExitAsync(ExitBound)).Should().Be(0, $"SIGTERM stops the daemon cleanly; output:\n{daemon.Output}");
        }

        TestContext.Out.WriteLine($"both daemons done after {stopwatch.Elapsed}");
        using (var runs = RunHistory.Open(history, create: false))
        {
            var all = runs.List(null, 1000).OrderBy(r => r.Id).ToList();
            foreach (var run in all)
            {
                TestContext.Out.WriteLine($"{run.Id} {run.Status} {run.Artifacts} artifacts {run.Blobs} blobs {run.Bytes} bytes {run.Message}");
            }

            all.Should().NotContain(r => r.Status == RunStatus.Running || r.Status == RunStatus.Failed);
            // ticks that came while a run was in progress are skipped, and say so (there may be none: a fast machine finishes within 3 s)
            all.Where(r => r.Status == RunStatus.Skipped && !r.Message!.Contains("overlap", StringComparison.Ordinal)).Should().BeEmpty();
            var completed = all.Where(r => r.Status == RunStatus.Succeeded).ToList();
            completed[0].Blobs.Should().BeGreaterThan(0, "the first completed run finishes what the stopped run left");
            completed.Skip(1).Should().OnlyContain(r => r.Blobs == 0 && r.Artifacts == 0, "nothing is left to collect");
            all.Sum(r => r.Artifacts).Should().Be(before.Summary.Artifacts, "the stopped run and the one that carried on together deleted the plan's artifacts");
            all.Sum(r => r.Bytes).Should().Be(before.Summary.Bytes);
        }

        // then the store is consistent: no artifact lost a blob, and nothing is left to collect
        using var after = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), clock));
        GcInvariants.AssertNoArtifactLostABlob(after, "after a run stopped by SIGTERM and the run that carried on");
        var remaining = await new GarbageCollector(after.Inner, TimeProvider.System).PlanAsync(new GcOptions { DeleteUntagged = true });
        remaining.Summary.Blobs.Should().Be(0);
        remaining.Summary.Artifacts.Should().Be(0);
    }
}
