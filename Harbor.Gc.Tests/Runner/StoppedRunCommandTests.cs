using System.Text.Json;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// Issue 13 §6 in process: a run stopped before it could read the store (its token already cancelled, as a signal at the start
/// leaves it) exits 3, writes its reports and history saying it stopped and deleted nothing, and a report without a plan cannot
/// be applied. <see cref="StoppingProcessTests"/> sends the real signals.
/// </summary>
public class StoppedRunCommandTests
{
    private DistributionTree _tree = null!;

    [SetUp]
    public void SetUp()
    {
        // given library/app with a tagged image and an untagged old one, which a run would delete
        _tree = new DistributionTree(GcCommandTests.Now);
        _tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        _tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private string Store => $"distribution:{_tree.Root}";

    private string InTree(string name) => Path.Combine(_tree.Root, name);

    [TestCase(false)]
    [TestCase(true)]
    public async Task Gc_StoppedBeforeItReads_Exits3_WritesItsReportsAndHistory_AndDeletesNothing(bool dryRun)
    {
        var before = _tree.Files();
        string[] args = ["gc", "--store", Store, "--report-json", InTree("report.json"), "--report-html", InTree("report.html"), "--history", InTree("history.db")];

        // when the run is stopped before it reads anything
        var (code, output, errors) = await Run(dryRun ? [.. args, "--dry-run"] : args);

        // then it exits 3, says it stopped and deleted nothing, and writes both reports and its history
        code.Should().Be(3, errors);
        output.Should().Contain("stopped (cancelled) while reading the store, before the plan was made: nothing was deleted");
        _tree.Files().Should().BeEquivalentTo(before.Concat(["report.json", "report.html", "history.db"]));
        using (var report = JsonDocument.Parse(await File.ReadAllTextAsync(InTree("report.json"))))
        {
            var root = report.RootElement;
            (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
                .Should().Be(("stopped", "cancelled", "reading-store"));
            root.GetProperty("planned").GetBoolean().Should().BeFalse();
            root.GetProperty("dryRun").GetBoolean().Should().Be(dryRun);
            root.GetProperty("artifacts").GetArrayLength().Should().Be(0, "no plan was made");
        }

        (await File.ReadAllTextAsync(InTree("report.html"))).Should().Contain("stopped (cancelled) while reading the store, before the plan was made: nothing was deleted");
        using var history = RunHistory.Open(InTree("history.db"), create: false);
        var run = history.List(null, 10).Should().ContainSingle().Subject;
        (run.Status, run.Message).Should().Be((RunStatus.Stopped, "stopped by cancellation while reading the store, before the plan was made; nothing was deleted"));
        run.HasReport.Should().BeTrue();
    }

    [Test]
    public async Task Gc_ApplyingTheReportOfARunStoppedBeforeItsPlan_ExitsWith2_AndDeletesNothing()
    {
        // given the report of a dry run stopped before its plan was made
        (await Run("gc", "--store", Store, "--dry-run", "--report-json", InTree("plan.json"))).Code.Should().Be(3);
        var before = _tree.Files();

        // when it is applied
        var (code, _, errors) = await GcCommandTests.Run("gc", "--store", Store, "--apply", InTree("plan.json"));

        // then it is refused: it holds no plan
        code.Should().Be(2, errors);
        errors.Should().Contain("plan field 'planned'").And.Contain("stopped before its plan was made");
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [Test]
    public async Task Retention_StoppedBeforeItReads_Exits3_WritesItsReport_AndDeletesNothing()
    {
        // given a policy that keeps only the latest image
        var policy = InTree("policy.json");
        await File.WriteAllTextAsync(policy, """
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "scope": {"level": "project", "ref": "library"}}
            """);
        var before = _tree.Files();

        // when the run is stopped before it reads anything
        var (code, output, errors) = await Run("retention", "run", "--policy", policy, "--store", Store, "--report-json", InTree("report.json"));

        // then it exits 3, says it stopped and deleted nothing, and writes its report
        code.Should().Be(3, errors);
        output.Should().Contain("stopped (cancelled) while reading the store and evaluating the policy, before the plan was made: nothing was deleted");
        _tree.Files().Should().BeEquivalentTo(before.Append("report.json"));
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(InTree("report.json")));
        var root = report.RootElement;
        (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
            .Should().Be(("stopped", "cancelled", "planning"));
        root.GetProperty("planned").GetBoolean().Should().BeFalse();
    }

    [Test]
    public async Task Help_ShowsTheExitCodes()
    {
        var (code, output, _) = await GcCommandTests.Run("--help");

        code.Should().Be(0);
        output.Should().Contain("0  done").And.Contain("1  the run failed").And.Contain("2  bad usage or bad input")
            .And.Contain("3  stopped before the end by SIGTERM, SIGINT (Ctrl-C), SIGQUIT or --max-duration");
    }

    /// <summary>Runs a command line in process with its token already cancelled: a signal before the run could read anything.</summary>
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Gc.Runner.Program.RunAsync(args, stdout, stderr, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(GcCommandTests.Now), new CancellationToken(canceled: true));
        return (code, stdout.ToString(), stderr.ToString());
    }
}
