using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Issue 13 §1, "pushes during a real run": a real <c>harbor-gc gc</c> (a process of its own, the default 2 h window) runs on a
/// generated Distribution tree (every file three to ten days old) that the real registry serves, while clients push images that
/// reuse what the dry run's plan marked dead — re-tags of dead manifests, cross-repository mounts of dead layers, uploads of dead
/// blobs into new repositories. A push the registry refuses may be retried; every push it accepts (201) must pull whole from a
/// freshly started registry afterwards. Rounds (a fresh tree each) repeat until at least 1,000 pushes were accepted while a run
/// was going; each round prints what happened (CI logs show it), the breakdown of broken pushes by kind, answer, missing file and
/// the step of the sweep they were accepted in.
/// </summary>
[Category("Integration")]
public class DistributionPushRaceIntegrationTests : RegistryIntegrationTest
{
    /// <summary>
    /// The real run's options beyond its store, workers and report: the one place for the options of a fix (a grace period…).
    /// Never <c>--time-window 0</c>: the default window applies, the tree being days old.
    /// </summary>
    private static readonly string[] RealRunOptions = ["--grace-period", "5s"];

    /// <summary>Accepted pushes while a run was going, per worker setting (issue 13).</summary>
    private const int RequiredPushes = 1_000;

    /// <summary>The bound on rounds: a run long enough to be raced takes a few seconds, each round brings hundreds of pushes.</summary>
    private const int MaxRounds = 15;

    private const int Clients = 8;

    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(20);

    private static readonly TimeProvider Time = TimeProvider.System;

    /// <summary>
    /// The registry's root goes on a memory file system when there is one with room (Linux's <c>/dev/shm</c>): each round writes
    /// and deletes about 12,000 small files, which on a disk shared with other builds took most of a round's time. The race is
    /// between two processes' file operations in the same order on either file system.
    /// </summary>
    private protected override string? RegistryParentFolder =>
        Directory.Exists("/dev/shm") && new DriveInfo("/dev/shm").AvailableFreeSpace > 1L << 30 ? "/dev/shm" : null;

