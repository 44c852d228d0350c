using System.Diagnostics;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Harbor.Gc.Tests.Support.Pusher;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13 §1 for the LiteDB store: a registry process that embeds Harbor.Gc (<see cref="PushProgram"/>, the test assembly run
/// as <c>push</c>: AddHarborGc over the <c>litedb:</c> file in shared mode) pushes through <see cref="RegistryApi"/> while the
/// real <c>harbor-gc gc</c>, a process of its own, runs a real GC (time window 0) over the same file. The pushes re-tag the
/// store's dead images, reuse their layers (uploading them again, or only the ones the registry says it lacks) and push new
/// images. Afterwards every push the API accepted must pull whole: its tag names its manifest, and the manifest and every blob it
/// references are there with bytes that hash to their digests; and the run must have deleted every dead image nobody pushed again.
/// </summary>
/// <remarks>
/// The last case runs the registry process in a /tmp of its own (a mount namespace with a fresh tmpfs on /tmp, as a registry in
/// a container or a systemd unit with <c>PrivateTmp=yes</c> has), where LiteDB's named mutex is not the one harbor-gc takes: only
/// the store's own file lock (<c>CrossProcessLock</c>) keeps the two processes apart there.
/// </remarks>
[Category("Concurrency")]
[NonParallelizable] // three processes on the machine's two cores
public class LiteDbSharedPushTests
{
    private const int DeadImages = 1000;
    private const int LiveImages = 150;
    private const int MinAccepted = 1000;
    private const int Clients = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120); // a safety net for each process; see the figures printed
    private StoreFactory _stores = null!;
    private string _template = null!;

    [OneTimeSetUp]
    public async Task BuildTemplate()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _template = _stores.NewFolder();
        using var store = LiteDbRegistryStore.Open(StoreFactory.Options(_template, create: true));
        await PushLoad.FillAsync(new RegistryApi(store), DeadImages, LiveImages);
    }

    [OneTimeTearDown]
    public void TearDown() => _stores.Dispose();

    [TestCase(1, false)]
    [TestCase(4, false)]
    [TestCase(4, true)]
    public async Task PushesFromAnotherProcessInSharedMode_DuringARealRun_EveryAcceptedPushPullsWhole(int workers, bool privateTmp)
    {
        var wrapper = privateTmp ? PrivateTmp() : null;
        // given a store of 1,000 untagged (dead) images, a third of them to be re-tagged, a third whose layers new images will
        // reuse, a third nobody touches, and 150 tagged images
        var folder = _stores.NewFolder();
        StoreFactory.CopyFolder(_template, folder);
        var database = StoreFactory.Options(folder).DatabasePath;
        var records = Path.Combine(folder, "pushes.jsonl");
        var untouched = Enumerable.Range(0, DeadImages).Where(i => PushLoad.UseOf(i) == DeadUse.Untouched).ToList();

        // when a registry process (in a /tmp of its own, in the last case) pushes through RegistryApi on the same file in shared
        // mode, from four concurrent clients...
        var watch = Stopwatch.StartNew();
        using var pusher = HarborGcProcess.StartTestProgram(
            ["push", "--store", database, "--records", records, "--dead", $"{DeadImages}", "--clients", $"{Clients}", "--seed", $"{workers}", "--min-accepted", $"{MinAccepted}"],
            inputPipe: true, wrapper: wrapper);
        await WaitForLineAsync(pusher, "ready");

        // ...while the real harbor-gc runs a real GC over it with a zero time window (every dead item is in its plan)
        var gcStarted = Now();
        using var gc = HarborGcProcess.Start(
            ["gc", "--delete-untagged", "true", "--store", $"litedb:{database}", "--time-window", "0", "--workers", $"{workers}", "--report-json", Path.Combine(folder, "report.json"), "--quiet"], folder);
        var sweepStarted = await WaitForTheSweepAsync(gc, database, untouched);
        await gc.WaitAsync(Bound);
        var gcFinished = Now();
        gc.ExitCode.Should().Be(0, gc.Output);
        pusher.CloseInput();
        await pusher.WaitAsync(Bound);
        pusher.ExitCode.Should().Be(0, pusher.Output);
        var total = watch.Elapsed;

        // then every accepted push pulls whole through the registry API, and the run deleted every dead image nobody touched
        var summary = JsonSerializer.Deserialize<PushSummary>(pusher.StandardOutput.Trim().Split('\n')[^1], PushSummary.Json)!;
        var accepted = File.ReadAllLines(records).Select(l => JsonSerializer.Deserialize<AcceptedPush>(l, PushSummary.Json)!).ToList();
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "report.json")));
        using var store = LiteDbRegistryStore.Open(StoreFactory.Options(folder));
        var broken = await PushChecks.BrokenAsync(new RegistryApi(store), accepted);
        var gone = await PushChecks.GoneAsync(store, untouched);
        var inRun = accepted.Count(p => p.AcceptedAtMs >= gcStarted && p.AcceptedAtMs <= gcFinished);
        var inSweep = accepted.Count(p => p.AcceptedAtMs >= sweepStarted && p.AcceptedAtMs <= gcFinished);
        var summaryJson = report.RootElement.GetProperty("summary");
        TestContext.Out.WriteLine(
            $"workers {workers}{(privateTmp ? ", pusher in a private /tmp" : "")}: gc {gcFinished - gcStarted} ms (sweep {gcFinished - sweepStarted} ms), whole test {total.TotalMilliseconds:N0} ms; " +
            $"{accepted.Count} accepted pushes ({inRun} during the run, {inSweep} during the sweep; " +
            string.Join(", ", accepted.GroupBy(p => p.Kind).Select(g => $"{g.Key} {g.Count()}")) + $"), {accepted.Count * 1000.0 / summary.ElapsedMs:F0}/s; " +
            $"refused {JsonSerializer.Serialize(summary.Refused)}, gave up {summary.GaveUp}; broken {broken.Count}; " +
            $"untouched dead images gone {gone} of {untouched.Count}; report summary {summaryJson}");

        summary.Unexpected.Should().BeEmpty("a push may be refused (a blob being deleted, blobs missing), never fail otherwise");
        accepted.Should().HaveCount(summary.Accepted).And.HaveCountGreaterThanOrEqualTo(MinAccepted);
        broken.Should().BeEmpty($"every accepted push must pull whole ({accepted.Count} accepted, {inSweep} during the sweep)");
        inSweep.Should().BeGreaterThan(100, "the pushes must overlap the sweep, or the test tests nothing");
        gone.Should().Be(untouched.Count, "the run deletes every dead image nobody pushed again, with its blobs");
        AssertEveryRecordHasItsBytes(store, folder);
    }

    /// <summary>No record without bytes: every blob record the sweep has not committed to deleting has its file.</summary>
    private static void AssertEveryRecordHasItsBytes(LiteDbRegistryStore store, string folder)
    {
        using var test = new TestStore(store);
        foreach (var blob in test.GetBlobs().Where(b => b.Status is BlobStatus.None or BlobStatus.Delete))
        {
            test.HasBlobContent(blob.Digest).Should().BeTrue($"the record of {blob.Digest} says {blob.Status}");
        }

        GcInvariants.AssertNoArtifactLostABlob(test, "after the run and the pushes");
        Directory.EnumerateFiles(Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder), ".upload-*", SearchOption.AllDirectories)
            .Should().BeEmpty("both processes ended cleanly");
    }

    /// <summary>
    /// When the sweep began: the plan's first artifacts are the untouched dead images of <c>dead/0</c> with the smallest digests
    /// (the plan orders artifacts by repository, then digest), so the sweep has begun once one of them is gone. Polled through a
    /// store of the test's own, in shared mode too.
    /// </summary>
    private static Task<long> WaitForTheSweepAsync(HarborGcProcess gc, string database, List<int> untouched) =>
        Task.Run(() => ProbeForTheSweepAsync(gc, database, untouched)).WaitAsync(Bound); // a probe blocked in LiteDB must not hang the test

    private static async Task<long> ProbeForTheSweepAsync(HarborGcProcess gc, string database, List<int> untouched)
    {
        var probes = untouched.Where(i => PushLoad.DeadRepository(i).Value == "dead/0")
            .Select(i => new ArtifactKey(PushLoad.DeadRepository(i), PushLoad.Dead(i).Digest))
            .OrderBy(k => k.Digest.ToString(), StringComparer.Ordinal).Take(3).ToList();
        using var store = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, Connection = LiteDbConnectionMode.Shared });
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Bound)
        {
            foreach (var probe in probes)
            {
                if (await store.GetArtifactAsync(probe) is null)
                {
                    return Now();
                }
            }

            gc.HasExited.Should().BeFalse("the run must not end before it deleted anything: " + gc.Output);
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }

        throw new TimeoutException($"the sweep did not begin within {Bound}: {gc.Output}");
    }

    /// <summary>
    /// A command that runs a program with a tmpfs of its own on /tmp/.dotnet, where .NET keeps its named mutexes (a mount
    /// namespace; a user namespace too when not root), or ignores the test where that cannot be done: as a registry under systemd's
    /// PrivateTmp sees it, LiteDB's mutex is not this process's. Only that folder is hidden: the rest of /tmp (where a clone of the
    /// project, and so the test programs, may be) stays in sight.
    /// </summary>
    private static string[] PrivateTmp()
    {
        string[] unshare = Environment.UserName == "root" ? ["unshare", "--mount"] : ["unshare", "--user", "--map-root-user", "--mount"];
        string[] command = [.. unshare, "sh", "-c", "mkdir -p /tmp/.dotnet && mount -t tmpfs -o mode=0777 tmpfs /tmp/.dotnet && mkdir -m 0777 /tmp/.dotnet/shm /tmp/.dotnet/lockfiles && exec \"$0\" \"$@\""];
        try
        {
            using var probe = Process.Start(new ProcessStartInfo(command[0], [.. command[1..], "true"]) { RedirectStandardError = true })!;
            probe.WaitForExit(10_000);
            if (probe.HasExited && probe.ExitCode == 0)
            {
                return command;
            }

            Assert.Ignore($"'{string.Join(' ', command)}' fails here ({probe.StandardError.ReadToEnd().Trim()}): the private /tmp case needs Linux namespaces");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Ignore($"unshare cannot be run here ({e.Message}): the private /tmp case needs Linux namespaces");
        }

        return [];
    }

    private static async Task WaitForLineAsync(HarborGcProcess process, string line)
    {
        var deadline = Stopwatch.StartNew();
        while (!process.StandardOutput.Split('\n').Any(l => l.Trim() == line))
        {
            process.HasExited.Should().BeFalse($"the process must print '{line}': {process.Output}");
            deadline.Elapsed.Should().BeLessThan(Bound, $"the process must print '{line}': {process.Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }
    }

    private static long Now() => TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
}
