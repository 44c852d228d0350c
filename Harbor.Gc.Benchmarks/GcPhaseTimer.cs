using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.InMemory;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-gc [artifacts] [runs]</c>: a stopwatch breakdown of the dry run <see cref="GcPlanBenchmarks"/> times, on the same
/// generated registry: the store's enumeration alone (a sink that does nothing), then each phase of <c>PlanAsync</c> as its
/// progress reports mark them: reading the snapshot into the graph builder, building the graph and marking, planning; the GC
/// pauses and collections within the run, and the megabytes allocated by the end of each phase. A full collection runs before
/// each run, as BenchmarkDotNet's does. Prints every run and the medians of the runs after the first two (tier-0 code and
/// first-touch page faults).
/// </summary>
internal static class GcPhaseTimer
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    public static async Task RunAsync(int artifacts, int runs)
    {
        var generator = new RegistryGenerator(seed: 42);
        InMemoryRegistryStore store = generator.Generate(artifacts, Now);
        var collector = new GarbageCollector(store, new RegistryGenerator.FixedTime(Now));
        Console.WriteLine($"{artifacts:N0} artifacts; columns in ms: enumerate (empty sink), read, build+mark, plan, total, GC pauses in the run; then gen0/1/2 collections in the run");
        var rows = new List<double[]>();
        for (var run = 1; run <= runs; run++)
        {
            var enumerate = Stopwatch.StartNew();
            await store.ReadSnapshotAsync(new EmptySink());
            enumerate.Stop();

            // as BenchmarkDotNet does before each iteration: the last run's graph is freed, so its memory can be used again
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();

            var phases = new PhaseClock();
            var paused = GC.GetTotalPauseDuration();
            int[] collections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
            var total = Stopwatch.StartNew();
            await collector.PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true, Progress = phases });
            total.Stop();
            var row = new[]
            {
                enumerate.Elapsed.TotalMilliseconds, phases.Read, phases.Mark - phases.Read, total.Elapsed.TotalMilliseconds - phases.Mark,
                total.Elapsed.TotalMilliseconds, (GC.GetTotalPauseDuration() - paused).TotalMilliseconds,
            };
            rows.Add(row);
            var counts = string.Join("/", collections.Select((c, g) => GC.CollectionCount(g) - c));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}: {string.Join("  ", row.Select(v => $"{v,7:F0}"))}  {counts}  allocated MB {string.Join("/", phases.Allocated)}"));
        }

        var steady = rows.Skip(Math.Min(2, rows.Count - 1)).ToList();
        var medians = Enumerable.Range(0, 6).Select(c => Median(steady.Select(r => r[c])));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median: {string.Join("  ", medians.Select(v => $"{v,7:F0}"))}"));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Notes when reading ends (marking starts) and when marking ends; synchronous, unlike <see cref="Progress{T}"/>.</summary>
    private sealed class PhaseClock : IProgress<GcProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        private readonly long _allocated = GC.GetTotalAllocatedBytes(precise: true);

        public double Read { get; private set; }

        public double Mark { get; private set; }

        /// <summary>MB allocated by the end of reading, of build + mark, of planning.</summary>
        public long[] Allocated { get; } = new long[3];

        public void Report(GcProgress value)
        {
            if (value is { Phase: GcPhase.Marking, Done: 0 })
            {
                Read = _clock.Elapsed.TotalMilliseconds;
                Allocated[0] = Megabytes();
            }
            else if (value is { Phase: GcPhase.Marking, Done: 1 })
            {
                Mark = _clock.Elapsed.TotalMilliseconds;
                Allocated[1] = Megabytes();
            }
            else if (value is { Phase: GcPhase.Planning, Done: 1 })
            {
                Allocated[2] = Megabytes();
            }
        }

        private long Megabytes() => (GC.GetTotalAllocatedBytes(precise: true) - _allocated) >> 20;
    }

    /// <summary>Takes every record and does nothing: the store's own cost of a snapshot.</summary>
    private sealed class EmptySink : ISnapshotSink
    {
        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Model.Blob blob)
        {
        }

        public void OnArtifact(Model.Artifact artifact)
        {
        }

        public void OnTag(Model.Tag tag)
        {
        }

        public void OnAccessoryLink(Model.AccessoryLink link)
        {
        }

        public void OnLayerLink(Model.LayerLink link)
        {
        }

        public void OnProblem(StoreProblem problem)
        {
        }
    }
}
