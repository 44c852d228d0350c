using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Collection;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage.PostgresMetadata;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A GC dry run on the <c>postgres:</c> store: the store's snapshot (one repeatable-read transaction) and
/// <see cref="GarbageCollector.PlanAsync"/> with untagged artifacts collected and no time window, over <see cref="RegistryGenerator"/>'s
/// registry copied into a <see cref="PostgresBenchmarkCluster"/> of this process (<see cref="PostgresBenchmarkStore"/>). 1M artifacts
/// take a minute or two to fill per process: <c>measure-postgres 1000000</c> times that size without BenchmarkDotNet.
/// </summary>
[MemoryDiagnoser]
[GcConcurrent(false)] // as the harbor-gc command runs
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 7)]
public class PostgresGcBenchmarks
{
    private PostgresBenchmarkCluster _cluster = null!;
    private PostgresRegistryStore _store = null!;
    private GarbageCollector _collector = null!;

    [Params(100_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cluster = new PostgresBenchmarkCluster();
        var (template, summary) = PostgresBenchmarkStore.CreateTemplateAsync(_cluster, Artifacts).GetAwaiter().GetResult();
        Console.WriteLine($"// {summary}; {PostgresStopwatch.Machine()}");
        _store = PostgresBenchmarkStore.Open(_cluster, PostgresBenchmarkStore.Copy(_cluster, template), TimeProvider.System);
        _collector = new GarbageCollector(_store, new RegistryGenerator.FixedTime(PostgresBenchmarkStore.Now));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// load average at the end: {PostgresStopwatch.LoadAverage()}");
        _store.Dispose();
        _cluster.Dispose();
    }

    [Benchmark(Description = "postgres: snapshot + dry run (PlanAsync)")]
    public async Task<int> DryRun()
    {
        var plan = await _collector.PlanAsync(PostgresStopwatch.DryRunOptions);
        return plan.Artifacts.Count + plan.Blobs.Count;
    }

    [Benchmark(Description = "postgres: snapshot alone (a sink that keeps nothing)")]
    public async Task<long> Snapshot()
    {
        var sink = new PostgresStopwatch.CountingSink();
        await _store.ReadSnapshotAsync(sink);
        return sink.Count;
    }
}

/// <summary>
/// Push throughput through <see cref="RegistryApi"/> into the <c>postgres:</c> store from 4 concurrent clients, each its own store
/// (its own connection pool) and <see cref="RegistryApi"/>: each push uploads a new config and two new layers (1 KiB each) and pushes a
/// new image manifest by tag into one of 100 existing repositories. Reported per image push (<see cref="PushesPerInvoke"/> per
/// invocation, all clients together) and as pushes per second. With a collector running at the same time: <c>measure-postgres N 1 push</c>.
/// </summary>
[MemoryDiagnoser]
[GcConcurrent(false)]
[MedianColumn]
[OperationsPerSecond]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class PostgresPushBenchmarks
{
    public const int Clients = 4;
    public const int PushesPerInvoke = 400;

    private PostgresBenchmarkCluster _cluster = null!;
    private PostgresStopwatch.Pusher[] _pushers = null!;

    [Params(100_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cluster = new PostgresBenchmarkCluster();
        var (template, summary) = PostgresBenchmarkStore.CreateTemplateAsync(_cluster, Artifacts).GetAwaiter().GetResult();
        Console.WriteLine($"// {summary}; {PostgresStopwatch.Machine()}");
        var database = PostgresBenchmarkStore.Copy(_cluster, template);
        _pushers = [.. Enumerable.Range(0, Clients).Select(i => new PostgresStopwatch.Pusher(PostgresBenchmarkStore.Open(_cluster, database, TimeProvider.System, maxPoolSize: 4), i))];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// load average at the end: {PostgresStopwatch.LoadAverage()}");
        foreach (var pusher in _pushers)
        {
            pusher.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _cluster.Dispose();
    }

    [Benchmark(Description = "postgres: 4 clients, each 3 blobs + manifest by tag", OperationsPerInvoke = PushesPerInvoke)]
    public async Task<int> Push()
    {
        await Task.WhenAll(_pushers.Select(p => p.PushCountAsync(PushesPerInvoke / Clients)));
        return _pushers.Sum(p => p.Pushes);
    }
}
