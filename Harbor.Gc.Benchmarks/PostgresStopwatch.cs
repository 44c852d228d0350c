using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-postgres [artifacts] [runs] [what]</c>: the <c>postgres:</c> store's figures at sizes BenchmarkDotNet makes too slow
/// (each of its processes fills its own database): a <see cref="PostgresBenchmarkCluster"/>, <see cref="RegistryGenerator"/>'s
/// registry copied in (<see cref="PostgresBenchmarkStore"/>), then, as <paramref name="what"/> asks (<c>all</c> by default):
/// <list type="bullet">
/// <item><c>dry</c>: the snapshot alone into a sink that keeps nothing, and the dry run (<see cref="GarbageCollector.PlanAsync"/>, untagged
/// collected, window 0) with its phases (reading, build + mark, plan) and bytes allocated, <paramref name="runs"/> times;</item>
/// <item><c>real</c>: a real run on a copy of the database (its phases, what it deleted, the deletion rate);</item>
/// <item><c>push</c>: manifest pushes through <see cref="RegistryApi"/> from 4 clients, each its own store (its own connection pool),
/// alone and while a real run collects a copy of the database.</item>
/// </list>
/// </summary>
internal static class PostgresStopwatch
{
    internal static readonly GcOptions DryRunOptions = new() { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero };

    public static async Task RunAsync(int artifacts, int runs, string what, TimeSpan? maxDuration = null)
    {
        Console.WriteLine(Machine());
        var watch = Stopwatch.StartNew();
        using var cluster = new PostgresBenchmarkCluster();
        Console.WriteLine($"cluster up in {watch.Elapsed.TotalSeconds:F1} s: {cluster.DataFolder}");
        var (template, summary) = await PostgresBenchmarkStore.CreateTemplateAsync(cluster, artifacts).ConfigureAwait(false);
        Console.WriteLine($"template {template}: {summary}");
        if (what is "all" or "dry")
        {
            await DryRunsAsync(cluster, template, runs).ConfigureAwait(false);
        }

        if (what is "all" or "real")
        {
            for (var run = 1; run <= Math.Max(1, runs / 2); run++)
            {
                await RealRunAsync(cluster, template, run, maxDuration).ConfigureAwait(false);
            }
        }

        if (what is "reads")
        {
            // where a snapshot's time goes, table by table (PostgresExplain.ReadCostsAsync)
            var database = PostgresBenchmarkStore.Copy(cluster, template);
            await using var store = PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System);
            await using var connection = await store.OpenConnectionAsync().ConfigureAwait(false);
            await PostgresExplain.ReadCostsAsync(connection, store).ConfigureAwait(false);
        }

        if (what is "serve")
        {
            // keep the cluster up for psql and experiments: the template's connection string on standard output, until killed
            Console.WriteLine($"serving {cluster.ConnectionString(template, pooling: false)}");
            await Task.Delay(Timeout.Infinite).ConfigureAwait(false);
        }

        if (what is "explain")
        {
            await PostgresExplain.RunAsync(cluster, template).ConfigureAwait(false);
        }

        if (what is "all" or "push")
        {
            await PushesAsync(cluster, template, clients: 4, seconds: 10, maxDuration).ConfigureAwait(false);
        }

