using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Harbor.Gc.Tests.Support.Pusher;
using Npgsql;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 16's multi-process test of the <c>postgres:</c> store: two registry processes that embed Harbor.Gc
/// (<see cref="PushProgram"/>, AddHarborGc over the store) push through <see cref="RegistryApi"/> while two real <c>harbor-gc gc</c>
/// processes collect the same database in loops (delete-untagged, time window 0), and a killer SIGKILLs one of the four at random
/// moments (half of the collectors' kills while a sweep has blobs marked), restarting it. The pushes re-tag the store's dead images,
/// reuse their layers, push new images, push untagged images (garbage the collectors race for) and revive garbage (an image pushed
/// by digest, then by tag a moment later, when a run may be deleting it). Afterwards, everything stopped and one final real run
/// made: every push the API accepted pulls whole (from a fresh opening of the store), the live images too; a dry run plans nothing;
/// every untouched dead image and every untagged push is gone whole; no sweep's mark is left; every blob file has its record and
/// every record its bytes. Both collectors must complete real runs that overlap: a run refused for another's (exit 2) fails it.
/// </summary>
[Category("Concurrency")]
[NonParallelizable] // four processes and a database cluster on the machine's two cores
public class PostgresMultiProcessTests
{
    private const int DeadImages = 300;
    private const int LiveImages = 60;
    private const int Clients = 6;
    private const int UntaggedPercent = 10;
    private const int RevivePercent = 15;
    private const int MinAccepted = 2000;
    private static readonly TimeSpan MinChaos = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxChaos = TimeSpan.FromSeconds(150); // on a machine busy with other work: until MinAccepted pushes, up to this
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120); // a safety net for each process and wait
    private StoreFactory _stores = null!;
    private PostgresTestDatabases.Database _database = null!;

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.Postgres);
        _database = PostgresTestDatabases.NewStoreDatabase();
    }

    [TearDown]
    public void TearDown()
    {
        _database.Dispose();
        _stores.Dispose();
    }

    [Test]
    public async Task TwoRegistryProcessesAndTwoCollectors_OnOneDatabase_KilledAtRandom_EveryAcceptedPushPullsWhole_AndAFinalRunLeavesNoGarbage()
    {
        // given a postgres: store of 300 untagged (dead) images, a third of them to be re-tagged, a third whose layers new images
        // will reuse, a third nobody touches, and 60 tagged images
        var watch = Stopwatch.StartNew();
        var folder = _stores.NewFolder();
        string spec;
        using (var store = StoreFactory.OpenPostgres(_database, folder, TimeProvider.System))
        {
            await PushLoad.FillAsync(new RegistryApi(store), DeadImages, LiveImages, clients: 4);
            spec = $"postgres:{store.Where}?blobs={store.BlobsPath}";
        }

        var filled = watch.Elapsed;
        var untouched = Enumerable.Range(0, DeadImages).Where(i => PushLoad.UseOf(i) == DeadUse.Untouched).ToList();
        var chaos = new Chaos(folder, spec, _database.ConnectionString);

        // when two registry processes push from six clients each (re-tags, reuses, new images, untagged ones, revived ones) and
        // two collectors run real GCs in loops, one of the four SIGKILLed (and started again) every 2 to 5 s, for 30 s and until
        // 2,000 pushes were accepted (150 s at most); a registry is killed only once it accepted a push (a registry killed while
        // starting tests nothing new)
        using (var killing = new CancellationTokenSource())
        using (var running = new CancellationTokenSource())
        {
            var loops = chaos.Slots.Select(s => Task.Run(() => s.Collector ? chaos.CollectAsync(s, running.Token) : chaos.PushAsync(s, running.Token))).ToList();
            var killer = Task.Run(() => chaos.KillAsync(killing.Token));
            await chaos.WaitForPushesAsync(MinChaos, MaxChaos, MinAccepted);
            await killing.CancelAsync();
            await killer;
            await running.CancelAsync(); // the pushers stop cleanly, the collectors finish the run in hand
            await Task.WhenAll(loops).WaitAsync(Bound);
        }

        var stopped = watch.Elapsed;

        // ...then a final real run
        var final = await chaos.RunGcAsync(["--report-json", Path.Combine(folder, "final.json"), "--quiet"]);
        final.ExitCode.Should().Be(0, final.Output);
        var (finalResult, _) = Deletions.Of(Path.Combine(folder, "final.json"));

        // then a dry run plans nothing
        var dry = await chaos.RunGcAsync(["--dry-run", "--report-json", "-"]);
        dry.ExitCode.Should().Be(0, dry.Output);
        using var plan = JsonDocument.Parse(dry.StandardOutput);
        var planned = plan.RootElement.GetProperty("summary");

        // and every accepted push pulls whole, and every live image; every untouched dead image and every untagged push is gone
        var (accepted, torn) = chaos.AcceptedPushes();
        var tagged = accepted.Where(p => p.Kind != PushKind.Untagged).ToList();
        var untagged = accepted.Where(p => p.Kind == PushKind.Untagged).ToList();
        var live = Enumerable.Range(0, LiveImages).Select(i => new AcceptedPush(
            PushKind.New, $"live/{i % 10}", $"v{i}", PushLoad.Live(i).Digest.ToString(), [.. PushLoad.Live(i).Blobs.Select(b => b.Digest.ToString())], 0, 1));
        using var check = new TestStore(PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = _database.ConnectionString, BlobsPath = Path.Combine(folder, "blobs") }));
        var broken = await PushChecks.BrokenAsync(new RegistryApi(check.Inner), [.. tagged, .. live]);
        var deadGone = await PushChecks.GoneAsync(check.Inner, untouched);
        var untaggedLeft = await LeftOfAsync(check, untagged);
        var statuses = check.GetBlobs().GroupBy(b => b.Status).ToDictionary(g => g.Key, g => g.Count());

        var figures = chaos.Figures();
        await TestContext.Out.WriteLineAsync(
            $"filled in {filled.TotalSeconds:F1} s, chaos until {chaos.ChaosEnded.TotalSeconds:F1} s, stopped at {stopped.TotalSeconds:F1} s, whole test {watch.Elapsed.TotalSeconds:F1} s; " +
            $"{accepted.Count} accepted pushes ({string.Join(", ", accepted.GroupBy(p => p.Kind).Select(g => $"{g.Key} {g.Count()}"))}), {torn} torn record lines; " +
            $"{figures}; final run {finalResult}; blob records by status {JsonSerializer.Serialize(statuses)}; " +
            $"broken {broken.Count}, untouched dead images gone {deadGone} of {untouched.Count}, untagged pushes left {untaggedLeft.Count} of {untagged.Count}");

        chaos.Failures.Should().BeEmpty("a process ends only when killed or stopped, a collector exits 0, and a push fails only retryably");
        chaos.Slots.Where(s => s.Collector).Should().OnlyContain(s => s.Completed > 0, "each collector completes real runs (none refused for another's)");
        chaos.OverlappingRuns.Should().BeGreaterThan(0, "the two collectors' real runs must overlap");
        chaos.Slots.Should().OnlyContain(s => s.Kills > 0, "each process is killed at least once");
        chaos.MidSweepKills.Should().BeGreaterThan(0, "collectors must be killed with their sweep's work left in the database");
        accepted.Should().HaveCountGreaterThanOrEqualTo(MinAccepted, $"thousands of pushes within {MaxChaos} (a machine too busy for them shows in the figures: the registries' time to their first push)");
        broken.Should().BeEmpty("every accepted push must pull whole");
        planned.GetProperty("artifacts").GetInt32().Should().Be(0, "the final run left no garbage artifact");
        planned.GetProperty("blobs").GetInt32().Should().Be(0, "the final run left no garbage blob");
        planned.GetProperty("uploads").GetInt32().Should().Be(0, "the final run left no blob file without its record, nor a temporary file");
        deadGone.Should().Be(untouched.Count, "every dead image nobody pushed again is gone, with its blobs");
        untaggedLeft.Should().BeEmpty("every untagged push is garbage, gone with its own blobs");
        statuses.Keys.Should().Equal([BlobStatus.None], "no sweep's mark is left after the final run");
        AssertTheBlobFolderMatchesTheRecords(check, Path.Combine(folder, "blobs"));
        GcInvariants.AssertNoArtifactLostABlob(check, "after the chaos and the final run");
    }

    /// <summary>The untagged pushes of which anything is left: the artifact, or a record or bytes of its manifest, config or layer.</summary>
    private static async Task<List<string>> LeftOfAsync(TestStore store, List<AcceptedPush> untagged)
    {
        var left = new List<string>();
        foreach (var push in untagged)
        {
            var digest = Digest.Parse(push.Digest);
            var what = new List<string>();
            if (await store.Inner.GetArtifactAsync(new ArtifactKey(RepositoryName.Parse(push.Repository), digest)) is not null)
            {
                what.Add("its artifact");
            }

            foreach (var blob in push.Blobs.Select(Digest.Parse).Append(digest))
            {
                if (await store.Inner.GetBlobAsync(blob) is not null || await store.Inner.HasBlobContentAsync(blob))
                {
                    what.Add($"blob {blob}");
                }
            }

            if (what.Count > 0)
            {
                left.Add($"{push.Repository}@{push.Digest}: {string.Join(", ", what)}");
            }
        }

        return left;
    }

    /// <summary>Every file of the blob folder (but its marker) is a blob with a record, and every record has its file.</summary>
    private static void AssertTheBlobFolderMatchesTheRecords(TestStore store, string blobs)
    {
        var records = store.GetBlobs().Select(b => b.Digest.Hex).ToHashSet(StringComparer.Ordinal);
        var files = Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(blobs, f))
            .Where(f => f != ".harbor-gc-store")
            .ToList();
        files.Where(f => !f.StartsWith("sha256/", StringComparison.Ordinal) || !records.Contains(Path.GetFileName(f)))
            .Should().BeEmpty("no file without a record: no stale upload, no temporary file, no unrecorded blob");
        records.Except(files.Select(f => Path.GetFileName(f))).Should().BeEmpty("no record without its bytes");
    }

    /// <summary>What a real run's JSON report says it deleted.</summary>
    private sealed record Deletions(int Artifacts, int Blobs, int Uploads)
    {
        public static Deletions None { get; } = new(0, 0, 0);

        /// <summary>What the report of a real run says it deleted, and when the run started and finished.</summary>
        public static (Deletions Deleted, (DateTimeOffset Started, DateTimeOffset Finished) Run) Of(string report)
        {
            using var json = JsonDocument.Parse(File.ReadAllText(report));
            var result = json.RootElement.GetProperty("result");
            var deleted = new Deletions(result.GetProperty("artifactsDeleted").GetInt32(), result.GetProperty("blobsDeleted").GetInt32(), result.GetProperty("uploadsDeleted").GetInt32());
            return (deleted, (Time("startedAt"), Time("finishedAt")));

            DateTimeOffset Time(string name) => DateTimeOffset.Parse(json.RootElement.GetProperty(name).GetString()!, CultureInfo.InvariantCulture);
        }

        public static Deletions operator +(Deletions a, Deletions b) => new(a.Artifacts + b.Artifacts, a.Blobs + b.Blobs, a.Uploads + b.Uploads);

        public override string ToString() => $"{Artifacts} artifacts, {Blobs} blobs, {Uploads} uploads deleted";
    }

    /// <summary>One of the four processes: a registry (pusher) or a collector, started again whenever it ends during the chaos.</summary>
    private sealed class Slot(string name, bool collector)
    {
        private readonly Lock _lock = new();
        private HarborGcProcess? _current;
        private HarborGcProcess? _killed;
        private bool _ready;

        public string Name => name;

        public bool Collector => collector;

        public int Started { get; set; }

        public int Completed { get; set; }

        public int Kills { get; set; }

        /// <summary>A collector's completed real runs, as their reports time them.</summary>
        public List<(DateTimeOffset Started, DateTimeOffset Finished)> Runs { get; } = [];

        /// <summary>Whether the registry running now has accepted a push (a collector is always ready to be killed).</summary>
        public bool Ready
        {
            get => collector || Volatile.Read(ref _ready);
            set => Volatile.Write(ref _ready, value);
        }

        /// <summary>A registry's times from its start to its first accepted push.</summary>
        public List<TimeSpan> Startup { get; } = [];

        public Deletions Deleted { get; set; } = Deletions.None;

        public HarborGcProcess? Current
        {
            get
            {
                lock (_lock)
                {
                    return _current;
                }
            }

            set
            {
                lock (_lock)
                {
                    _current = value;
                }
            }
        }

        /// <summary>SIGKILLs the running process, if any; false when there was none.</summary>
        public bool Kill()
        {
            lock (_lock)
            {
                if (_current is not { HasExited: false } process)
                {
                    return false;
                }

                _killed = process;
                process.Kill();
                return true;
            }
        }

        /// <summary>Whether <paramref name="process"/> ended by the killer's SIGKILL (not on its own before the signal).</summary>
        public bool WasKilled(HarborGcProcess process)
        {
            lock (_lock)
            {
                return ReferenceEquals(_killed, process) && process.ExitCode == 137;
            }
        }
    }

    /// <summary>The four processes' loops, the killer, and what they saw.</summary>
    private sealed class Chaos(string folder, string spec, string connectionString)
    {
        private readonly Dictionary<string, string?> _environment = new(StringComparer.Ordinal) { ["HARBOR_GC_PGPASSWORD"] = PostgresTestDatabases.Cluster.Password };
        private readonly Lock _lock = new();
        private int _midSweepKills;
        private int _pushSummaries;
        private int _gaveUp;
        private readonly Dictionary<string, int> _refused = new(StringComparer.Ordinal);

        public Slot[] Slots { get; } = [new("registry-1", false), new("registry-2", false), new("collector-1", true), new("collector-2", true)];

        public List<string> Failures { get; } = [];

        public int MidSweepKills => Volatile.Read(ref _midSweepKills);

        /// <summary>A collector's loop: real runs one after another until <paramref name="stop"/>; the run in hand is finished.</summary>
        public async Task CollectAsync(Slot slot, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                var report = Path.Combine(folder, $"{slot.Name}-{slot.Started}.json");
                using var gc = Start(slot, () => HarborGcProcess.Start(GcArguments(["--workers", "2", "--quiet", "--report-json", report]), folder, _environment));
                await gc.WaitAsync(Bound);
                slot.Current = null;
                if (slot.WasKilled(gc))
                {
                    slot.Kills++;
                }
                else if (gc.ExitCode == 0)
                {
                    slot.Completed++;
                    var (deleted, run) = Deletions.Of(report);
                    slot.Runs.Add(run);
                    slot.Deleted += deleted;
                }
                else
                {
                    Fail($"{slot.Name} exited {gc.ExitCode}: {gc.Output}");
                }
            }
        }

        /// <summary>A registry's loop: a push process, started again when killed, stopped cleanly (stdin closed) at <paramref name="stop"/>.</summary>
        public async Task PushAsync(Slot slot, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                var seed = (Array.IndexOf(Slots, slot) * 1000) + slot.Started + 1;
                var records = Path.Combine(folder, $"pushes-{slot.Name}-{slot.Started}.jsonl");
                using var pusher = Start(slot, () => HarborGcProcess.StartTestProgram(
                    ["push", "--store", spec, "--records", records, "--dead", $"{DeadImages}", "--clients", $"{Clients}", "--seed", $"{seed}", "--untagged", $"{UntaggedPercent}", "--revive", $"{RevivePercent}"],
                    folder, _environment, inputPipe: true));
                var started = Stopwatch.StartNew();
                var ready = false;
                while (!pusher.HasExited && !stop.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, CancellationToken.None);
                    if (!ready && pusher.StandardOutput.Contains("ready", StringComparison.Ordinal))
                    {
                        ready = true;
                        slot.Startup.Add(started.Elapsed);
                        slot.Ready = true;
                    }
                }

                if (!pusher.HasExited)
                {
                    pusher.CloseInput();
                    await pusher.WaitAsync(Bound);
                }

                slot.Current = null;
                slot.Ready = false;
                if (slot.WasKilled(pusher))
                {
                    slot.Kills++;
                }
                else if (pusher.ExitCode == 0 && stop.IsCancellationRequested)
                {
                    slot.Completed++;
                    Summarize(slot, pusher);
                }
                else
                {
                    Fail($"{slot.Name} exited {pusher.ExitCode} on its own: {pusher.Output}");
                }

                foreach (var line in pusher.Output.Split('\n').Where(l => l.StartsWith("unexpected:", StringComparison.Ordinal)))
                {
                    Fail($"{slot.Name}: {line.Trim()}");
                }
            }
        }

        /// <summary>
        /// The killer: every 2 to 5 s, SIGKILLs one of the four processes at random (a registry once it accepted a push). Half of a collector's kills wait (up to 2 s)
        /// for the moment the database has blobs a sweep marked, so runs are killed mid-sweep too, leaving work another finishes.
        /// </summary>
        public async Task KillAsync(CancellationToken stop)
        {
            var random = new Random(16);
            await using var probe = new NpgsqlConnection(connectionString);
            await probe.OpenAsync(CancellationToken.None);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 5000)), TimeProvider.System, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                var slot = Slots[random.Next(Slots.Length)];
                if (!slot.Ready)
                {
                    continue; // a registry still starting: the next tick picks again
                }

                if (slot.Collector && random.Next(2) == 0)
                {
                    var deadline = Stopwatch.StartNew();
                    while (deadline.Elapsed < TimeSpan.FromSeconds(2) && await MarkedAsync(probe) == 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, CancellationToken.None);
                    }

                    // one of the collectors running now (with the run lock, only one sweeps)
                    var running = Slots.Where(s => s.Collector && s.Current is { HasExited: false }).ToList();
                    slot = running.Count > 0 ? running[random.Next(running.Count)] : slot;
                }

                if (slot.Kill() && slot.Collector && await MarkedAsync(probe) > 0)
                {
                    Interlocked.Increment(ref _midSweepKills);
                }
            }
        }

        /// <summary>How many completed real runs of the first collector overlapped one of the second's.</summary>
        public int OverlappingRuns => Slots[2].Runs.Count(a => Slots[3].Runs.Any(b => a.Started < b.Finished && b.Started < a.Finished));

        /// <summary>When the chaos ended, from its start.</summary>
        public TimeSpan ChaosEnded { get; private set; }

        /// <summary>
        /// Waits at least <paramref name="least"/>, then until <paramref name="pushes"/> pushes were recorded and a collector was killed
        /// mid-sweep, at most <paramref name="most"/>. A mid-sweep kill is a matter of timing (a few collector kills in 30 s, each
        /// landing in a sweep or not): on an idle machine the pushes came first and the chaos ended with none (one CI run in many).
        /// </summary>
        public async Task WaitForPushesAsync(TimeSpan least, TimeSpan most, int pushes)
        {
            var watch = Stopwatch.StartNew();
            await Task.Delay(least, TimeProvider.System);
            while (watch.Elapsed < most && (AcceptedPushes().Accepted.Count < pushes || MidSweepKills == 0))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
            }

            ChaosEnded = watch.Elapsed;
        }

        /// <summary>Runs <c>harbor-gc gc</c> on the store once (delete-untagged, time window 0) with <paramref name="extra"/>, to its end.</summary>
        public async Task<HarborGcProcess> RunGcAsync(string[] extra)
        {
            var gc = HarborGcProcess.Start(GcArguments(extra), folder, _environment);
            await gc.WaitAsync(Bound);
            return gc;
        }

        /// <summary>Every push record of every registry process (a line a kill tore is no record), and how many lines were torn.</summary>
        public (List<AcceptedPush> Accepted, int Torn) AcceptedPushes()
        {
            var accepted = new List<AcceptedPush>();
            var torn = 0;
            foreach (var file in Directory.EnumerateFiles(folder, "pushes-*.jsonl"))
            {
                using var reader = new StreamReader(new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
                var lines = reader.ReadToEnd().Split('\n');
                torn += lines[^1].Length > 0 ? 1 : 0;
                accepted.AddRange(lines[..^1].Select(l => JsonSerializer.Deserialize<AcceptedPush>(l, PushSummary.Json)!));
            }

            return (accepted, torn);
        }

        public string Figures()
        {
            return string.Join("; ", Slots.Select(s => $"{s.Name}: started {s.Started}, {(s.Collector ? $"completed {s.Completed} ({s.Deleted})" : $"stopped cleanly {s.Completed}, first push {(s.Startup.Count > 0 ? s.Startup.Average(t => t.TotalSeconds) : 0):F1} s after its start on average")}, killed {s.Kills}")) +
                $"; {MidSweepKills} collector kills with blobs marked; {OverlappingRuns} real runs of collector-1 overlapped one of collector-2; " +
                $"pushers' refusals ({_pushSummaries} clean stops only) {JsonSerializer.Serialize(_refused)}, gave up {_gaveUp}";
        }

        private string[] GcArguments(string[] extra) => ["gc", "--store", spec, "--delete-untagged", "true", "--time-window", "0", .. extra];

        private static HarborGcProcess Start(Slot slot, Func<HarborGcProcess> start)
        {
            var process = start();
            slot.Started++;
            slot.Current = process;
            return process;
        }

        private void Summarize(Slot slot, HarborGcProcess pusher)
        {
            var summary = JsonSerializer.Deserialize<PushSummary>(pusher.StandardOutput.Trim().Split('\n')[^1], PushSummary.Json)!;
            lock (_lock)
            {
                _pushSummaries++;
                _gaveUp += summary.GaveUp;
                foreach (var (type, count) in summary.Refused)
                {
                    _refused[type] = _refused.GetValueOrDefault(type) + count;
                }
            }

            if (summary.Unexpected.Count > 0)
            {
                Fail($"{slot.Name}: {summary.Unexpected.Count} unexpected failures, the first {summary.Unexpected[0]}");
            }
        }

        private void Fail(string failure)
        {
            lock (_lock)
            {
                Failures.Add(failure);
            }
        }

        private static async Task<long> MarkedAsync(NpgsqlConnection probe)
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM blobs WHERE status <> 0", probe);
            return (long)(await command.ExecuteScalarAsync())!;
        }

    }
}
