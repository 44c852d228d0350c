using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.Benchmarks;

/// <summary>A GC dry run (snapshot load + build + mark + plan) over the LiteDB store of <see cref="LiteDbBenchmarkStore"/>.</summary>
[MemoryDiagnoser]
[GcConcurrent(false)]
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class LiteDbGcBenchmarks
{
    private readonly GcOptions _options = new() { DryRun = true };
    private LiteDbRegistryStore _store = null!;
    private GarbageCollector _collector = null!;

    [Params(100_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _store = LiteDbBenchmarkStore.Open(LiteDbBenchmarkStore.GetOrCreate(Artifacts, seed: 42), new RegistryGenerator.FixedTime(LiteDbBenchmarkStore.Now));
        _collector = new GarbageCollector(_store, new RegistryGenerator.FixedTime(LiteDbBenchmarkStore.Now));
    }

    [GlobalCleanup]
    public void Cleanup() => _store.Dispose();

    [Benchmark(Description = "LiteDB snapshot + build + mark + plan")]
    public async Task<int> DryRun()
    {
        var result = await _collector.RunAsync(_options);
        return result.Plan.Artifacts.Count + result.Plan.Blobs.Count;
    }
}

/// <summary>
/// Push throughput through <see cref="RegistryApi"/> into the LiteDB store of <see cref="LiteDbBenchmarkStore"/> (a copy of it): each
/// push uploads a new config and two new layers (1 KiB each) and pushes a new image manifest by tag into an existing repository.
/// Reported per push (<see cref="PushesPerInvoke"/> pushes per invocation) and as pushes per second.
/// </summary>
[MemoryDiagnoser]
[GcConcurrent(false)]
[MedianColumn]
[OperationsPerSecond]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class LiteDbPushBenchmarks
{
    public const int PushesPerInvoke = 200;

    private static readonly RepositoryName Repository = RepositoryName.Parse("proj0/app0");
    private string _folder = null!;
    private LiteDbRegistryStore _store = null!;
    private RegistryApi _api = null!;
    private int _n;

    [Params(100_000)]
    public int Artifacts { get; set; }

    [Params(LiteDbConnectionMode.Direct, LiteDbConnectionMode.Shared)]
    public LiteDbConnectionMode Connection { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var cached = LiteDbBenchmarkStore.GetOrCreate(Artifacts, seed: 42);
        _folder = LiteDbBenchmarkStore.Copy(cached);
        _store = LiteDbRegistryStore.Open(
            new LiteDbStoreOptions { DatabasePath = LiteDbBenchmarkStore.DatabasePath(_folder), Connection = Connection }, TimeProvider.System);
        _api = new RegistryApi(_store);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "push: 3 blobs + manifest by tag", OperationsPerInvoke = PushesPerInvoke)]
    public async Task<long> Push()
    {
        long version = 0;
        for (var i = 0; i < PushesPerInvoke; i++)
        {
            version += (await PushImage()).Version;
        }

        return version;
    }

    /// <summary>Pushes one new image, as a client does: its blobs, then its manifest by tag; times the two parts when given stopwatches.</summary>
    internal async Task<Artifact> PushImage(Stopwatch? blobs = null, Stopwatch? manifests = null)
    {
        var n = ++_n;
        blobs?.Start();
        var config = await PushBlob(n, 0);
        var layers = new[] { await PushBlob(n, 1), await PushBlob(n, 2) };
        blobs?.Stop();
        var manifest = Tests.Support.Manifests.Image(config, layers);
        manifests?.Start();
        var artifact = await _api.PushManifestAsync(Repository, $"bench-{n}", manifest);
        manifests?.Stop();
        return artifact;
    }

    private async Task<Digest> PushBlob(int n, int part)
    {
        var bytes = new byte[1024];
        BitConverter.TryWriteBytes(bytes, n);
        bytes[4] = (byte)part;
        bytes[5] = (byte)Environment.ProcessId;
        var digest = Digest.Sha256Of(bytes);
        using var stream = new MemoryStream(bytes);
        await _api.PushBlobAsync(digest, stream);
        return digest;
    }
}
