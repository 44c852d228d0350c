using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Collection;
using Harbor.Gc.Storage.InMemory;

namespace Harbor.Gc.Benchmarks;

/// <summary>Build + mark + plan (a GC dry run) over generated registries of 10k, 100k and 1M artifacts.</summary>
[MemoryDiagnoser]
[GcConcurrent(false)] // as the harbor-gc command runs: a batch job gains nothing from a background GC on 2 cores
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GcPlanBenchmarks
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private GarbageCollector _collector = null!;
    private readonly GcOptions _options = new() { DryRun = true };

    [Params(10_000, 100_000, 1_000_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var generator = new RegistryGenerator(seed: 42);
        InMemoryRegistryStore store = generator.Generate(Artifacts, Now);
        var (artifacts, blobs, references, tags, repositories) = generator.Counts;
        Console.WriteLine($"// generated: {artifacts:N0} artifacts, {blobs:N0} blobs, {references:N0} references, {tags:N0} tags, {repositories:N0} repositories");
        _collector = new GarbageCollector(store, new RegistryGenerator.FixedTime(Now));
    }

    [Benchmark(Description = "snapshot + build + mark + plan")]
    public async Task<int> Plan()
    {
        var plan = await _collector.PlanAsync(_options);
        return plan.Artifacts.Count + plan.Blobs.Count;
    }
}
