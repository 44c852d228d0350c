using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary><c>harbor-gc retention run</c> and <c>retention validate</c> (DESIGN.md §6, §8, §9): output, report, exit codes, bad input.</summary>
public class RetentionCommandTests
{
    private static readonly DateTimeOffset Now = GcCommandTests.Now;
    private DistributionTree _tree = null!;
    private Digest _v1;
    private Digest _v2;
    private Digest _v1Sig;

    [SetUp]
    public void SetUp()
    {
        // Given library/app with v1 (5 days old) signed by cosign and v2 (1 day old)
        _tree = new DistributionTree(Now);
        _v1 = _tree.Image("library/app", "v1", TimeSpan.FromDays(5), "v1", "base", "v1-layer").Manifest;
        _v2 = _tree.Image("library/app", "v2", TimeSpan.FromDays(1), "v2", "base", "v2-layer").Manifest;
        _v1Sig = _tree.CosignSignature("library/app", _v1, TimeSpan.FromDays(5));
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private string Store => $"distribution:{_tree.Root}";

    // real runs wait no grace period: the clock is fake
    private static readonly string[] NoGrace = ["--grace-period", "0"];

    private string WritePolicy(string template, string parameter, string name = "policy.json", string extra = "", string scopeRef = "\"library\"")
    {
        var path = Path.Combine(_tree.Root, name);
        var parameters = parameter.Length == 0 ? "{}" : $"{{\"{template}\": {parameter}}}";
        File.WriteAllText(path, $$$"""
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "{{{template}}}", "params": {{{parameters}}},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}{{{extra}}}],
             "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}}, "scope": {"level": "project", "ref": {{{scopeRef}}}}}
            """);
        return path;
    }

    /// <summary>Harbor's immutable tag rules (a bare array, of the policy's project): v1 in every repository.</summary>
    private string WriteImmutableV1()
    {
        var rules = Path.Combine(_tree.Root, "immutable.json");
        File.WriteAllText(rules, """
            [{"disabled": false, "action": "immutable", "template": "immutable_template",
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}]
            """);
        return rules;
    }

    [Test]
    public async Task Run_deletes_the_older_image_with_its_signature_and_prints_the_Harbor_style_summary()
    {
        var policy = WritePolicy("latestPushedK", "1");

        var (code, output, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, .. NoGrace]);

        code.Should().Be(0, errors);
        output.Should().Contain("Retention run on distribution:")
            .And.Contain("rule 1: latestPushedK(1), repositories matching **, tags matching ** (untagged included)")
            .And.Contain("library/app: 1 retained, 1 deleted of 2 candidate(s); 2 artifact(s) planned for deletion with their accessories and children")
            .And.Contain($"RETAIN {_v2.ToString()[..19]} v2: retained by rule 1 (latestPushedK(1))")
            .And.Contain($"DEL    {_v1.ToString()[..19]} v1: no rule retains it")
            .And.Contain("deleted 2 artifact(s)")
            .And.Contain("the next GC run frees");
        _tree.HasRevision("library/app", _v1).Should().BeFalse();
        _tree.HasRevision("library/app", _v1Sig).Should().BeFalse();
        _tree.HasRevision("library/app", _v2).Should().BeTrue();
    }

