using System.Diagnostics;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A quick stopwatch run of the retention scenario, for finding where time goes without BenchmarkDotNet's full run:
/// <c>dotnet run -c Release --project Harbor.Gc.Benchmarks -- retention-stopwatch [ARTIFACTS] [ROUNDS]</c>.
/// </summary>
internal static class RetentionStopwatch
{
    public static async Task RunAsync(int artifacts, int rounds)
    {
        var clock = Stopwatch.StartNew();
        var (store, generator) = RetentionScenario.Generate(artifacts);
        Console.WriteLine(FormattableString.Invariant($"generate: {clock.ElapsedMilliseconds} ms, {generator.Counts}"));
        var policy = RetentionScenario.Policy();
        var time = new RegistryGenerator.FixedTime(RetentionScenario.Now);
        using var process = Process.GetCurrentProcess();
        for (var round = 1; round <= rounds; round++)
        {
            var cpu0 = process.TotalProcessorTime;
            clock.Restart();
            var snapshot = await RetentionSnapshot.ReadAsync(store);
            var read = clock.ElapsedMilliseconds;
            var cpu1 = process.TotalProcessorTime;
            clock.Restart();
            var plan = RetentionEvaluator.Evaluate(policy, snapshot, time);
            var evaluate = clock.ElapsedMilliseconds;
            var cpu2 = process.TotalProcessorTime;
            process.Refresh();
            Console.WriteLine(FormattableString.Invariant(
                $"round {round}: snapshot {read} ms (cpu {(cpu1 - cpu0).TotalMilliseconds:F0}), evaluate {evaluate} ms (cpu {(cpu2 - cpu1).TotalMilliseconds:F0}), total {read + evaluate} ms; {plan.Repositories.Length} repositories, {plan.Total} artifacts, {plan.Repositories.Sum(r => r.Deleted)} deleted, checksum {Checksum(plan):x16}, gen0/1/2 {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}"));
        }
    }

    /// <summary>A hash of everything the plan decides, to show an optimisation changed no decision.</summary>
    private static ulong Checksum(RetentionPlan plan)
    {
        var hash = 14695981039346656037UL;
        void Add(string? text)
        {
            foreach (var c in text ?? "\0")
            {
                hash = (hash ^ c) * 1099511628211UL;
            }
        }

        foreach (var repository in plan.Repositories)
        {
            Add(FormattableString.Invariant($"{repository.Repository} {repository.Total} {repository.Retained} {repository.Deleted}"));
            foreach (var a in repository.Artifacts)
            {
                Add(FormattableString.Invariant($"{a.Digest} {string.Join(',', a.Tags)} {a.Outcome} {a.Reason} {string.Join(',', a.RetainedBy)} {a.Cause} {a.ImmutableBy}"));
            }
        }

        foreach (var key in plan.DeleteOrder)
        {
            Add(key.ToString());
        }

        return hash;
    }
}
