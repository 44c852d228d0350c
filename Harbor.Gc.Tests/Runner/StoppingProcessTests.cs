using System.Diagnostics;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// Issue 13 §6, stopping: the real <c>harbor-gc</c> as a child process on a LiteDB store holding a random registry, stopped by a
/// signal (SIGTERM, SIGINT, SIGQUIT) or by <c>--max-duration</c>. A stopped run exits 3, writes its JSON report (outcome
/// <c>stopped</c> and the reason) and its history record (<c>stopped</c>), and leaves a consistent store: what it deleted is gone,
/// the rest is intact, no artifact references a blob whose bytes are gone. Each signal arrives at a known point: mid-sweep once
/// blob files have gone, mid-retention once artifacts have gone, and before the read while the test holds the store's lock
/// (LiteDB's shared-mode mutex, in an open transaction), so the child cannot have read or deleted anything yet.
/// </summary>
[Category("Process")]
[NonParallelizable] // child processes, seconds each
public class StoppingProcessTests
{
    private const int Seed = 20_260_301;
    private const int Scale = 60;
    private static readonly DateTimeOffset After = RandomRegistry.Now.AddDays(1); // later than every record, as the child's clock is
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60); // every wait: generous, for a loaded machine
    private StoreFactory _stores = null!;
    private string _template = null!;
    private CollectionPlan _plan = null!;

    [OneTimeSetUp]
    public async Task BuildTheTemplate()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _template = _stores.NewFolder();
        var time = new ManualClock(RandomRegistry.Now);
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(_template, create: true), time)))
        {
            RandomRegistry.Fill(store, time, Seed, Scale);
        }

        using var copy = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(Copy()), new FakeTimeProvider(After)));
        _plan = await new GarbageCollector(copy.Inner, new FakeTimeProvider(After)).PlanAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        _plan.Blobs.Count.Should().BeGreaterThan(500, "a real run must take a while");
    }

    [OneTimeTearDown]
    public void RemoveTheStores() => _stores.Dispose();

    [TestCase("TERM", true)]
    [TestCase("INT", false)]
    [TestCase("QUIT", false)]
    public async Task Gc_SignalledMidSweep_Exits3_WritesTheStoppedReportAndHistory_AndLeavesAConsistentStore(string signal, bool amongBlobs)
    {
        // given a real run sweeping a LiteDB store, with a JSON report and a history
        var folder = Copy();
        var files = BlobFiles(folder);
        var artifacts = CountArtifacts(folder);
        using (var child = HarborGcProcess.Start(GcArgs(folder)))
        {
            // when the signal arrives mid-sweep for certain: once blob files are gone (the sweep's second stage), or artifacts
            if (amongBlobs)
            {
                await WaitUntilAsync(() => BlobFiles(folder) <= files - 10, child, "the sweep to delete 10 blob files");
            }
            else
            {
                await WaitUntilAsync(() => CountArtifacts(folder) <= artifacts - 10, child, "the sweep to delete 10 artifacts");
            }

            child.Signal(signal);

            // then it finishes the item in hand, writes its report and history, and exits 3
            await child.WaitAsync(Bound);
            child.ExitCode.Should().Be(3, child.Output);
            child.Output.Should().Contain($"SIG{signal}: stopping after the item in hand")
                .And.Contain($"stopped (SIG{signal}) while sweeping, after the item in hand");
        }

        using var report = ReadReport(folder);
        var root = report.RootElement;
        (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
            .Should().Be(("stopped", $"SIG{signal}", "sweeping"));
        root.GetProperty("planned").GetBoolean().Should().BeTrue();
        var result = root.GetProperty("result");
        var (artifactsDeleted, blobsDeleted) = (result.GetProperty("artifactsDeleted").GetInt32(), result.GetProperty("blobsDeleted").GetInt32());
        if (amongBlobs)
        {
            blobsDeleted.Should().BeInRange(10, _plan.Blobs.Count - 1, "it stopped among the blobs");
        }
        else
        {
            (artifactsDeleted, blobsDeleted).Should().Match<(int Artifacts, int Blobs)>(
                d => d.Artifacts >= 10 && d.Artifacts < _plan.Artifacts.Count && d.Blobs == 0, "it stopped among the artifacts");
        }

        var run = SingleRun(folder);
        run.Status.Should().Be(RunStatus.Stopped);
        run.Message.Should().Be($"stopped by SIG{signal} while sweeping, after the item in hand; the next run carries on");
        (run.Artifacts, run.Blobs).Should().Be((artifactsDeleted, blobsDeleted));
        run.HasReport.Should().BeTrue();

        // and the store is consistent: what was deleted is gone, the rest is intact; the next run finishes the plan
        CountArtifacts(folder).Should().Be(artifacts - artifactsDeleted, "exactly the artifacts the report counts are gone");
        await AssertConsistentAsync(folder, $"after SIG{signal} mid-sweep");
        if (!amongBlobs)
        {
            return; // the run after a stop among the blobs, the harder case, is enough to check
        }

        var next = await CollectAsync(folder);
        (next.ArtifactsDeleted, next.BlobsDeleted).Should().Be(
            (_plan.Artifacts.Count - artifactsDeleted, _plan.Blobs.Count - blobsDeleted), "the next run carries on where the stopped one left off");
    }

    [Test]
    public async Task Gc_SigtermBeforeTheRead_Exits3_DeletingNothing_AndSaysSo()
    {
        // given a run that cannot read the store yet: the test holds the store's lock
        var folder = Copy();
        var before = Fingerprint(folder);
        using (var child = StartBehindTheLock(folder, GcArgs(folder), out var storeLock))
        using (storeLock)
        {
            // when SIGTERM arrives (the child has begun: its history says running), and only then is the lock released
            await WaitForRunningAsync(folder, child);
            child.Signal("TERM");
            await child.WaitForOutputAsync("SIGTERM: stopping after the item in hand", Bound);
            storeLock.Release();

            // then it stops before its plan is made, deletes nothing, exits 3 and says so
            await child.WaitAsync(Bound);
            child.ExitCode.Should().Be(3, child.Output);
            child.Output.Should().Contain("stopped (SIGTERM) while reading the store, before the plan was made: nothing was deleted");
        }

        Fingerprint(folder).Should().Be(before, "nothing was deleted");
        using var report = ReadReport(folder);
        var root = report.RootElement;
        (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
            .Should().Be(("stopped", "SIGTERM", "reading-store"));
        root.GetProperty("planned").GetBoolean().Should().BeFalse();
        root.GetProperty("result").GetProperty("blobsDeleted").GetInt32().Should().Be(0);
        var run = SingleRun(folder);
        run.Status.Should().Be(RunStatus.Stopped);
        run.Message.Should().Be("stopped by SIGTERM while reading the store, before the plan was made; nothing was deleted");
    }

    [Test]
    public async Task Gc_MaxDurationReachedBeforeThePlan_Exits3_DeletingNothing()
    {
        // given a run with --max-duration 1s that cannot read the store until well after its start (the test holds the lock)
        var folder = Copy();
        var before = Fingerprint(folder);
        using (var child = StartBehindTheLock(folder, [.. GcArgs(folder), "--max-duration", "1s"], out var storeLock))
        using (storeLock)
        {
            var started = (await WaitForRunningAsync(folder, child)).StartedAt;
            while (TimeProvider.System.GetUtcNow() < started.AddSeconds(2)) // a bound of this test's own, not a guess at the child's pace
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
            }

            // when the lock is released, two seconds after the run started
            storeLock.Release();

            // then the maximum duration, counted from the start, has passed: the run stops before its plan and deletes nothing
            await child.WaitAsync(Bound);
            child.ExitCode.Should().Be(3, child.Output);
            child.Output.Should().Contain("stopped (maximum duration reached) while reading the store, before the plan was made: nothing was deleted");
        }

        Fingerprint(folder).Should().Be(before, "nothing was deleted");
        using var report = ReadReport(folder);
        (report.RootElement.GetProperty("outcome").GetString(), report.RootElement.GetProperty("stopReason").GetString())
            .Should().Be(("stopped", "max-duration"));
        report.RootElement.GetProperty("planned").GetBoolean().Should().BeFalse();
        var run = SingleRun(folder);
        run.Status.Should().Be(RunStatus.Stopped);
        run.Message.Should().Be("the maximum duration was reached while reading the store, before the plan was made; nothing was deleted");
    }

    [Test]
    public async Task Gc_ASecondSignal_EndsTheProcessAtOnce_WhileTheFirstWaits()
    {
        // given a run whose stop cannot finish: it waits for the store's lock, which the test holds
        var folder = Copy();
        var before = Fingerprint(folder);
        using var child = StartBehindTheLock(folder, GcArgs(folder), out var storeLock);
        using var held = storeLock;
        await WaitForRunningAsync(folder, child);
        child.Signal("TERM");
        await child.WaitForOutputAsync("SIGTERM: stopping after the item in hand", Bound);

        // when a second signal comes
        child.Signal("INT");

        // then the process ends at once (the signal's default action: 128 + 2), still behind the lock, deleting nothing, with no
        // report and its history row left running
        await child.WaitAsync(Bound);
        child.ExitCode.Should().Be(130, child.Output);
        storeLock.Release();
        Fingerprint(folder).Should().Be(before, "nothing was deleted");
        (File.Exists(Report(folder)) ? new FileInfo(Report(folder)).Length : 0).Should().Be(0,
            "a second signal leaves no time for the report (the file, opened before the run to find a path that cannot be written, stays empty)");
        SingleRun(folder).Status.Should().Be(RunStatus.Running);
    }

    [Test]
    public async Task RetentionRun_SigtermMidRun_Exits3_WritesTheStoppedReport_AndLeavesAConsistentStore()
    {
        // given a retention run deleting hundreds of artifacts of project p0 one by one
        var folder = Copy();
        var policy = Path.Combine(folder, "policy.json");
        await File.WriteAllTextAsync(policy, """
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "scope": {"level": "project", "ref": "p0"}}
            """);
        var planned = await PlanRetentionAsync(folder, policy);
        planned.Count.Should().BeGreaterThan(100, "the run must take a while");
        var artifacts = CountArtifacts(folder);
        string[] args = ["retention", "run", "--policy", policy, "--store", $"litedb:{Database(folder)}", "--report-json", Report(folder), "--quiet"];
        using (var child = HarborGcProcess.Start(args))
        {
            // when SIGTERM arrives once ten artifacts are gone
            await WaitUntilAsync(() => CountArtifacts(folder) <= artifacts - 10, child, "retention to delete 10 artifacts");
            child.Signal("TERM");

            // then it stops after the artifact in hand, writes its report and exits 3, saying why even with --quiet
            await child.WaitAsync(Bound);
            child.ExitCode.Should().Be(3, child.Output);
            child.Output.Should().Contain("harbor-gc: stopped (SIGTERM) while deleting, after the artifact in hand");
        }

        using var report = ReadReport(folder);
        var root = report.RootElement;
        (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
            .Should().Be(("stopped", "SIGTERM", "deleting"));
        var result = root.GetProperty("result");
        result.GetProperty("stopped").GetBoolean().Should().BeTrue();
        var deleted = result.GetProperty("deleted").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        deleted.Count.Should().BeInRange(10, planned.Count - 1, "it stopped mid-run");

        // and what it deleted is gone, the rest of the plan is intact, and no artifact lost a blob or a child
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(After)));
        var left = store.GetArtifacts().Select(a => a.Key.ToString()).ToHashSet();
        left.Should().NotIntersectWith(deleted);
        left.Should().HaveCount(artifacts - deleted.Count, "only what the report lists as deleted is gone");
        GcInvariants.AssertNoArtifactLostABlob(store, "after retention stopped by SIGTERM");
        var keys = store.GetArtifacts().Select(a => a.Key).ToHashSet();
        foreach (var index in store.GetArtifacts())
        {
            foreach (var child in index.Children)
            {
                keys.Should().Contain(new ArtifactKey(index.Repository, child), $"the index {index.Key} keeps its children");
            }
        }
    }

    /// <summary><c>gc</c> with a zero time window on the store in <paramref name="folder"/>, a JSON report and a history there.</summary>
    private static string[] GcArgs(string folder) =>
        ["gc", "--delete-untagged", "true", "--store", $"litedb:{Database(folder)}", "--time-window", "0", "--report-json", Report(folder), "--history", History(folder)];

    /// <summary>Takes the store's lock (<see cref="StoreLock"/>), then starts the child: it cannot open, read or change the store until released.</summary>
    private static HarborGcProcess StartBehindTheLock(string folder, string[] args, out StoreLock storeLock)
    {
        storeLock = new StoreLock(Database(folder));
        try
        {
            return HarborGcProcess.Start(args);
        }
        catch
        {
            storeLock.Dispose();
            throw;
        }
    }

    /// <summary>Waits until the history holds the run as running: the child has begun (its signal handlers are in place).</summary>
    private static async Task<RunRecord> WaitForRunningAsync(string folder, HarborGcProcess child)
    {
        RunRecord? run = null;
        await WaitUntilAsync(() =>
        {
            if (!File.Exists(History(folder)))
            {
                return false;
            }

            using var history = RunHistory.Open(History(folder), create: false);
            run = history.List(null, 10).FirstOrDefault(r => r.Status == RunStatus.Running);
            return run is not null;
        }, child, "the run to be recorded as running");
        return run!;
    }

    private static async Task WaitUntilAsync(Func<bool> done, HarborGcProcess child, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!done())
        {
            child.HasExited.Should().BeFalse($"harbor-gc ended before {what}; its output:\n{child.Output}");
            stopwatch.Elapsed.Should().BeLessThan(Bound, $"waiting for {what}; the output so far:\n{child.Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System);
        }
    }

    private static RunRecord SingleRun(string folder)
    {
        using var history = RunHistory.Open(History(folder), create: false);
        return history.List(null, 10).Should().ContainSingle().Subject;
    }

    /// <summary>Every artifact's blobs are there; every blob record the sweep has not committed to deleting has its bytes.</summary>
    private static Task AssertConsistentAsync(string folder, string because)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(After)));
        GcInvariants.AssertNoArtifactLostABlob(store, because);
        foreach (var blob in store.GetBlobs().Where(b => b.Status is BlobStatus.None or BlobStatus.Delete))
        {
            store.HasBlobContent(blob.Digest).Should().BeTrue($"the record of {blob.Digest} says {blob.Status}: {because}");
        }

        return Task.CompletedTask;
    }

    private static async Task<GcResult> CollectAsync(string folder)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(After)));
        var result = await new GarbageCollector(store.Inner, new FakeTimeProvider(After)).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        result.Outcome.Should().Be(GcOutcome.Completed);
        GcInvariants.AssertNoArtifactLostABlob(store, "after the run that carried on");
        return result;
    }

    private static async Task<IReadOnlyList<ArtifactKey>> PlanRetentionAsync(string folder, string policyFile)
    {
        var policy = RetentionPolicyJson.Parse(await File.ReadAllTextAsync(policyFile), policyFile);
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(After)));
        var result = await new RetentionRunner(store.Inner, new FakeTimeProvider(After)).RunAsync(policy, dryRun: true);
        return result.Plan.DeleteOrder;
    }

    private static int CountArtifacts(string folder)
    {
        using var db = new LiteDatabase(new ConnectionString { Filename = Database(folder), Connection = ConnectionType.Shared });
        return db.GetCollection(LiteDbDocuments.Artifacts).Count();
    }

    /// <summary>The store's artifacts, tags and blob files, to compare before and after.</summary>
    private static string Fingerprint(string folder)
    {
        using var db = new LiteDatabase(new ConnectionString { Filename = Database(folder), Connection = ConnectionType.Shared });
        var ids = string.Join(",", db.GetCollection(LiteDbDocuments.Artifacts).FindAll().Select(d => d["_id"].ToString()).Order(StringComparer.Ordinal));
        var digest = Digest.Sha256Of(System.Text.Encoding.UTF8.GetBytes(ids));
        return $"{db.GetCollection(LiteDbDocuments.Artifacts).Count()} artifacts ({digest}), {db.GetCollection(LiteDbDocuments.Blobs).Count()} blob records, {BlobFiles(folder)} blob files";
    }

    private static JsonDocument ReadReport(string folder)
    {
        File.Exists(Report(folder)).Should().BeTrue("a stopped run writes its report");
        return JsonDocument.Parse(File.ReadAllText(Report(folder)));
    }

    private static int BlobFiles(string folder) =>
        Directory.EnumerateFiles(Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder), "*", SearchOption.AllDirectories).Count();

    private static string Database(string folder) => Path.Combine(folder, "harbor-gc.db");

    private static string Report(string folder) => Path.Combine(folder, "report.json");

    private static string History(string folder) => Path.Combine(folder, "history.db");

    private string Copy()
    {
        var folder = _stores.NewFolder();
        StoreFactory.CopyFolder(_template, folder);
        return folder;
    }

    /// <summary>
    /// The store's lock, held by a thread of its own (a mutex belongs to the thread that took it): an open transaction in LiteDB's
    /// shared mode holds the system-wide mutex every process using the file takes for each operation.
    /// </summary>
    private sealed class StoreLock : IDisposable
    {
        private readonly ManualResetEventSlim _held = new();
        private readonly ManualResetEventSlim _release = new();
        private readonly Thread _thread;
        private Exception? _error;

        public StoreLock(string database)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    using var db = new LiteDatabase(new ConnectionString { Filename = database, Connection = ConnectionType.Shared });
                    db.BeginTrans().Should().BeTrue();
                    db.GetCollection(LiteDbDocuments.Artifacts).Count(); // inside the transaction: the file open, the mutex held
                    _held.Set();
                    _release.Wait();
                    db.Rollback();
                }
                catch (Exception e)
                {
                    _error = e;
                    _held.Set();
                }
            }) { IsBackground = true, Name = "store lock" };
            _thread.Start();
            _held.Wait(Bound).Should().BeTrue("the lock is taken");
            _error.Should().BeNull();
        }

        public void Release()
        {
            if (!_release.IsSet)
            {
                _release.Set();
                _thread.Join(Bound).Should().BeTrue("the lock is released");
                _error.Should().BeNull();
            }
        }

        public void Dispose()
        {
            Release();
            _held.Dispose();
            _release.Dispose();
        }
    }
}