    [Test]
    public async Task DryRun_writes_the_retention_report_and_deletes_nothing()
    {
        var policy = WritePolicy("latestPushedK", "1");
        var before = _tree.Files();

        var (code, output, errors) = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        code.Should().Be(0, errors);
        _tree.Files().Should().BeEquivalentTo(before);
        errors.Should().Contain("Retention dry run");
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        root.GetProperty("kind").GetString().Should().Be("retention");
        root.GetProperty("dryRun").GetBoolean().Should().BeTrue();
        root.TryGetProperty("result", out _).Should().BeFalse("a dry run executes nothing");
        var repository = root.GetProperty("repositories").EnumerateArray().Should().ContainSingle().Subject;
        repository.GetProperty("repository").GetString().Should().Be("library/app");
        // counts over candidates, as Harbor's retention history (src/pkg/retention/job.go, saveRetainNum): v1 and v2; v1's signature follows v1
        (repository.GetProperty("total").GetInt32(), repository.GetProperty("retained").GetInt32(), repository.GetProperty("deleted").GetInt32()).Should().Be((2, 1, 1));
        (repository.GetProperty("artifacts").GetInt32(), repository.GetProperty("artifactsToDelete").GetInt32()).Should().Be((3, 2));
        var artifacts = root.GetProperty("artifacts").EnumerateArray().ToDictionary(a => a.GetProperty("digest").GetString()!);
        artifacts[_v2.ToString()].GetProperty("outcome").GetString().Should().Be("retained");
        artifacts[_v2.ToString()].GetProperty("retainedBy")[0].GetProperty("rule").GetInt32().Should().Be(1);
        artifacts[_v1.ToString()].GetProperty("reason").GetString().Should().Be("not-retained");
        artifacts[_v1Sig.ToString()].GetProperty("reason").GetString().Should().Be("accessory-of-deleted");
        artifacts[_v1Sig.ToString()].GetProperty("cause").GetString().Should().Be(_v1.ToString());
        artifacts[_v1Sig.ToString()].GetProperty("candidate").GetBoolean().Should().BeFalse();
        artifacts[_v1.ToString()].GetProperty("candidate").GetBoolean().Should().BeTrue();
        root.GetProperty("summary").GetProperty("deleted").GetInt32().Should().Be(1);
        root.GetProperty("summary").GetProperty("artifactsToDelete").GetInt32().Should().Be(2);
        root.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()).Should().Equal(RetentionRunner.RePushUnknownWarning);
    }

    [Test]
    public async Task Run_writes_the_report_file_with_what_it_did()
    {
        var policy = WritePolicy("latestPushedK", "1");
        var report = Path.Combine(_tree.Root, "report.json");

        var (code, _, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, "--report-json", report, "--quiet", .. NoGrace]);

        code.Should().Be(0, errors);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var result = json.RootElement.GetProperty("result");
        result.GetProperty("artifactsDeleted").GetInt32().Should().Be(2);
        result.GetProperty("deleted").EnumerateArray().Select(e => e.GetString()).Should().Equal($"library/app@{_v1}", $"library/app@{_v1Sig}");
        result.GetProperty("skipped").GetArrayLength().Should().Be(0);
        result.GetProperty("stopped").GetBoolean().Should().BeFalse();
    }

    [Test]
    public async Task A_pull_based_rule_on_the_Distribution_layout_warns_that_pull_times_are_unknown_in_the_summary_and_the_report()
    {
        var policy = WritePolicy("nDaysSinceLastPull", "30");

        var (code, output, errors) = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        code.Should().Be(0, errors);
        errors.Should().Contain("warning: pull times are unknown in the Distribution layout");
        JsonDocument.Parse(output).RootElement.GetProperty("warnings").EnumerateArray().Select(w => w.GetString())
            .Should().Equal(RetentionRunner.PullTimesUnknownWarning);
        var quiet = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--quiet");
        quiet.Out.Should().BeEmpty();
        quiet.Err.Should().Be($"harbor-gc: warning: {RetentionRunner.PullTimesUnknownWarning}{Environment.NewLine}", "--quiet still says so");
    }

    [Test]
    public async Task The_json_report_escapes_only_what_json_requires_so_a_plus_stays_a_plus()
    {
        // given a policy whose second rule selects the tags matching v1+build* (a '+' in text the report carries)
        var policy = WritePolicy("latestPushedK", "1", extra: """
            , {"disabled": false, "action": "retain", "template": "always", "params": {},
               "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1+build*"}],
               "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}
            """);

        // when a dry run writes its report to stdout
        var (code, output, errors) = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        // then the pattern is written as it is, not as \u002B
        code.Should().Be(0, errors);
        output.Should().Contain("tags matching v1+build*").And.NotContain("\\u002B");
        JsonDocument.Parse(output).RootElement.GetProperty("kind").GetString().Should().Be("retention");
    }

    [Test]
    public async Task A_bad_policy_file_exits_2_naming_the_file_rule_and_field_and_deletes_nothing()
    {
        var policy = WritePolicy("latestPushedK", "-1", "bad.json", extra: """
            , {"action": "retain", "template": "newestFirst", "params": {},
               "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
               "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}
            """);
        var before = _tree.Files();

        var (code, output, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, .. NoGrace]);

        code.Should().Be(2);
        output.Should().BeEmpty();
        errors.Should().Contain(policy).And.Contain("2 problem(s)")
            .And.Contain("$.rules[0].params.latestPushedK: rule 1 (latestPushedK)")
            .And.Contain("$.rules[1].template: rule 2");
        _tree.Files().Should().BeEquivalentTo(before);

        var validate = await GcCommandTests.Run("retention", "validate", policy);
        validate.Code.Should().Be(2);
        validate.Err.Should().Be(errors);

        var rules = Path.Combine(_tree.Root, "rules.json");
        File.WriteAllText(rules, """[{"action": "immutable", "tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": "v1"}]}]""");
        var badRules = await GcCommandTests.Run("retention", "run", "--policy", WritePolicy("latestPushedK", "1"), "--store", Store, "--immutable-rules", rules);
        badRules.Code.Should().Be(2);
        badRules.Err.Should().Contain(rules).And.Contain("$[0].tag_selectors[0].kind");
        _tree.Files().Should().BeEquivalentTo(before.Append("rules.json").Append("policy.json"));
    }

    [Test]
    public async Task A_policy_as_Harbor_exports_it_with_a_numeric_project_id_runs_once_the_id_is_named()
    {
        // given the policy as Harbor's API returns it: scope.ref is the project's id, 3
        var policy = WritePolicy("latestPushedK", "1", scopeRef: "3");

        // when it runs without saying which project id 3 is, it exits 2 saying how to name it, and deletes nothing
        var (refused, _, refusal) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, .. NoGrace]);
        refused.Should().Be(2);
        refusal.Should().Contain("$.scope.ref").And.Contain("project id 3 has no name").And.Contain("--project-id 3=NAME");
        _tree.HasRevision("library/app", _v1).Should().BeTrue();

        // and when it runs with --project-id 3=library, it runs unchanged on library
        var (code, output, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, "--project-id", "3=library", .. NoGrace]);
        code.Should().Be(0, errors);
        output.Should().Contain("library/app: 1 retained, 1 deleted of 2 candidate(s); 2 artifact(s) planned for deletion with their accessories and children");
        _tree.HasRevision("library/app", _v1).Should().BeFalse();
        _tree.HasRevision("library/app", _v2).Should().BeTrue();
    }

    [TestCase("library", "expected ID=NAME")]
    [TestCase("x=library", "expected ID=NAME")]
    [TestCase("0=library", "expected ID=NAME")]
    [TestCase("3=", "'' is not a project name")]
    [TestCase("3=Library", "'Library' is not a project name")]
    [TestCase("3=team/app", "'team/app' is not a project name: it has a '/'")]
    public async Task A_bad_project_id_exits_2_naming_it_and_deletes_nothing(string value, string message)
    {
        var policy = WritePolicy("latestPushedK", "1", scopeRef: "3");
        var before = _tree.Files();

        var (code, _, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, "--project-id", value, .. NoGrace]);

        code.Should().Be(2);
        errors.Should().Contain($"--project-id '{value}': {message}");
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [Test]
    public async Task Validate_names_the_project_a_numeric_id_maps_to()
    {
        var policy = WritePolicy("latestPushedK", "3", scopeRef: "7");

        var (code, output, errors) = await GcCommandTests.Run("retention", "validate", policy, "--project-id", "7=team-a");

        code.Should().Be(0, errors);
        output.Should().StartWith("valid: 1 rule(s) (1 enabled), scope project team-a");
    }

    [Test]
    public async Task Validate_prints_the_rules_scope_and_schedule_of_a_valid_policy()
    {
        var policy = WritePolicy("latestPushedK", "3");
        var rules = WriteImmutableV1();

        var (code, output, errors) = await GcCommandTests.Run("retention", "validate", policy, "--immutable-rules", rules);

        code.Should().Be(0, errors);
        output.Should().StartWith("valid: 1 rule(s) (1 enabled), scope project library, schedule 0 0 0 * * *")
            .And.Contain("rule 1: latestPushedK(3)")
            .And.Contain("immutable tag rules: 1 (1 enabled)");
    }

    [Test]
    public async Task Immutable_rules_keep_v1_and_its_signature()
    {
        var policy = WritePolicy("latestPushedK", "1");
        var rules = WriteImmutableV1();

        var (code, output, errors) = await GcCommandTests.Run(["retention", "run", "--policy", policy, "--store", Store, "--immutable-rules", rules, .. NoGrace]);

        code.Should().Be(0, errors);
        output.Should().Contain("library/app: 2 retained, 0 deleted of 2 candidate(s); 0 artifact(s) planned for deletion");
        _tree.HasRevision("library/app", _v1).Should().BeTrue();
        _tree.HasRevision("library/app", _v1Sig).Should().BeTrue();
    }

    [Test]
    public async Task Missing_store_policy_file_or_option_exits_2()
    {
        var policy = WritePolicy("latestPushedK", "1");

        var missingStore = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", $"distribution:{Path.Combine(_tree.Root, "nowhere")}");
        missingStore.Code.Should().Be(2);
        missingStore.Err.Should().Contain("nowhere");

        var missingDb = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", $"litedb:{Path.Combine(_tree.Root, "none.db")}");
        missingDb.Code.Should().Be(2);
        missingDb.Err.Should().Contain("none.db");
        File.Exists(Path.Combine(_tree.Root, "none.db")).Should().BeFalse("retention never creates a store");

        var missingPolicy = await GcCommandTests.Run("retention", "run", "--policy", Path.Combine(_tree.Root, "absent.json"), "--store", Store);
        missingPolicy.Code.Should().Be(2);
        missingPolicy.Err.Should().Contain("absent.json").And.Contain("cannot be read");

        (await GcCommandTests.Run("retention", "run", "--store", Store)).Err.Should().Contain("--policy FILE is required");
        (await GcCommandTests.Run("retention", "prune")).Code.Should().Be(2);
        (await GcCommandTests.Run("retention", "validate")).Code.Should().Be(2);
    }

    [Test]
    public async Task Run_on_a_LiteDB_store_deletes_through_the_store()
    {
        // Given a LiteDB store with an old and a new tagged image
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        Artifact old, current;
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), new FakeTimeProvider(Now - TimeSpan.FromDays(3)))))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            old = r.Image(r.Blob("old config"), r.Blob("old layer"));
            store.PutTag(old.Repository, "v1", old.Digest);
        }

        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(Now - TimeSpan.FromDays(1)))))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            current = r.Image(r.Blob("new config"), r.Blob("new layer"));
            store.PutTag(current.Repository, "v2", current.Digest);
        }

        var policy = WritePolicy("latestPushedK", "1");

        var (code, output, errors) = await GcCommandTests.Run("retention", "run", "--policy", policy, "--store", $"litedb:{Path.Combine(folder, "harbor-gc.db")}");

        code.Should().Be(0, errors);
        output.Should().Contain($"{old.Repository}: 1 retained, 1 deleted of 2 candidate(s); 1 artifact(s) planned for deletion").And.NotContain("warning");
        using var reopened = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(Now)));
        reopened.GetArtifacts().Select(a => a.Digest).Should().Equal(current.Digest);
    }
}