    [TestCase(1)]
    [TestCase(4)]
    public async Task PushesReusingWhatThePlanMarkedDead_DuringARealRun_EveryAcceptedPushPullsWhole(int workers)
    {
        // given / when / then, round after round: see RoundAsync
        var started = Time.GetTimestamp();
        var rounds = new List<RoundResult>();
        while (rounds.Sum(r => r.AcceptedWhileRunning) < RequiredPushes)
        {
            rounds.Count.Should().BeLessThan(MaxRounds,
                $"{MaxRounds} rounds brought only {rounds.Sum(r => r.AcceptedWhileRunning)} accepted pushes while a run was going, not {RequiredPushes}");
            rounds.Add(await RoundAsync(workers, rounds.Count + 1));
        }

        var accepted = rounds.SelectMany(r => r.Accepted).ToList();
        var broken = rounds.SelectMany(r => r.Broken).ToList();
        var output = TestContext.Out;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"--workers {workers}: {rounds.Count} rounds in {Time.GetElapsedTime(started).TotalSeconds:N0} s, {accepted.Count} accepted pushes ({rounds.Sum(r => r.AcceptedWhileRunning)} while a run was going, {accepted.Count(a => a.Phase == Phase.Sweep)} during its sweep), {broken.Count} broken"));
        output.WriteLine("  by kind: " + string.Join(", ", Enum.GetValues<PushKind>().Select(k =>
            $"{Name(k)} {broken.Count(b => b.Push.Kind == k)} broken of {accepted.Count(a => a.Push.Kind == k)}")));
        Breakdown("  accepted pushes by step of the run", accepted.GroupBy(a => $"{Name(a.Push.Kind)} {a.Step}").Select(g => (g.Key, g.Count())));
        Breakdown("  broken pushes by step of the run they were accepted in", broken.GroupBy(b => $"{Name(b.Push.Kind)} {b.Step}").Select(g => (g.Key, g.Count())));
        Breakdown("  broken pushes by answer", broken.SelectMany(b => b.Failures.Select(f => f.Answer).Distinct()).GroupBy(a => a).Select(g => (g.Key, g.Count())));
        Breakdown("  failed pulls by cause", broken.SelectMany(b => b.Failures.Select(f => $"{Name(b.Push.Kind)}, {f.Subject} {f.Answer}: {f.Cause}"))
            .GroupBy(c => c).Select(g => (g.Key, g.Count())));
        Breakdown("  refused requests (the client retried)", rounds.SelectMany(r => r.Refusals).GroupBy(r => r.Key).Select(g => (g.Key, g.Sum(r => r.Value))));
        Breakdown("  pushes given up", rounds.SelectMany(r => r.GaveUp).GroupBy(r => Name(r.Key)).Select(g => (g.Key, g.Sum(r => r.Value))));

        // the pushes raced the sweep (not only the run's reading) and mixed the three kinds
        accepted.Count(a => a.Phase == Phase.Sweep).Should().BeGreaterThanOrEqualTo(RequiredPushes / 2, "most pushes must land while the run deletes");
        Enum.GetValues<PushKind>().Should().OnlyContain(k => accepted.Count(a => a.Push.Kind == k) >= accepted.Count / 4, "the clients push the three kinds in turn");

        // every push the registry accepted pulls whole
        broken.Count.Should().Be(0, $"every push the registry accepted must pull whole; {broken.Count} of {accepted.Count} do not, the first ones:\n" +
            string.Join("\n", broken.Take(8)) + "\n");

        // and every run succeeded and deleted garbage: most dead items no push reused are gone
        rounds.Should().OnlyContain(r => r.ExitCode == 0, string.Join("\n", rounds.Where(r => r.ExitCode != 0).Select(r => $"round {r.Round}: exit {r.ExitCode}\n{r.RunOutput}")));
        var (blobsGone, blobsUnused) = (rounds.Sum(r => r.DeadBlobsGone), rounds.Sum(r => r.DeadBlobsNotReused));
        var (manifestsGone, manifestsUnused) = (rounds.Sum(r => r.DeadManifestsGone), rounds.Sum(r => r.DeadManifestsNotReused));
        blobsGone.Should().BeGreaterThanOrEqualTo(blobsUnused * 3 / 4, $"the runs deleted {blobsGone} of the {blobsUnused} dead blobs no push reused");
        manifestsGone.Should().BeGreaterThanOrEqualTo(manifestsUnused * 3 / 4, $"the runs deleted {manifestsGone} of the {manifestsUnused} dead manifests no push reused");
    }

    /// <summary>One round: a fresh tree, its dry run, a real run raced by pushes, every accepted push pulled from a restarted registry.</summary>
    private async Task<RoundResult> RoundAsync(int workers, int round)
    {
        var roundStarted = Time.GetTimestamp();
        var work = Directory.CreateTempSubdirectory("harbor-gc-push-race-");
        try
        {
            // given a fresh generated tree in the registry's root, every file three to ten days old: 40 repositories, about 1,000
            // manifests sharing base layers, indexes, cosign signatures, OCI 1.1 referrers; most pushes untagged or by a moving tag
            // that leaves the previous one untagged, so that most of the tree is garbage and the run has a lot to delete
            Registry.Stop();
            var old = Path.Combine(Registry.Root, "docker");
            if (Directory.Exists(old))
            {
                Directory.Delete(old, recursive: true);
            }

            var tree = new DistributionTree(Time.GetUtcNow(), Registry.Root);
            var stats = new DistributionTreeGenerator(tree, (workers * 1_000) + round)
            {
                Repositories = 40,
                Manifests = 1_000,
                BaseLayers = 60,
                ReleaseTagShare = 0.25,
                UntaggedShare = 0.15,
            }.Generate();
            await Registry.StartAsync();
            var treeWritten = Time.GetTimestamp();

            // and the plan of a dry run (the default window), with the bytes of everything it marks dead, read before the real run
            var planFile = Path.Combine(work.FullName, "plan.json");
            await DryRunAsync(planFile);
            var garbage = PlannedGarbage.Read(planFile, tree);

            // when a real run starts as a process of its own, and from its start until it exits, clients push images reusing
            // the dead items (re-tag, mount, upload in turn), retrying a refused push
            var log = new AcceptedPushLog(Time);
            var pusher = new PushRaceClient(Client, garbage, log, $"r{round}", (workers * 1_000) + round);
            var reportFile = Path.Combine(work.FullName, "run.json");
            string[] command = ["gc", "--delete-untagged", "true", "--store", $"distribution:{Registry.Root}", "--workers", workers.ToString(CultureInfo.InvariantCulture),
                "--report-json", reportFile, "--quiet", .. RealRunOptions];
            using var stop = new CancellationTokenSource();
            var runStarted = Time.GetTimestamp();
            using var gc = HarborGcProcess.Start(command);
            var watch = WatchSweepAsync(tree, garbage, stop.Token);
            var pushing = pusher.PushUntilAsync(Clients, stop.Token);
            try
            {
                await gc.WaitAsync(RunTimeout);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"harbor-gc {string.Join(' ', command)} did not finish within {RunTimeout}:\n{gc.Output}");
            }
            finally
            {
                await stop.CancelAsync();
            }

            var runEnded = Time.GetTimestamp();
            await pushing;
            var sweep = await watch;
            var report = RunReport.Read(reportFile);

            // then, from a freshly started registry on the same root, every accepted push pulls whole
            await Registry.RestartAsync();
            var restarted = Time.GetTimestamp();
            var accepted = log.Accepted.Select(p => new TimedPush(p, sweep.StepAt(p.At, runEnded))).ToList();
            var broken = (await new PullVerifier(Client, tree).VerifyAsync(log.Accepted))
                .Select(b => new Broken(b.Push, sweep.StepAt(b.Push.At, runEnded), [.. b.Failures.Select(f => f with { Cause = Explain(f, report) })]))
                .ToList();
            var pulled = Time.GetTimestamp();

            // and the dead items that no push reused are mostly gone
            var reusedBlobs = log.ReusedBlobs.ToHashSet();
            var reusedManifests = log.ReusedManifests.ToHashSet();
            var unusedBlobs = garbage.Blobs.Where(b => !reusedBlobs.Contains(b)).ToList();
            var unusedManifests = garbage.Manifests.Where(m => !reusedManifests.Contains((m.Repository, m.Digest))).ToList();
            var result = new RoundResult(round, accepted, accepted.Count(a => a.Push.At < runEnded), broken, log.Refusals, log.GaveUp, gc.ExitCode, gc.Output,
                unusedBlobs.Count(b => !tree.HasBlob(b)), unusedBlobs.Count,
                unusedManifests.Count(m => !tree.HasRevision(m.Repository, m.Digest)), unusedManifests.Count);

            double Seconds(long from, long to) => Time.GetElapsedTime(from, to).TotalSeconds;
            string Seen(long? at) => at is { } t ? string.Create(CultureInfo.InvariantCulture, $"{Seconds(runStarted, t):N1} s") : "never";
            var summary = string.Create(CultureInfo.InvariantCulture, $"""
                round {round} (--workers {workers}, {Time.GetElapsedTime(roundStarted).TotalSeconds:N1} s: tree {Seconds(roundStarted, treeWritten):N1} s, dry run {Seconds(treeWritten, runStarted):N1} s, run {Seconds(runStarted, runEnded):N1} s, pushes after it {Seconds(runEnded, restarted):N1} s, pulls {Seconds(restarted, pulled):N1} s): {stats}; the plan: {garbage.Manifests.Count} dead manifests, {garbage.Blobs.Count} dead blobs, {garbage.LayerLinks.Count} layer links
                  run: {Seconds(runStarted, runEnded):N1} s, exit {gc.ExitCode}, deleted {report.ArtifactsDeleted} manifests, {report.BlobsDeleted} blobs, {report.LayerLinksDeleted} layer links, kept {report.ArtifactsKept} manifests and {report.BlobsKept} blobs; first deletion seen at {Seen(sweep.Manifests)} (manifests), {Seen(sweep.Blobs)} (blobs), {Seen(sweep.LayerLinks)} (layer links)
                  pushes accepted: {accepted.Count} ({result.AcceptedWhileRunning} while the run was going, {accepted.Count(a => a.Phase == Phase.Sweep)} during its sweep; {string.Join(", ", Enum.GetValues<PushKind>().Select(k => $"{Name(k)} {accepted.Count(a => a.Push.Kind == k)}"))}), {log.Refusals.Values.Sum()} requests refused, {log.GaveUp.Values.Sum()} pushes given up
                  broken: {broken.Count} ({string.Join(", ", Enum.GetValues<PushKind>().Select(k => $"{Name(k)} {broken.Count(b => b.Push.Kind == k)}"))}); gone after the run: {result.DeadBlobsGone} of {result.DeadBlobsNotReused} dead blobs and {result.DeadManifestsGone} of {result.DeadManifestsNotReused} dead manifests no push reused
                """);
            TestContext.Out.WriteLine(summary);
            TestContext.Progress.WriteLine(summary);
            return result;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary><c>harbor-gc gc --dry-run --report-json FILE</c> on the registry's root, in this process.</summary>
    private async Task DryRunAsync(string reportFile)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] command = ["gc", "--delete-untagged", "true", "--store", $"distribution:{Registry.Root}", "--dry-run", "--report-json", reportFile, "--quiet"];
        var code = await Program.RunAsync(command, stdout, stderr, Time, CancellationToken.None);
        code.Should().Be(0, $"harbor-gc {string.Join(' ', command)} failed:\n{stdout}\n{stderr}");
    }

    /// <summary>
    /// Watches the run's deletions: when the first of the plan's first dead manifests, dead blobs and layer links goes (the sweep
    /// takes each list in the plan's order, so its first items go first). Pushes only ever add files, so a file gone is the run.
    /// </summary>
    private static async Task<SweepMarks> WatchSweepAsync(DistributionTree tree, PlannedGarbage garbage, CancellationToken stop)
    {
        const int Sample = 50;
        var revisions = garbage.Manifests.Take(Sample).Select(m => Path.Combine(tree.RevisionFolder(m.Repository, m.Digest), "link")).ToList();
        var blobs = garbage.Blobs.Take(Sample).Select(b => Path.Combine(tree.BlobFolder(b), "data")).ToList();
        var links = garbage.LayerLinks.Take(Sample).Select(l => Path.Combine(tree.LayerFolder(l.Repository, l.Digest), "link")).ToList();
        long? manifests = null, deadBlobs = null, layerLinks = null;
        long? FirstGone(long? seen, List<string> files) => seen ?? (files.Exists(f => !File.Exists(f)) ? Time.GetTimestamp() : null);
        while (!stop.IsCancellationRequested)
        {
            manifests = FirstGone(manifests, revisions);
            deadBlobs = FirstGone(deadBlobs, blobs);
            layerLinks = FirstGone(layerLinks, links);
            try
            {
                await Task.Delay(WatchInterval, Time, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return new SweepMarks(manifests, deadBlobs, layerLinks);
    }

    /// <summary>A failed pull's cause, and what the real run planned of it (the blob, the repository's layer link, the manifest).</summary>
    private static string Explain(PullFailure failure, RunReport report)
    {
        var planned = new List<string>();
        if (failure.IsBlob)
        {
            if (report.Blobs.Contains(failure.Digest))
            {
                planned.Add(report.BlobsKeptSet.Contains(failure.Digest) ? "the blob (kept)" : "the blob");
            }

            if (report.LayerLinks.Contains((failure.Repository, failure.Digest)))
            {
                planned.Add("the layer link");
            }
        }
        else if (report.Artifacts.Contains((failure.Repository, failure.Digest)))
        {
            planned.Add(report.ArtifactsKeptSet.Contains($"{failure.Repository}@{failure.Digest}") ? "the manifest (kept)" : "the manifest");
        }

        return $"{failure.Cause}; the run planned {(planned.Count == 0 ? "neither" : string.Join(" and ", planned))}";
    }

    private static void Breakdown(string title, IEnumerable<(string Key, int Count)> counts)
    {
        var list = counts.OrderByDescending(c => c.Count).ThenBy(c => c.Key, StringComparer.Ordinal).ToList();
        if (list.Count > 0)
        {
            TestContext.Out.WriteLine($"{title}: " + string.Join("; ", list.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Count}"))));
        }
    }

    private static string Name(PushKind kind) => kind switch
    {
        PushKind.Retag => "re-tag",
        PushKind.Mount => "mount",
        _ => "upload",
    };

    private enum Phase
    {
        BeforeSweep,
        Sweep,
        AfterRun,
    }

    /// <summary>When the watch saw the run's first deletion of a manifest, a blob and a layer link (timestamps; null when not seen).</summary>
    private sealed record SweepMarks(long? Manifests, long? Blobs, long? LayerLinks)
    {
        /// <summary>The step of the run at a moment: before its sweep (reading, planning), deleting manifests, blobs or layer links, or after it exited.</summary>
        public string StepAt(long at, long runEnded) =>
            at >= runEnded ? "after the run" :
            LayerLinks is { } l && at >= l ? "deleting layer links" :
            Blobs is { } b && at >= b ? "deleting blobs" :
            Manifests is { } m && at >= m ? "deleting manifests" :
            "before the sweep";
    }

    private sealed record TimedPush(AcceptedPush Push, string Step)
    {
        public Phase Phase => Step switch
        {
            "after the run" => Phase.AfterRun,
            "before the sweep" => Phase.BeforeSweep,
            _ => Phase.Sweep,
        };
    }

    private sealed record Broken(AcceptedPush Push, string Step, IReadOnlyList<PullFailure> Failures)
    {
        public override string ToString() => $"{Push} accepted {Step}: {string.Join("; ", Failures)}";
    }

    private sealed record RoundResult(int Round, IReadOnlyList<TimedPush> Accepted, int AcceptedWhileRunning, IReadOnlyList<Broken> Broken,
        IReadOnlyDictionary<string, int> Refusals, IReadOnlyDictionary<PushKind, int> GaveUp, int ExitCode, string RunOutput,
        int DeadBlobsGone, int DeadBlobsNotReused, int DeadManifestsGone, int DeadManifestsNotReused);

    /// <summary>The real run's JSON report: what it planned (its own snapshot) and what it did.</summary>
    private sealed record RunReport(int ArtifactsDeleted, int BlobsDeleted, int LayerLinksDeleted, int ArtifactsKept, int BlobsKept,
        HashSet<(string, Digest)> Artifacts, HashSet<Digest> Blobs, HashSet<(string, Digest)> LayerLinks, HashSet<string> ArtifactsKeptSet, HashSet<Digest> BlobsKeptSet)
    {
        /// <summary>Reads the report; a run that failed before writing one planned and did nothing known.</summary>
        public static RunReport Read(string file)
        {
            if (!File.Exists(file))
            {
                return new RunReport(0, 0, 0, 0, 0, [], [], [], [], []);
            }

            using var json = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = json.RootElement;
            if (!root.TryGetProperty("result", out var result))
            {
                return new RunReport(0, 0, 0, 0, 0, [], [], [], [], []); // a dry run (a control of the harness) deleted nothing
            }

            (string, Digest) Key(JsonElement e) => (e.GetProperty("repository").GetString()!, Digest.Parse(e.GetProperty("digest").GetString()!));
            var artifactsKept = result.GetProperty("artifactsKept").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
            var blobsKept = result.GetProperty("blobsKept").EnumerateArray().Select(e => Digest.Parse(e.GetString()!)).ToHashSet();
            return new RunReport(result.GetProperty("artifactsDeleted").GetInt32(), result.GetProperty("blobsDeleted").GetInt32(),
                result.GetProperty("layerLinksDeleted").GetInt32(), artifactsKept.Count, blobsKept.Count,
                [.. root.GetProperty("artifacts").EnumerateArray().Select(Key)],
                [.. root.GetProperty("blobs").EnumerateArray().Select(b => Digest.Parse(b.GetProperty("digest").GetString()!))],
                [.. root.GetProperty("layerLinks").EnumerateArray().Select(Key)], artifactsKept, blobsKept);
        }
    }
}
