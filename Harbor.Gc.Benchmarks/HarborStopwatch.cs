using System.Diagnostics;
using Harbor.Gc.Tests.Integration;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-harbor [artifacts] [runs]</c>: makes the <see cref="HarborInstallation"/> (printing how long its tree, its read and the
/// database fill took), checks it as <see cref="HarborStoreBenchmarks"/> does, then times each of the benchmark's three operations
/// <paramref name="runs"/> times in turn in this process (wall time and bytes allocated per run, median, min and max). A quick look
/// without BenchmarkDotNet's child processes, each of which fills its own database.
/// </summary>
internal static class HarborStopwatch
{
    public static async Task RunAsync(int artifacts, int runs)
    {
        var watch = Stopwatch.StartNew();
        var installation = await HarborInstallation.CreateAsync(artifacts).ConfigureAwait(false);
        Console.WriteLine($"installation ready in {watch.Elapsed.TotalSeconds:F0} s: {installation.Summary}");
        try
        {
            watch.Restart();
            Console.WriteLine($"{await HarborStoreBenchmarks.CheckAsync(installation).ConfigureAwait(false)} (checked in {watch.Elapsed.TotalSeconds:F1} s)");
            var operations = new (string Name, Func<Task> Run)[]
            {
                ("harbor: snapshot + dry run", () => HarborStoreBenchmarks.PlanAsync(installation)),
                ("database queries alone", () => HarborStoreBenchmarks.QueryAsync(installation.ConnectionString)),
                ("storage read alone", async () => await new HarborStoreBenchmarks { Artifacts = artifacts }.StorageReadOf(installation).ConfigureAwait(false)),
            };
            var times = operations.Select(_ => new List<(double Ms, long Bytes)>()).ToArray();
            for (var run = 0; run < runs; run++)
            {
                for (var i = 0; i < operations.Length; i++)
                {
                    GC.Collect();
                    var allocated = GC.GetTotalAllocatedBytes(precise: true);
                    watch.Restart();
                    await operations[i].Run().ConfigureAwait(false);
                    var ms = watch.Elapsed.TotalMilliseconds;
                    times[i].Add((ms, GC.GetTotalAllocatedBytes(precise: true) - allocated));
                    Console.WriteLine($"run {run + 1}: {operations[i].Name}: {ms:N0} ms, {times[i][^1].Bytes / 1e6:N0} MB allocated");
                }
            }

            for (var i = 0; i < operations.Length; i++)
            {
                var sorted = times[i].Select(t => t.Ms).Order().ToList();
                Console.WriteLine($"{operations[i].Name}: median {sorted[sorted.Count / 2]:N0} ms, min {sorted[0]:N0} ms, max {sorted[^1]:N0} ms, "
                    + $"{times[i].Select(t => t.Bytes).Order().ElementAt(times[i].Count / 2) / 1e6:N0} MB allocated (median) over {runs} runs");
            }
        }
        finally
        {
            PostgresCluster.StopShared();
        }
    }
}
