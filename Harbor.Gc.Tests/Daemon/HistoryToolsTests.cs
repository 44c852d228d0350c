using System.Text.Json;
using Cronos;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// Issue 14's history tools: <c>retention run --history</c>, <c>history --json</c> and <c>show --json</c>, pruning
/// (<c>history prune --keep</c>, <c>keep</c> in the daemon's configuration) and <c>daemon run-now JOB</c>.
/// </summary>
public class HistoryToolsTests
{
    private static readonly DateTimeOffset Now = GcCommandTests.Now;
    private DistributionTree _tree = null!;
    private string _history = null!;
    private string _policy = null!;

    [SetUp]
    public void SetUp()
    {
        // given library/app with three tagged images and an untagged one, and the policy "retain the latest pushed 1"
        _tree = new DistributionTree(Now);
        _tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        _tree.Image("library/app", "v2", TimeSpan.FromDays(2), "v2", "base", "app2");
        _tree.Image("library/app", "v3", TimeSpan.FromDays(1), "v3", "base", "app3");
        _tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        _history = Path.Combine(_tree.Root, "history.db");
        _policy = Path.Combine(_tree.Root, "policy.json");
        File.WriteAllText(_policy, DaemonConfigTests.Policy);
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private string Store => $"distribution:{_tree.Root}";

    [Test]
    public async Task Given_retention_runs_with_history_then_each_is_recorded_as_a_retention_run_with_its_counts_report_and_log()
    {
        // when a dry retention run, then a real one, are recorded
        (await GcCommandTests.Run("retention", "run", "--policy", _policy, "--store", Store, "--dry-run", "--history", _history, "--quiet")).Code.Should().Be(0);
        var real = await GcCommandTests.Run("retention", "run", "--policy", _policy, "--store", Store, "--history", _history, "--quiet");
        real.Code.Should().Be(0, real.Err);

        // then the history holds both, as retention runs with their counts, reports and log lines
        using (var history = RunHistory.Open(_history, create: false))
        {
            var runs = history.List(null, 10).OrderBy(r => r.Id).ToList();
            runs.Should().HaveCount(2);
            runs.Should().OnlyContain(r => r.Kind == "retention" && r.Job == "retention" && r.Trigger == RunTrigger.Manual && r.Status == RunStatus.Succeeded && r.Store == Store);
            (runs[0].DryRun, runs[0].Artifacts, runs[0].Message).Should().Be((true, 3, $"dry run: 3 of 4 artifacts would be deleted; {RetentionRunner.RePushUnknownWarning}"));
            (runs[1].DryRun, runs[1].Artifacts).Should().Be((false, 3));
            runs[1].Message.Should().StartWith("3 of 4 artifacts deleted").And.Contain("the next GC frees their blobs");
            runs[1].Options.Should().Contain("policy", _policy).And.Contain("dryRun", "false");
            runs[1].Log.Should().Contain(l => l.Contains($"RetentionRunner: retention run on {Store} started", StringComparison.Ordinal))
                .And.Contain(l => l.Contains("RetentionRunner: retention run finished: 3 of 4 artifacts deleted", StringComparison.Ordinal));
            using var report = JsonDocument.Parse(history.ReadReport(runs[1].Id)!);
            report.RootElement.GetProperty("kind").GetString().Should().Be("retention");
            report.RootElement.GetProperty("dryRun").GetBoolean().Should().BeFalse();
        }

        var show = await GcCommandTests.Run("show", "2", "--history", _history);
        show.Out.Should().Contain("run 2: job retention (retention, manual)").And.Contain("summary:  deleted 3 artifacts").And.Contain("report:   stored");
    }

    [Test]
    public async Task Given_a_retention_run_stopped_before_it_reads_then_its_history_record_says_stopped_and_nothing_deleted()
    {
        var before = _tree.Files();

        // when the run is stopped before it reads anything (its token already cancelled, as a signal at the start leaves it)
        var code = await Gc.Runner.Program.RunAsync(["retention", "run", "--policy", _policy, "--store", Store, "--history", _history],
            new StringWriter(), new StringWriter(), new FakeTimeProvider(Now), new CancellationToken(canceled: true));

        // then it exits 3 and the history records it stopped, with its report
        code.Should().Be(3);
        _tree.Files().Should().BeEquivalentTo(before.Append("history.db"));
        using var history = RunHistory.Open(_history, create: false);
        var run = history.List(null, 10).Should().ContainSingle().Subject;
        (run.Kind, run.Status, run.Artifacts).Should().Be(("retention", RunStatus.Stopped, 0));
        run.Message.Should().Be("stopped while reading the store and evaluating the policy, before the plan was made; nothing was deleted");
        run.FinishedAt.Should().NotBeNull();
        run.HasReport.Should().BeTrue();
        run.Log.Should().Contain(l => l.Contains("retention run stopped", StringComparison.Ordinal));
    }

    [Test]
    public async Task Given_runs_in_the_history_then_history_json_lists_them_latest_first_and_show_json_prints_one_with_its_log()
    {
        // given a dry GC run and a real one
        (await GcCommandTests.Run("gc", "--delete-untagged", "true", "--store", Store, "--dry-run", "--time-window", "0", "--history", _history, "--quiet")).Code.Should().Be(0);
        (await GcCommandTests.Run("gc", "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--history", _history, "--quiet")).Code.Should().Be(0);

        // when listed as JSON
        var list = await GcCommandTests.Run("history", "--history", _history, "--json");

        // then an array of both, the latest first, with the table's fields
        list.Code.Should().Be(0, list.Err);
        using (var json = JsonDocument.Parse(list.Out))
        {
            var runs = json.RootElement.EnumerateArray().ToList();
            runs.Select(r => r.GetProperty("id").GetInt32()).Should().Equal(2, 1);
            var latest = runs[0];
            (latest.GetProperty("job").GetString(), latest.GetProperty("kind").GetString(), latest.GetProperty("trigger").GetString(), latest.GetProperty("status").GetString())
                .Should().Be(("gc", "gc", "manual", "succeeded"));
            latest.GetProperty("dryRun").GetBoolean().Should().BeFalse();
            runs[1].GetProperty("dryRun").GetBoolean().Should().BeTrue();
            (latest.GetProperty("artifacts").GetInt32(), latest.GetProperty("blobs").GetInt32()).Should().Be((1, 3));
            latest.GetProperty("startedAt").GetString().Should().Be("2026-03-01T12:00:00.000Z");
            latest.GetProperty("finishedAt").GetString().Should().Be("2026-03-01T12:00:00.000Z");
            latest.GetProperty("message").ValueKind.Should().Be(JsonValueKind.Null);
            latest.GetProperty("options").GetProperty("timeWindow").GetString().Should().Be("0s", "durations are written in the one grammar the CLI reads back");
            latest.GetProperty("hasReport").GetBoolean().Should().BeTrue();
            latest.TryGetProperty("log", out _).Should().BeFalse("the list leaves the logs to show --json");
        }

        (await GcCommandTests.Run("history", "--history", _history, "--json", "--limit", "1")).Out.Should().NotContain("\"id\": 1,");
        (await GcCommandTests.Run("history", "--history", _history, "--json", "--job", "nightly")).Out.Trim().Should().Be("[]");

        // and one run as JSON, with its log lines
        var show = await GcCommandTests.Run("show", "2", "--history", _history, "--json");
        show.Code.Should().Be(0, show.Err);
        using (var json = JsonDocument.Parse(show.Out))
        {
            json.RootElement.GetProperty("id").GetInt32().Should().Be(2);
            json.RootElement.GetProperty("log").EnumerateArray().Select(l => l.GetString()).Should().Contain(l => l!.Contains("GarbageCollector: GC plan for", StringComparison.Ordinal));
        }

        var both = await GcCommandTests.Run("show", "2", "--history", _history, "--json", "--report-json");
        both.Code.Should().Be(2);
        both.Err.Should().Contain("--report-json").And.Contain("--json");
    }

    [Test]
    public async Task Given_a_history_when_pruned_by_count_then_the_older_runs_and_their_reports_go_and_a_running_one_stays()
    {
        // given five runs, the oldest still running (another process's run in progress), each finished one with a report
        Fill(Now.AddDays(-10), Now.AddDays(-5), Now.AddDays(-3), Now.AddHours(-2), Now.AddMinutes(-1));

        // when pruned to the newest 2
        var (code, output, errors) = await GcCommandTests.Run("history", "prune", "--keep", "2", "--history", _history);

        // then runs 2 and 3 are gone with their reports; 1 (running), 4 and 5 stay
        code.Should().Be(0, errors);
        output.Should().Contain("removed 2 runs").And.Contain("keeping the newest 2 runs");
        using var history = RunHistory.Open(_history, create: false);
        history.List(null, 10).Select(r => r.Id).Should().Equal(5, 4, 1);
        history.ReadReport(2).Should().BeNull();
        history.ReadReport(3).Should().BeNull();
        history.ReadReport(4).Should().NotBeNull();
    }

    [Test]
    public async Task Given_a_history_when_pruned_by_age_then_the_runs_started_before_it_go_and_a_running_one_stays()
    {
        Fill(Now.AddDays(-10), Now.AddDays(-5), Now.AddDays(-3), Now.AddHours(-2), Now.AddMinutes(-1));

        // when pruned to the runs of the last 4 days (through the daemon's configuration, which names the history)
        var config = Path.Combine(_tree.Root, "daemon.json");
        await File.WriteAllTextAsync(config, """{ "history": "history.db", "jobs": [] }""");
        var (code, output, errors) = await GcCommandTests.Run("history", "prune", "--keep", "4d", "--config", config);

        // then the runs of 10 and 5 days ago go, unless running
        code.Should().Be(0, errors);
        output.Should().Contain("removed 1 runs");
        using var history = RunHistory.Open(_history, create: false);
        history.List(null, 10).Select(r => r.Id).Should().Equal(5, 4, 3, 1);
    }

    [TestCase(new string[0], "give --keep N")]
    [TestCase(new[] { "--keep", "0" }, "--keep: '0'")]
    [TestCase(new[] { "--keep", "often" }, "--keep: 'often' is not a duration")]
    [TestCase(new[] { "--keep" }, "--keep: a value is missing")]
    public async Task Given_a_bad_keep_when_pruning_then_exit_2_naming_it_and_nothing_is_removed(string[] options, string message)
    {
        Fill(Now.AddDays(-10), Now.AddDays(-5));

        var (code, _, errors) = await GcCommandTests.Run(["history", "prune", "--history", _history, .. options]);

        code.Should().Be(2);
        errors.Should().Contain(message);
        using var history = RunHistory.Open(_history, create: false);
        history.List(null, 10).Should().HaveCount(2);
    }

    [Test]
    public void Given_keep_in_the_daemon_configuration_then_it_is_read_as_a_count_or_an_age_and_a_bad_one_is_named()
    {
        var file = Path.Combine(_tree.Root, "daemon.json");
        string Config(string keep) => $$"""{ "history": "history.db", "keep": {{keep}}, "jobs": [ { "name": "gc", "kind": "gc", "deleteUntagged": true, "store": "distribution:.", "schedule": "@daily" } ] }""";

        File.WriteAllText(file, Config("100"));
        DaemonConfigReader.Load(file, TimeProvider.System).Keep.Should().Be(new HistoryKeep(100, null));
        File.WriteAllText(file, Config("\"30d\""));
        DaemonConfigReader.Load(file, TimeProvider.System).Keep.Should().Be(new HistoryKeep(null, TimeSpan.FromDays(30)));

        foreach (var (keep, message) in new[] { ("0", "field 'keep': '0' is not a number of runs"), ("true", "field 'keep': expected a number of runs (100) or a duration (\"30d\"), found true"), ("\"soon\"", "field 'keep': 'soon' is not a duration") })
        {
            File.WriteAllText(file, Config(keep));
            var load = () => DaemonConfigReader.Load(file, TimeProvider.System);
            load.Should().Throw<Gc.Runner.Commands.UsageException>().Which.Message.Should().Contain($"{file}: {message}");
        }
    }

    [Test]
    public async Task Given_keep_when_jobs_run_then_after_each_run_the_history_keeps_only_the_newest_runs()
    {
        using var history = RunHistory.Open(_history, create: true);
        var time = new FakeTimeProvider(Now);
        var runner = new JobRunner(history, new RetentionJob(time), time, LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time))), new HistoryKeep(2, null));
        var job = new DaemonJob
        {
            Name = "dry-gc", Kind = JobKind.Gc, Store = Store, ScheduleText = "@daily", Schedule = CronExpression.Parse("@daily"), DryRun = true, Gc = new() { DeleteUntagged = true, DryRun = true },
        };

        // when the job runs three times
        for (var i = 0; i < 3; i++)
        {
            (await runner.RunAsync(job, RunTrigger.Schedule, CancellationToken.None)).Status.Should().Be(RunStatus.Succeeded);
        }

        // then only the newest two are left, with their reports
        history.List(null, 10).Select(r => r.Id).Should().Equal(3, 2);
        history.ReadReport(1).Should().BeNull();
        history.ReadReport(3).Should().NotBeNull();
    }

    [Test]
    public async Task Given_a_configured_job_when_run_now_then_it_runs_once_and_is_recorded_like_a_scheduled_run_with_trigger_manual()
    {
        // given a daemon configuration with a real GC job, scheduled once a year
        var config = WriteConfig();
        var before = _tree.Files();

        // when it is run now
        var (code, _, errors) = await GcCommandTests.Run("daemon", "run-now", "nightly", "--config", config);

        // then it deleted the untagged image, and the history records the job's run with its options, report and log
        code.Should().Be(0, errors);
        errors.Should().Contain("job nightly: run 1 started (gc on " + Store);
        _tree.Files().Count.Should().BeLessThan(before.Count);
        using (var history = RunHistory.Open(_history, create: false))
        {
            var run = history.List(null, 10).Should().ContainSingle().Subject;
            (run.Job, run.Kind, run.Trigger, run.Status, run.DryRun, run.Artifacts).Should().Be(("nightly", "gc", RunTrigger.Manual, RunStatus.Succeeded, false, 1));
            run.Options.Should().Contain("schedule", "0 0 3 1 1 *");
            run.HasReport.Should().BeTrue();
            run.Log.Should().Contain(l => l.Contains("GarbageCollector: GC plan for", StringComparison.Ordinal));
        }

        // and a job the file does not have is exit 2, naming the jobs it has
        var unknown = await GcCommandTests.Run("daemon", "run-now", "weekly", "--config", config);
        unknown.Code.Should().Be(2);
        unknown.Err.Should().Contain($"{config} has no job 'weekly' (its jobs: nightly, dry-retention)");
        (await GcCommandTests.Run("daemon", "run-now", "nightly")).Code.Should().Be(2);
    }

    [Test]
    public async Task Given_a_run_of_another_process_in_progress_when_an_overlapping_job_is_run_now_then_it_is_skipped_and_exits_1()
    {
        // given a GC run another process recorded as running (the daemon's, or another run-now)
        var config = WriteConfig();
        using (var history = RunHistory.Open(_history, create: true))
        {
            history.Add(new RunRecord { Job = "other-gc", Kind = "gc", Store = "litedb:/elsewhere.db", Trigger = RunTrigger.Schedule, Status = RunStatus.Running, StartedAt = Now });
        }

        var before = _tree.Files();

        // when a GC job is run now (never two GC runs at once), and a retention job of another store
        var (code, _, errors) = await GcCommandTests.Run("daemon", "run-now", "nightly", "--config", config);
        var retention = await GcCommandTests.Run("daemon", "run-now", "dry-retention", "--config", config);

        // then the GC job is recorded skipped, naming the run, and deletes nothing; the retention job runs
        code.Should().Be(1, errors);
        errors.Should().Contain("job nightly: run 2 skipped: it would overlap run 1 of job other-gc");
        _tree.Files().Should().BeEquivalentTo(before);
        retention.Code.Should().Be(0, retention.Err);
        using var runs = RunHistory.Open(_history, create: false);
        var skipped = runs.Get(2)!;
        (skipped.Job, skipped.Status).Should().Be(("nightly", RunStatus.Skipped));
        skipped.Message.Should().Be("skipped: it would overlap run 1 (job 'other-gc', gc on litedb:/elsewhere.db), still running");
        runs.Get(3)!.Status.Should().Be(RunStatus.Succeeded);
    }

    [Test]
    public async Task Given_a_signal_before_the_run_reads_when_run_now_then_it_is_recorded_stopped_and_exits_3()
    {
        var config = WriteConfig();
        var before = _tree.Files();

        // when the run is stopped before it reads anything (its token already cancelled, as a signal at the start leaves it)
        var code = await Gc.Runner.Program.RunAsync(["daemon", "run-now", "nightly", "--config", config], new StringWriter(), new StringWriter(),
            new FakeTimeProvider(Now), new CancellationToken(canceled: true));

        // then it exits 3, deleted nothing, and its record says stopped
        code.Should().Be(3);
        _tree.Files().Should().BeEquivalentTo(before.Append("history.db"));
        using var history = RunHistory.Open(_history, create: false);
        var run = history.List(null, 10).Should().ContainSingle().Subject;
        (run.Job, run.Trigger, run.Status).Should().Be(("nightly", RunTrigger.Manual, RunStatus.Stopped));
        run.Message.Should().EndWith("before the plan was made; nothing was deleted");
    }

    /// <summary>A daemon configuration with a real GC job (no grace period: the clock is fake) and a dry retention job.</summary>
    private string WriteConfig()
    {
        var config = Path.Combine(_tree.Root, "daemon.json");
        File.WriteAllText(config, """
            { "history": "history.db", "jobs": [
                { "name": "nightly", "kind": "gc", "deleteUntagged": true, "store": "distribution:.", "schedule": "0 0 3 1 1 *", "timeWindow": "0", "gracePeriod": "0" },
                { "name": "dry-retention", "kind": "retention", "store": "distribution:.", "schedule": "@weekly", "policy": "policy.json", "dryRun": true } ] }
            """);
        return config;
    }

    /// <summary>Runs started at these times, the first still running, the others succeeded with a report.</summary>
    private void Fill(params DateTimeOffset[] starts)
    {
        using var history = RunHistory.Open(_history, create: true);
        for (var i = 0; i < starts.Length; i++)
        {
            var run = new RunRecord { Job = "nightly", Kind = "gc", Store = Store, Trigger = RunTrigger.Schedule, StartedAt = starts[i], Status = RunStatus.Running };
            history.Add(run);
            if (i > 0)
            {
                (run.Status, run.FinishedAt) = (RunStatus.Succeeded, starts[i].AddMinutes(1));
                history.Update(run, "{}");
            }
        }
    }
}
