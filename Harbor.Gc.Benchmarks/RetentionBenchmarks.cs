using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage.InMemory;

namespace Harbor.Gc.Benchmarks;

/// <summary>Retention evaluation (DESIGN.md §6) of a five-rule policy over 1M artifacts in 10k repositories (<see cref="RetentionScenario"/>).</summary>
[MemoryDiagnoser]
[GcConcurrent(false)] // as the harbor-gc command runs
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class RetentionBenchmarks
{
    private readonly TimeProvider _time = new RegistryGenerator.FixedTime(RetentionScenario.Now);
    private InMemoryRegistryStore _store = null!;
    private RetentionSnapshot _snapshot = null!;
    private RetentionPolicy _policy = null!;

    [Params(1_000_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        (_store, var generator) = RetentionScenario.Generate(Artifacts);
        var (artifacts, blobs, references, tags, repositories) = generator.Counts;
        Console.WriteLine($"// generated: {artifacts:N0} artifacts, {blobs:N0} blobs, {references:N0} references, {tags:N0} tags, {repositories:N0} repositories");
        _policy = RetentionScenario.Policy();
        _snapshot = await RetentionSnapshot.ReadAsync(_store);
    }

    [Benchmark(Description = "evaluate (snapshot read once)")]
    public int Evaluate() => RetentionEvaluator.Evaluate(_policy, _snapshot, _time).Repositories.Length;

    [Benchmark(Description = "snapshot + evaluate")]
    public async Task<int> SnapshotAndEvaluate()
    {
        var snapshot = await RetentionSnapshot.ReadAsync(_store);
        return RetentionEvaluator.Evaluate(_policy, snapshot, _time).Repositories.Length;
    }
}
