using System.Text.Json;
using Cronos;
using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>Runs and their history: overlaps skipped, crash-left runs failed at the next start, retention jobs, manual runs.</summary>
public class DaemonRunTests
{
    private DistributionTree _tree = null!;
    private string _history = null!;
    private FakeTimeProvider _time = null!;

    [SetUp]
    public void SetUp()
    {
        _tree = new DistributionTree(GcCommandTests.Now);
        _tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        _tree.Image("library/app", "v2", TimeSpan.FromDays(2), "v2", "base", "app2");
        _tree.Image("library/app", "v3", TimeSpan.FromDays(1), "v3", "base", "app3");
        _tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        _history = Path.Combine(_tree.Root, "history.db");
        _time = new FakeTimeProvider(GcCommandTests.Now);
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private DaemonJob Job(string name, JobKind kind, string store, bool dryRun = true) => new()
    {
        Name = name, Kind = kind, Store = store, ScheduleText = "@daily", Schedule = CronExpression.Parse("@daily"), DryRun = dryRun,
        Gc = new() { DryRun = dryRun }, PolicyPath = "policy.json", GracePeriod = TimeSpan.Zero, // the clock is fake: no wait
        Policy = kind == JobKind.Retention ? Harbor.Gc.Retention.RetentionPolicyJson.Parse(DaemonConfigTests.Policy) : null,
    };

    private JobRunner Runner(RunHistory history, IRetentionJob retention) =>
        new(history, retention, _time, LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, _time))));

    [Test]
    public void Given_two_jobs_then_two_GC_runs_overlap_and_runs_on_the_same_store_overlap_but_retention_on_another_store_does_not()
    {
        var gcA = Job("gc-a", JobKind.Gc, "litedb:/a.db");
        var gcB = Job("gc-b", JobKind.Gc, "litedb:/b.db");
        var retentionA = Job("ret-a", JobKind.Retention, "litedb:/a.db");
        var retentionB = Job("ret-b", JobKind.Retention, "litedb:/b.db");

        gcA.Overlaps(gcB).Should().BeTrue("never two GC runs at once, whatever the stores");
        gcA.Overlaps(retentionA).Should().BeTrue("GC and retention of the same store never at once");
        retentionA.Overlaps(gcA).Should().BeTrue();
        retentionA.Overlaps(retentionA).Should().BeTrue("a job never overlaps itself");
        gcA.Overlaps(retentionB).Should().BeFalse();
        retentionA.Overlaps(retentionB).Should().BeFalse();
    }

    [Test]
    public async Task Given_a_retention_run_in_progress_when_GC_of_the_same_store_fires_then_it_is_skipped_and_recorded_but_GC_of_another_store_runs()
    {
        using var history = RunHistory.Open(_history, create: true);
        var blocking = new BlockingRetention();
        var runner = Runner(history, blocking);
        var store = $"distribution:{_tree.Root}";
        var retention = Job("retention", JobKind.Retention, store);

        var inProgress = Task.Run(() => runner.RunAsync(retention, RunTrigger.Schedule, CancellationToken.None));
        await blocking.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var skipped = await runner.RunAsync(Job("gc-same-store", JobKind.Gc, store), RunTrigger.Schedule, CancellationToken.None);
        var again = await runner.RunAsync(retention, RunTrigger.Schedule, CancellationToken.None);
        using var other = new DistributionTree(GcCommandTests.Now);
        var elsewhere = await runner.RunAsync(Job("gc-other-store", JobKind.Gc, $"distribution:{other.Root}"), RunTrigger.Schedule, CancellationToken.None);
        blocking.Release.SetResult();
        var finished = await inProgress.WaitAsync(TimeSpan.FromSeconds(10));

        skipped.Status.Should().Be(RunStatus.Skipped);
        skipped.Message.Should().Contain($"overlap run {finished.Id} (job 'retention'");
        again.Status.Should().Be(RunStatus.Skipped, "a job's next occurrence during its own run is skipped");
        elsewhere.Status.Should().Be(RunStatus.Succeeded, elsewhere.Message);
        finished.Status.Should().Be(RunStatus.Succeeded);
        var stored = history.List(null, 10);
        stored.Select(r => (r.Id, r.Status)).Should().BeEquivalentTo([(finished.Id, RunStatus.Succeeded), (skipped.Id, RunStatus.Skipped), (again.Id, RunStatus.Skipped), (elsewhere.Id, RunStatus.Succeeded)]);
        history.Get(skipped.Id)!.Message.Should().Be(skipped.Message);
    }

    [Test]
    public async Task Given_a_run_left_running_by_a_crash_when_the_daemon_starts_then_it_is_marked_failed_and_the_daemon_exits_0_when_stopped()
    {
        using (var history = RunHistory.Open(_history, create: true))
        {
            history.Add(new RunRecord { Job = "nightly", Trigger = RunTrigger.Schedule, Status = RunStatus.Running, StartedAt = GcCommandTests.Now.AddHours(-1) });
        }

        var config = Path.Combine(_tree.Root, "daemon.json");
        File.WriteAllText(config, """{ "history": "history.db", "jobs": [ { "name": "nightly", "kind": "gc", "deleteUntagged": true, "store": "distribution:.", "schedule": "0 0 3 1 1 *" } ] }""");
        using var stop = new CancellationTokenSource();
        var stderr = new StringWriter();
        var daemon = Task.Run(() => Program.RunAsync(["daemon", "--config", config], new StringWriter(), stderr, TimeProvider.System, stop.Token));

        RunRecord? run = null;
        for (var i = 0; i < 200 && run?.Status != RunStatus.Failed; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
            using var history = RunHistory.Open(_history, create: false);
            run = history.Get(1);
        }

        await stop.CancelAsync();
        (await daemon.WaitAsync(TimeSpan.FromSeconds(20))).Should().Be(0, stderr.ToString());
        run!.Status.Should().Be(RunStatus.Failed);
        run.Message.Should().Be("interrupted: the daemon stopped without finishing it");
        run.FinishedAt.Should().NotBeNull();
        stderr.ToString().Should().Contain("run 1 of job nightly was left running by a crash: marked failed");

        var (code, output, _) = await GcCommandTests.Run("show", "1", "--config", config);
        code.Should().Be(0);
        output.Should().Contain("status:   failed").And.Contain("interrupted: the daemon stopped without finishing it");
    }

    [Test]
    public async Task Given_a_dry_retention_job_then_the_plan_is_recorded_with_its_counts_and_report()
    {
        // given three tagged images in library/app and the policy "retain the latest pushed 1"
        using var history = RunHistory.Open(_history, create: true);
        var before = _tree.Files();

        var run = await Runner(history, new RetentionJob(_time)).RunAsync(Job("retention", JobKind.Retention, $"distribution:{_tree.Root}"), RunTrigger.Schedule, CancellationToken.None);

        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        run.DryRun.Should().BeTrue();
        run.Artifacts.Should().Be(3, "v1, v2 and the untagged image go; v3, the latest pushed, stays");
        using var report = JsonDocument.Parse(history.ReadReport(run.Id)!);
        report.RootElement.GetProperty("kind").GetString().Should().Be("retention");
        var repository = report.RootElement.GetProperty("repositories").EnumerateArray().Should().ContainSingle().Subject;
        (repository.GetProperty("total").GetInt32(), repository.GetProperty("retained").GetInt32(), repository.GetProperty("deleted").GetInt32()).Should().Be((4, 1, 3));
        _tree.Files().Should().BeEquivalentTo(before, "a dry run deletes nothing");
    }

    [TestCase("retention")]
    [TestCase("gc")]
    public async Task Given_a_job_with_reportJson_and_reportHtml_then_each_run_writes_both_files_named_by_its_id_with_the_same_numbers(string kindName)
    {
        var kind = kindName == "gc" ? JobKind.Gc : JobKind.Retention;
        // given the images of SetUp and a dry job (retention: "retain the latest pushed 1"; GC: the untagged image goes)
        using var history = RunHistory.Open(_history, create: true);
        var job = new DaemonJob
        {
            Name = "reports", Kind = kind, Store = $"distribution:{_tree.Root}", ScheduleText = "@daily", Schedule = CronExpression.Parse("@daily"),
            DryRun = true, Gc = new() { DeleteUntagged = true, DryRun = true, TimeWindow = TimeSpan.Zero },
            Policy = kind == JobKind.Retention ? Harbor.Gc.Retention.RetentionPolicyJson.Parse(DaemonConfigTests.Policy) : null,
            ReportJson = Path.Combine(_tree.Root, "run-{id}.json"), ReportHtml = Path.Combine(_tree.Root, "run-{id}.html"),
        };

        var run = await Runner(history, new RetentionJob(_time)).RunAsync(job, RunTrigger.Schedule, CancellationToken.None);

        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        run.Options["reportHtml"].Should().Be(job.ReportHtml);
        var html = await File.ReadAllTextAsync(Path.Combine(_tree.Root, $"run-{run.Id}.html"));
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_tree.Root, $"run-{run.Id}.json")));
        var summary = report.RootElement.GetProperty("summary");
        if (kind == JobKind.Retention)
        {
            html.Should().Contain("<title>Retention dry run on distribution:");
            html.Should().Contain($"data-key=\"deleted\" class=\"num\" data-value=\"{summary.GetProperty("deleted").GetInt32()}\"");
            summary.GetProperty("deleted").GetInt32().Should().Be(3);
        }
        else
        {
            html.Should().Contain("<title>GC dry run on distribution:");
            html.Should().Contain($"data-key=\"bytes\" class=\"num\" data-value=\"{summary.GetProperty("bytes").GetInt64()}\"");
            summary.GetProperty("artifacts").GetInt32().Should().Be(1, "the untagged image");
        }
    }

    [Test]
    public async Task Given_a_retention_job_that_is_not_a_dry_run_then_it_deletes_the_plan_and_the_next_run_finds_nothing()
    {
        // given the same three tagged images and the policy "retain the latest pushed 1" (Harbor's latestPushedK)
        using var history = RunHistory.Open(_history, create: true);
        var (v1, _, _) = _tree.Image("library/app", "v1b", TimeSpan.FromDays(4), "v1b", "base", "app1b");
        var job = Job("retention", JobKind.Retention, $"distribution:{_tree.Root}", dryRun: false);

        // when the job runs for real
        var run = await Runner(history, new RetentionJob(_time)).RunAsync(job, RunTrigger.Schedule, CancellationToken.None);

        // then the older images' revisions are gone, the latest pushed stays, and the report says what was deleted
        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        run.DryRun.Should().BeFalse();
        run.Artifacts.Should().Be(4, "v1, v1b, v2 and the untagged image go; v3 stays");
        run.Message.Should().Contain("4 of 5 artifacts deleted").And.Contain("the next GC frees their blobs");
        _tree.HasRevision("library/app", v1).Should().BeFalse();
        using (var report = JsonDocument.Parse(history.ReadReport(run.Id)!))
        {
            report.RootElement.GetProperty("dryRun").GetBoolean().Should().BeFalse();
        }

        var again = await Runner(history, new RetentionJob(_time)).RunAsync(job, RunTrigger.Schedule, CancellationToken.None);
        again.Status.Should().Be(RunStatus.Succeeded, again.Message);
        again.Artifacts.Should().Be(0, "what the first run kept is what the policy retains");
    }

    [Test]
    public async Task Given_manual_gc_runs_with_history_then_history_and_show_print_them()
    {
        var store = $"distribution:{_tree.Root}";
        (await GcCommandTests.Run("gc", "--delete-untagged", "true", "--store", store, "--dry-run", "--time-window", "0", "--history", _history)).Code.Should().Be(0);
        (await GcCommandTests.Run("gc", "--delete-untagged", "true", "--store", store, "--time-window", "0", "--workers", "2", "--history", _history, "--quiet")).Code.Should().Be(0);

        var (code, table, errors) = await GcCommandTests.Run("history", "--history", _history);
        code.Should().Be(0, errors);
        var lines = table.TrimEnd().Split('\n');
        lines.Should().HaveCount(3);
        lines[0].Should().MatchRegex(@"^ID\s+JOB\s+TRIGGER\s+STATUS\s+STARTED \(UTC\)\s+DURATION\s+ARTIFACTS\s+BLOBS\s+BYTES$");
        lines[1].Should().MatchRegex(@"^ 2\s+gc\s+manual\s+succeeded\s+2026-03-01 12:00:00\s+0\.0s\s+1\s+3\s+[\d,]+$", "the latest first: the real run deleted the untagged image");
        lines[2].Should().MatchRegex(@"^ 1\s+gc\s+manual\s+succeeded \(dry\)\s+2026-03-01 12:00:00\s+0\.0s\s+1\s+3\s+[\d,]+$");
        (await GcCommandTests.Run("history", "--history", _history, "--limit", "1")).Out.TrimEnd().Split('\n').Should().HaveCount(2);
        (await GcCommandTests.Run("history", "--history", _history, "--job", "nightly")).Out.Should().Contain("no runs of job 'nightly'");

        var show = await GcCommandTests.Run("show", "2", "--history", _history);
        show.Code.Should().Be(0, show.Err);
        show.Out.Should().Contain("run 2: job gc (gc, manual)").And.Contain("status:   succeeded").And.Contain($"store:    {store}")
            .And.Contain("workers=2").And.Contain("timeWindow=0s").And.Contain("summary:  deleted 1 artifacts, 3 blobs")
            .And.Contain("GarbageCollector: GC plan for").And.Contain("report:   stored");
        var json = await GcCommandTests.Run("show", "2", "--history", _history, "--report-json");
        JsonDocument.Parse(json.Out).RootElement.GetProperty("dryRun").GetBoolean().Should().BeFalse();

        (await GcCommandTests.Run("show", "9", "--history", _history)).Should().Match<(int Code, string Out, string Err)>(r => r.Code == 2 && r.Err.Contains("there is no run 9"));
        (await GcCommandTests.Run("show", "x")).Code.Should().Be(2);
        (await GcCommandTests.Run("history", "--history", Path.Combine(_tree.Root, "none.db"))).Should().Match<(int Code, string Out, string Err)>(r => r.Code == 2 && r.Err.Contains("does not exist"));
    }

    /// <summary>A retention run that waits until released: a run in progress for as long as the test needs.</summary>
    private sealed class BlockingRetention : IRetentionJob
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken)
        {
            Started.SetResult();
            await Release.Task.WaitAsync(cancellationToken);
            return new RetentionRunResult(true, 0, "{}");
        }
    }
}