/// <summary>The README's retention example: a dry run of samples/retention/keep-current.json on the bundled sample registry.</summary>
public class SampleRetentionTests
{
    private static string Root()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Harbor.Gc.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root was not found");
        }

        return root;
    }

    [Test]
    public async Task ReadmeRetentionExample_OnTheSample_PrintsWhatTheReadmeSays()
    {
        var root = Root();
        string[] args = ["retention", "run", "--policy", Path.Combine(root, "samples", "retention", "keep-current.json"),
            "--store", $"distribution:{Path.Combine(root, "samples", "registry")}", "--dry-run"];

        var (code, output, errors) = await GcCommandTests.Run(args);
        var immutable = await GcCommandTests.Run([.. args, "--immutable-rules", Path.Combine(root, "samples", "retention", "immutable.json")]);

        code.Should().Be(0, errors);
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).Skip(4).Where(l => l.Length > 0).ToList();
        lines.Should().HaveCount(17);
        foreach (var line in lines)
        {
            readme.Should().Contain(line, "the README shows the example's output as it is");
        }

        output.Should().Contain("warning: pull times are unknown in the Distribution layout");
        immutable.Code.Should().Be(0, immutable.Err);
        immutable.Out.Should().Contain("library/app: 2 retained, 1 deleted of 3 candidate(s); 2 artifact(s) to delete with their accessories and children")
            .And.Contain("RETAIN sha256:3a835c6f4da8 v1: immutable (tag v1: immutable rule 1 of project library (repository matches 'app', tag matches 'v1'))")
            .And.Contain("follows the immutable sha256:3a835c6f4da8");
    }
}
