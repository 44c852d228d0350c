using Harbor.Gc.Collection;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Collection;

/// <summary>Progress of a run through <see cref="GcOptions.Progress"/>, and the CLI's one-line display of it.</summary>
public class GcProgressTests
{
    /// <summary>Records every report on the reporting thread (no synchronization context, unlike <see cref="Progress{T}"/>).</summary>
    private sealed class Recorder : IProgress<GcProgress>
    {
        public List<GcProgress> Reports { get; } = [];

        public void Report(GcProgress value)
        {
            lock (Reports)
            {
                Reports.Add(value);
            }
        }
    }

    [TestCase(StoreKind.InMemory, 1500, Description = "over 4,096 blobs and artifacts: the reading phase reports every 4,096")]
    [TestCase(StoreKind.LiteDb, 200, Description = "fewer: LiteDB pushes are slow")]
    [TestCase(StoreKind.Postgres, 1400, Description = "over 4,096 records handed to the graph builder as columns, counted as records are")]
    public async Task RealRun_ReportsEveryPhaseInOrder_EachFromZeroToItsTotal(StoreKind kind, int images)
    {
        // given untagged images and a tagged one
        using var stores = new StoreFactory(kind);
        var r = new ScenarioRegistry(stores);
        for (var i = 0; i < images; i++)
        {
            r.Image("library/app", [r.Blob()]);
        }

        r.Image("library/app", [r.Blob()], tag: "v1");
        r.Age();
        var recorder = new Recorder();

        var result = await r.Collector().RunAsync(new GcOptions { DeleteUntagged = true, Progress = recorder });

        var reports = recorder.Reports;
        var phases = reports.Select(p => p.Phase).Aggregate(new List<GcPhase>(), (list, p) =>
        {
            if (list.Count == 0 || list[^1] != p)
            {
                list.Add(p);
            }

            return list;
        });
        phases.Should().Equal(GcPhase.ReadingStore, GcPhase.Marking, GcPhase.Planning, GcPhase.Sweeping);
        foreach (var phase in reports.GroupBy(p => p.Phase))
        {
            phase.First().Done.Should().Be(0, $"{phase.Key} starts at 0");
            phase.Last().Done.Should().Be(phase.Last().Total, $"{phase.Key} ends with everything done");
            phase.Select(p => p.Done).Should().BeInAscendingOrder();
        }

        var stats = result.Plan.Statistics!;
        reports.Last(p => p.Phase == GcPhase.ReadingStore).Done.Should().Be(stats.Artifacts + stats.Blobs);
        reports.Count(p => p.Phase == GcPhase.ReadingStore).Should().Be(2 + (stats.Artifacts + stats.Blobs) / 4096, "the start, every 4,096 items, the end");
        var sweep = reports.Where(p => p.Phase == GcPhase.Sweeping).ToList();
        sweep[^1].Total.Should().Be(result.Plan.Artifacts.Count + result.Plan.Blobs.Count + result.Plan.LayerLinks.Count + result.Plan.Uploads.Count);
        sweep.Count.Should().BeInRange((int)Math.Min(sweep[^1].Total!.Value, 500) + 1, 1002, "one per item up to about a thousand steps, never more");
    }

    [Test]
    public async Task DryRun_HasNoSweep()
    {
        var r = new ScenarioRegistry();
        r.Image("library/app", [r.Blob()]);
        r.Age();
        var recorder = new Recorder();

        await r.Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true, Progress = recorder });

        recorder.Reports.Select(p => p.Phase).Distinct().Should().Equal(GcPhase.ReadingStore, GcPhase.Marking, GcPhase.Planning);
    }

    [Test]
    public void ProgressLine_RewritesOneLine_AtMostTenTimesASecond_AndErasesItself()
    {
        var output = new StringWriter();
        var time = new FakeTimeProvider();
        var line = new ProgressLine(output, time);

        line.Report(new GcProgress(GcPhase.Sweeping, 0, 2000));
        line.Report(new GcProgress(GcPhase.Sweeping, 10, 2000)); // 0 ms later: skipped
        time.Advance(TimeSpan.FromMilliseconds(150));
        line.Report(new GcProgress(GcPhase.Sweeping, 1000, 2000));
        line.Report(new GcProgress(GcPhase.Sweeping, 2000, 2000)); // the end is always shown
        line.Clear();

        output.ToString().Should().Be(
            "\rsweeping: 0 of 2,000 (0%)" +
            "\rsweeping: 1,000 of 2,000 (50%)" +
            "\rsweeping: 2,000 of 2,000 (100%)" +
            "\r" + new string(' ', "sweeping: 2,000 of 2,000 (100%)".Length) + "\r");
        ProgressLine.Describe(new GcProgress(GcPhase.ReadingStore, 4096, null)).Should().Be("reading the store: 4,096 items");
        ProgressLine.Describe(new GcProgress(GcPhase.Marking, 0, 1)).Should().Be("marking…");
    }

    [Test]
    public void ProgressLine_IsOff_WhenStderrIsNotTheConsole_OrQuiet()
    {
        ProgressLine.ForConsole(new StringWriter(), quiet: false, TimeProvider.System).Should().BeNull("not a terminal");
        ProgressLine.ForConsole(Console.Error, quiet: true, TimeProvider.System).Should().BeNull("--quiet");
    }
}