        Console.WriteLine($"done; load average now {LoadAverage()}");
    }

    /// <summary>The machine, for the figures: cores, CPU model, memory, load average.</summary>
    internal static string Machine()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var memory = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        return $"machine: {Environment.ProcessorCount} cores, {model}, {memory} RAM, load average {LoadAverage()}";
    }

    /// <summary>
    /// The CPU time (user + system) of the cluster's server processes alive now (the postmaster's children: a pooled connection's
    /// backend lives across runs): with the process's own, a measure of work that a loaded machine does not inflate as it does wall time.
    /// </summary>
    internal static TimeSpan ServerCpu(PostgresBenchmarkCluster cluster)
    {
        var postmaster = File.ReadLines(Path.Combine(cluster.DataFolder, "postmaster.pid")).First().Trim();
        long ticks = 0;
        foreach (var folder in Directory.EnumerateDirectories("/proc").Where(f => Path.GetFileName(f).All(char.IsAsciiDigit)))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after "pid (comm) ": state, ppid, ...
                if (fields[1] == postmaster || Path.GetFileName(folder) == postmaster)
                {
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the process ended meanwhile
            }
        }

        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>This process's context switches so far, all its threads (ended ones too): voluntary (waits) and involuntary (preempted); and its minor page faults.</summary>
    internal static ProcessUsage Usage()
    {
        var usage = new RUsage();
        return GetRUsage(0, ref usage) == 0 ? new ProcessUsage(usage.Voluntary, usage.Involuntary, usage.MinorFaults) : default; // RUSAGE_SELF
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetRUsage(int who, ref RUsage usage);

    /// <summary>Linux's <c>struct rusage</c> on 64-bit: two timevals, then 14 longs (the switches are the last two).</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxRss, Ixrss, Idrss, Isrss, MinorFaults, MajorFaults, Swaps, InBlocks, OutBlocks, MessagesSent, MessagesReceived, Signals;
        public long Voluntary, Involuntary;
    }

    internal readonly record struct ProcessUsage(long Voluntary, long Involuntary, long MinorFaults)
    {
        public static ProcessUsage operator -(ProcessUsage a, ProcessUsage b) => new(a.Voluntary - b.Voluntary, a.Involuntary - b.Involuntary, a.MinorFaults - b.MinorFaults);

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Voluntary:N0} voluntary, {Involuntary:N0} involuntary; {MinorFaults:N0} page faults");
    }

    internal static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static async Task DryRunsAsync(PostgresBenchmarkCluster cluster, string template, int runs)
    {
        var database = PostgresBenchmarkStore.Copy(cluster, template);
        try
        {
            await using var store = PostgresBenchmarkStore.Open(cluster, database, new RegistryGenerator.FixedTime(PostgresBenchmarkStore.Now), readOnly: false);
            var collector = new GarbageCollector(store, new RegistryGenerator.FixedTime(PostgresBenchmarkStore.Now));
            var snapshots = new List<(double Ms, long Bytes)>();
            var plans = new List<(double Ms, long Bytes)>();
            for (var run = 1; run <= runs; run++)
            {
                GC.Collect();
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
                var serverCpu = ServerCpu(cluster);
                var watch = Stopwatch.StartNew();
                var sink = new CountingSink();
                await store.ReadSnapshotAsync(sink).ConfigureAwait(false);
                snapshots.Add((watch.Elapsed.TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated));
                clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpu;
                serverCpu = ServerCpu(cluster) - serverCpu;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: snapshot alone: CPU {clientCpu.TotalMilliseconds:N0} ms in this process, {serverCpu.TotalMilliseconds:N0} ms in the server's processes ({sink.Phases}; {sink.HintAgainstCounts})"));

                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                var phases = new PhaseClock();
                allocated = GC.GetTotalAllocatedBytes(precise: true);
                clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
                serverCpu = ServerCpu(cluster);
                var usage = Usage();
                var (gen0, gen1, gen2, paused) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
                watch.Restart();
                var plan = await collector.PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero, Progress = phases }).ConfigureAwait(false);
                var total = watch.Elapsed.TotalMilliseconds;
                plans.Add((total, GC.GetTotalAllocatedBytes(precise: true) - allocated));
                clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpu;
                serverCpu = ServerCpu(cluster) - serverCpu;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: dry run: CPU {clientCpu.TotalMilliseconds:N0} ms in this process, {serverCpu.TotalMilliseconds:N0} ms in the server's processes; in this process {Usage() - usage}; "
                    + $"collections {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2} (gen 0/1/2), paused {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:N0} ms"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: snapshot alone {snapshots[^1].Ms:N0} ms ({sink.Count:N0} records, {snapshots[^1].Bytes / 1e6:N0} MB); dry run {total:N0} ms "
                    + $"(read {phases.Read:N0}, build+mark {phases.Mark - phases.Read:N0}, plan {total - phases.Mark:N0}; {plans[^1].Bytes / 1e6:N0} MB): "
                    + $"plans {plan.Artifacts.Count:N0} artifacts, {plan.Blobs.Count:N0} blobs; load {LoadAverage()}"));
            }

            Console.WriteLine(Summary("snapshot alone", snapshots));
            Console.WriteLine(Summary("snapshot + dry run (PlanAsync)", plans));
        }
        finally
        {
            PostgresBenchmarkStore.Drop(cluster, database);
        }
    }

    private static async Task RealRunAsync(PostgresBenchmarkCluster cluster, string template, int run, TimeSpan? maxDuration)
    {
        var database = PostgresBenchmarkStore.Copy(cluster, template);
        try
        {
            await using var store = PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System);
            var collector = new GarbageCollector(store, TimeProvider.System);
            await PostgresExplain.ResetStatementsAsync(cluster, database).ConfigureAwait(false);
            GC.Collect();
            var phases = new PhaseClock();
            var watch = Stopwatch.StartNew();
            var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, Progress = phases, MaxDuration = maxDuration }).ConfigureAwait(false);
            var total = watch.Elapsed.TotalSeconds;
            var sweep = total - (phases.Planned / 1000);
            await PostgresExplain.PrintStatementsAsync(cluster, database).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"real run {run}: {total:N1} s, max {maxDuration?.TotalSeconds.ToString("N0", CultureInfo.InvariantCulture) ?? "-"} s (read {phases.Read / 1000:N1} s, plan done at {phases.Planned / 1000:N1} s, sweep {sweep:N1} s): {result.Outcome}, "
                + $"{result.ArtifactsDeleted:N0} artifacts and {result.BlobsDeleted:N0} blobs deleted ({result.ArtifactsDeleted / sweep:N0} artifacts/s, "
                + $"{result.BlobsDeleted / sweep:N0} blobs/s in the sweep), {result.ArtifactsSkipped.Count} artifacts and {result.BlobsSkipped.Count} blobs skipped, "
                + $"{result.FailureCount} failures; load {LoadAverage()}"));
        }
        finally
        {
            PostgresBenchmarkStore.Drop(cluster, database);
        }
    }

    /// <summary>
    /// Pushes from <paramref name="clients"/> clients for <paramref name="seconds"/> seconds into a copy of the template: first alone, then
    /// while a real run collects the same database (the pushes last as long as the run, at least <paramref name="seconds"/>).
    /// </summary>
    private static async Task PushesAsync(PostgresBenchmarkCluster cluster, string template, int clients, int seconds, TimeSpan? maxDuration)
    {
        var database = PostgresBenchmarkStore.Copy(cluster, template);
        try
        {
            var pushers = Enumerable.Range(0, clients).Select(i => new Pusher(PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System, maxPoolSize: 4), i)).ToArray();
            try
            {
                // warm-up: the code paths and each client's connections
                await Task.WhenAll(pushers.Select(p => p.PushForAsync(TimeSpan.FromSeconds(2), CancellationToken.None))).ConfigureAwait(false);
                foreach (var pusher in pushers)
                {
                    pusher.Reset();
                }

                var watch = Stopwatch.StartNew();
                await Task.WhenAll(pushers.Select(p => p.PushForAsync(TimeSpan.FromSeconds(seconds), CancellationToken.None))).ConfigureAwait(false);
                Report("pushes alone", pushers, watch.Elapsed);

                foreach (var pusher in pushers)
                {
                    pusher.Reset();
                }

                await using var gcStore = PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System);
                var collector = new GarbageCollector(gcStore, TimeProvider.System);
                await PostgresExplain.ResetStatementsAsync(cluster, database).ConfigureAwait(false);
                using var stop = new CancellationTokenSource();
                watch.Restart();
                var pushing = pushers.Select(p => p.PushForAsync(TimeSpan.FromHours(1), stop.Token)).ToArray();
                var phases = new PhaseClock();
                var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero, Progress = phases, MaxDuration = maxDuration }).ConfigureAwait(false);
                var gcTime = watch.Elapsed;
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, seconds - gcTime.TotalSeconds))).ConfigureAwait(false);
                await stop.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(pushing).ConfigureAwait(false);
                var sweep = gcTime.TotalSeconds - (phases.Planned / 1000);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"real run while pushing: {gcTime.TotalSeconds:N1} s, {result.Outcome} (read {phases.Read / 1000:N1} s, sweep {sweep:N1} s): {result.ArtifactsDeleted:N0} artifacts and "
                    + $"{result.BlobsDeleted:N0} blobs deleted ({result.ArtifactsDeleted / sweep:N0} artifacts/s, {result.BlobsDeleted / sweep:N0} blobs/s in the sweep), "
                    + $"{result.ArtifactsSkipped.Count} artifacts and {result.BlobsSkipped.Count} blobs skipped, {result.FailureCount} failures"));
                Report("pushes during the real run", pushers, watch.Elapsed);
                await PostgresExplain.PrintStatementsAsync(cluster, database).ConfigureAwait(false);
            }
            finally
            {
                foreach (var pusher in pushers)
                {
                    await pusher.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            PostgresBenchmarkStore.Drop(cluster, database);
        }
    }

    private static void Report(string what, Pusher[] pushers, TimeSpan elapsed)
    {
        var pushes = pushers.Sum(p => p.Pushes);
        var manifestSeconds = pushers.Sum(p => p.ManifestTime.TotalSeconds);
        var blobSeconds = pushers.Sum(p => p.BlobTime.TotalSeconds);
        var latencies = pushers.SelectMany(p => p.ManifestLatencies).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {pushers.Length} clients, {pushes:N0} images in {elapsed.TotalSeconds:N1} s = {pushes / elapsed.TotalSeconds:N0} images/s (3 blobs + manifest by tag); "
            + $"manifest pushes alone {pushers.Length * pushes / manifestSeconds:N0}/s (4 clients x 1 / mean manifest time), "
            + $"manifest latency median {Percentile(latencies, 0.5):N1} ms, p99 {Percentile(latencies, 0.99):N1} ms; each client spent {blobSeconds / pushers.Length:N1} s in blobs, "
            + $"{manifestSeconds / pushers.Length:N1} s in manifests; {pushers.Sum(p => p.Retries)} retried (blob being deleted); load {LoadAverage()}"));
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * p))];

    private static string Summary(string name, List<(double Ms, long Bytes)> runs)
    {
        var sorted = runs.Select(r => r.Ms).Order().ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"{name}: median {sorted[sorted.Count / 2]:N0} ms, min {sorted[0]:N0} ms, max {sorted[^1]:N0} ms, {runs.Select(r => r.Bytes).Order().ElementAt(runs.Count / 2) / 1e6:N0} MB allocated (median) over {runs.Count} runs");
    }

    /// <summary>One registry client: its own store (connection pool) and <see cref="RegistryApi"/>, pushing new images into existing repositories.</summary>
    internal sealed class Pusher(PostgresRegistryStore store, int client) : IAsyncDisposable
    {
        private readonly RegistryApi _api = new(store);
        private readonly Random _random = new(client);
        private int _n;

        public int Pushes { get; private set; }

        public int Retries { get; private set; }

        public TimeSpan BlobTime { get; private set; }

        public TimeSpan ManifestTime { get; private set; }

        public List<double> ManifestLatencies { get; } = [];

        public void Reset()
        {
            Pushes = 0;
            Retries = 0;
            BlobTime = ManifestTime = TimeSpan.Zero;
            ManifestLatencies.Clear();
        }

        public async Task PushForAsync(TimeSpan duration, CancellationToken cancellationToken, bool once = false)
        {
            var watch = Stopwatch.StartNew();
            var part = new Stopwatch();
            while (watch.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                var n = ++_n;
                var repository = RepositoryName.Parse(string.Create(CultureInfo.InvariantCulture, $"proj0/app{_random.Next(100)}"));
                try
                {
                    part.Restart();
                    var config = await PushBlobAsync(n, 0).ConfigureAwait(false);
                    var layers = new[] { await PushBlobAsync(n, 1).ConfigureAwait(false), await PushBlobAsync(n, 2).ConfigureAwait(false) };
                    BlobTime += part.Elapsed;
                    var manifest = Tests.Support.Manifests.Image(config, layers);
                    part.Restart();
                    await _api.PushManifestAsync(repository, string.Create(CultureInfo.InvariantCulture, $"bench-{client}-{n}"), manifest).ConfigureAwait(false);
                    ManifestTime += part.Elapsed;
                    ManifestLatencies.Add(part.Elapsed.TotalMilliseconds);
                    Pushes++;
                    if (once)
                    {
                        return;
                    }
                }
                catch (Exception e) when (e is BlobBeingDeletedException or MissingBlobException or ManifestReferencesMissingException)
                {
                    Retries++; // a client pushes again (new blobs here)
                }
            }
        }

        public async Task PushCountAsync(int images)
        {
            var target = Pushes + images;
            while (Pushes < target)
            {
                await PushForAsync(TimeSpan.FromDays(1), CancellationToken.None, once: true).ConfigureAwait(false);
            }
        }

        public ValueTask DisposeAsync() => store.DisposeAsync();

        private async Task<Digest> PushBlobAsync(int n, int part)
        {
            var bytes = new byte[1024];
            BitConverter.TryWriteBytes(bytes, n);
            bytes[4] = (byte)part;
            bytes[5] = (byte)client;
            BitConverter.TryWriteBytes(bytes.AsSpan(8), Environment.ProcessId);
            var digest = Digest.Sha256Of(bytes);
            using var stream = new MemoryStream(bytes);
            await _api.PushBlobAsync(digest, stream).ConfigureAwait(false);
            return digest;
        }
    }

    /// <summary>Notes when reading ends (marking starts), when marking ends and when the plan is made; synchronous, unlike <see cref="Progress{T}"/>.</summary>
    internal sealed class PhaseClock : IProgress<GcProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public double Read { get; private set; }

        public double Mark { get; private set; }

        public double Planned { get; private set; }

        public void Report(GcProgress value)
        {
            if (value is { Phase: GcPhase.Marking, Done: 0 } && Read == 0)
            {
                Read = _clock.Elapsed.TotalMilliseconds;
            }
            else if (value is { Phase: GcPhase.Marking, Done: 1 })
            {
                Mark = _clock.Elapsed.TotalMilliseconds;
            }
            else if (value is { Phase: GcPhase.Planning, Done: 1 })
            {
                Planned = _clock.Elapsed.TotalMilliseconds;
            }
        }
    }

    /// <summary>Counts the records and keeps nothing: the store's own cost of a snapshot.</summary>
    internal sealed class CountingSink : ISnapshotSink
    {
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private readonly List<(string What, double Ms)> _phases = [];
        private string _phase = "begin";

        /// <summary>The records delivered, of every kind.</summary>
        public long Count => _blobs + _artifacts + _tags + _links + _layerLinks;

        /// <summary>When each kind of record began to arrive (ms since the sink was made): where a snapshot's time goes.</summary>
        public string Phases => string.Join(", ", _phases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.What} at {p.Ms:N0} ms")));

        private SnapshotSizeHint _hint;
        private long _blobs;
        private long _artifacts;
        private long _references;
        private long _tags;
        private long _links;
        private long _layerLinks;

        /// <summary>The store's size hint beside the counts it stood for (a hint under a count makes the graph builder grow arrays).</summary>
        public string HintAgainstCounts => string.Create(CultureInfo.InvariantCulture,
            $"hint/count: artifacts {_hint.Artifacts:N0}/{_artifacts:N0}, blobs {_hint.Blobs:N0}/{_blobs:N0}, references {_hint.BlobReferences:N0}/{_references:N0}, "
            + $"tags {_hint.Tags:N0}/{_tags:N0}, links {_hint.AccessoryLinks:N0}/{_links:N0}");

        public void OnBegin(SnapshotSizeHint hint)
        {
            _hint = hint;
            Enter("begin");
        }

        public void OnBlob(Blob blob)
        {
            Enter("blobs");
            _blobs++;
        }

        public void OnArtifact(Artifact artifact)
        {
            Enter("artifacts");
            _artifacts++;
            _references += artifact.References.Length;
        }

        public void OnTag(Tag tag)
        {
            Enter("tags");
            _tags++;
        }

        public void OnAccessoryLink(AccessoryLink link)
        {
            Enter("links");
            _links++;
        }

        public void OnLayerLink(LayerLink link)
        {
            Enter("layer links");
            _layerLinks++;
        }

        private void Enter(string phase)
        {
            if (!ReferenceEquals(phase, _phase))
            {
                _phase = phase;
                _phases.Add((phase, _watch.Elapsed.TotalMilliseconds));
            }
        }

        public void OnProblem(StoreProblem problem)
        {
        }
    }
}
