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
        for (var round = 1; round <= rounds; round++)
        {
            clock.Restart();
            var snapshot = await RetentionSnapshot.ReadAsync(store);
            var read = clock.ElapsedMilliseconds;
            clock.Restart();
            var plan = RetentionEvaluator.Evaluate(policy, snapshot, time);
            var evaluate = clock.ElapsedMilliseconds;
            Console.WriteLine(FormattableString.Invariant(
                $"round {round}: snapshot {read} ms, evaluate {evaluate} ms, total {read + evaluate} ms; {plan.Repositories.Length} repositories, {plan.Total} artifacts, {plan.Repositories.Sum(r => r.Deleted)} deleted, gen0/1/2 {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}"));
        }
    }
}
