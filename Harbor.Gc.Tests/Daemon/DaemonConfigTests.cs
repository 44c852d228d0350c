using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>The daemon's configuration: every problem at start, naming the file, the job and the field; exit code 2.</summary>
public class DaemonConfigTests
{
    private StoreFactory _stores = null!;
    private string _folder = null!;

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _folder = _stores.NewFolder();
        Directory.CreateDirectory(Path.Combine(_folder, "registry", "docker", "registry", "v2", "repositories"));
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    internal const string Policy = """
        { "algorithm": "or", "scope": { "level": "project", "ref": "library" },
          "rules": [ { "action": "retain", "template": "latestPushedK", "params": { "latestPushedK": 1 },
                       "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**" } ],
                       "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } } ] }
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public void Given_a_valid_configuration_when_loaded_then_paths_are_read_from_the_configuration_folder()
    {
        Write("policy.json", Policy);
        var file = Write("daemon.json", """
            {
              // comments are allowed
              "history": "runs.db",
              "jobs": [
                { "name": "nightly-gc", "kind": "gc", "store": "distribution:registry", "schedule": "0 0 3 * * *",
                  "dryRun": true, "deleteUntagged": false, "timeWindow": "6h", "workers": 4, "maxDuration": "30m", "reportJson": "gc-{id}.json",
                  "reportHtml": "gc-{id}.html", "gracePeriod": "90s", "allowNoTags": true },
                { "name": "weekly-retention", "kind": "retention", "store": "distribution:registry", "schedule": "@weekly",
                  "policy": "policy.json", "dryRun": true }
              ]
            }
            """);

        var config = DaemonConfigReader.Load(file, TimeProvider.System);

        config.HistoryPath.Should().Be(Path.Combine(_folder, "runs.db"));
        config.Jobs.Should().HaveCount(2);
        var gc = config.Jobs[0];
        gc.Kind.Should().Be(JobKind.Gc);
        gc.Store.Should().Be($"distribution:{Path.Combine(_folder, "registry")}");
        (gc.Gc.DryRun, gc.Gc.DeleteUntagged, gc.Gc.TimeWindow, gc.Gc.Workers, gc.Gc.MaxDuration).Should().Be((true, false, TimeSpan.FromHours(6), 4, (TimeSpan?)TimeSpan.FromMinutes(30)));
        (gc.GracePeriod, gc.Gc.AllowNoTags).Should().Be(((TimeSpan?)TimeSpan.FromSeconds(90), true));
        config.Jobs[1].GracePeriod.Should().BeNull("the store's default minute applies");
        gc.ReportJson.Should().Be(Path.Combine(_folder, "gc-{id}.json"));
        gc.ReportHtml.Should().Be(Path.Combine(_folder, "gc-{id}.html"));
        var retention = config.Jobs[1];
        retention.Kind.Should().Be(JobKind.Retention);
        retention.Policy!.Project.Should().Be("library");
    }

    [Test]
    public void A_harbor_store_job_loads_as_a_dry_run_and_is_refused_as_a_real_run()
    {
        // given a Harbor installation's storage folder, and two jobs on its harbor: store: a dry run and a real run
        Directory.CreateDirectory(Path.Combine(_folder, "storage", "docker", "registry", "v2"));
        var spec = $"harbor:postgresql://postgres@db.example:5432/registry?storage={Path.Combine(_folder, "storage")}";
        string Config(bool dryRun) => Write("daemon.json", $$"""
            { "jobs": [ { "name": "harbor-gc", "kind": "gc", "store": "{{spec}}", "schedule": "@daily", "dryRun": {{(dryRun ? "true" : "false")}} } ] }
            """);

        // when each is loaded
        var dry = DaemonConfigReader.Load(Config(dryRun: true), TimeProvider.System);
        var real = () => DaemonConfigReader.Load(Config(dryRun: false), TimeProvider.System);

        // then the dry run keeps its address as written (it is no path), and the real run is a configuration error saying how to apply
        dry.Jobs.Should().ContainSingle().Which.Store.Should().Be(spec);
        real.Should().Throw<UsageException>().Which.Message.Should().Contain("job 'harbor-gc'").And.Contain("does not write into it").And.Contain("through Harbor");
    }

    [TestCase("1d12h", "2h30m", "1m30s", 36 * 60, 150, 90)]
    [TestCase("1.12:00:00", "02:30:00", "00:01:30", 36 * 60, 150, 90)]
    public void Given_durations_of_several_units_or_hh_mm_ss_when_loaded_then_they_are_read_as_on_the_command_line(
        string window, string max, string grace, int windowMinutes, int maxMinutes, int graceSeconds)
    {
        // given a GC job whose durations are written as the command line writes them
        var file = Write("daemon.json", $$"""
            { "jobs": [ { "name": "gc", "kind": "gc", "store": "distribution:registry", "schedule": "@daily",
                          "timeWindow": "{{window}}", "maxDuration": "{{max}}", "gracePeriod": "{{grace}}" } ] }
            """);

        // when loaded
        var job = DaemonConfigReader.Load(file, TimeProvider.System).Jobs.Should().ContainSingle().Subject;

        // then each is the duration written
        (job.Gc.TimeWindow, job.Gc.MaxDuration, job.GracePeriod).Should().Be(
            (TimeSpan.FromMinutes(windowMinutes), (TimeSpan?)TimeSpan.FromMinutes(maxMinutes), (TimeSpan?)TimeSpan.FromSeconds(graceSeconds)));
    }

    [Test]
    public async Task Given_a_grace_period_on_a_litedb_job_when_loaded_then_it_is_refused_naming_the_job_and_field()
    {
        // given a GC job on a LiteDB store with a grace period (only the Distribution store waits one)
        var file = Write("daemon.json", """
            { "jobs": [ { "name": "embedded", "kind": "gc", "store": "litedb:store.db", "schedule": "@daily", "gracePeriod": "30s" } ] }
            """);
        var stderr = new StringWriter();

        // when the daemon loads it
        var code = await Program.RunAsync(["daemon", "--config", file], new StringWriter(), stderr, new FakeTimeProvider(RandomRegistry.Now), CancellationToken.None);

        // then it exits 2 naming the job and the field
        code.Should().Be(2);
        stderr.ToString().Should().Contain("job 'embedded', field 'gracePeriod': only a distribution: store waits one");
    }

    [Test]
    public void Given_a_retention_job_whose_policy_scope_is_a_project_id_when_loaded_then_projectIds_names_it()
    {
        // given the policy as Harbor exports it ("ref": 3) and a job mapping id 3 to library
        Write("policy.json", Policy.Replace("\"ref\": \"library\"", "\"ref\": 3", StringComparison.Ordinal));
        var file = Write("daemon.json", """
            { "jobs": [ { "name": "r", "kind": "retention", "store": "distribution:registry", "schedule": "@weekly",
                          "policy": "policy.json", "projectIds": { "3": "library" } } ] }
            """);

        // when loaded, then the job's policy applies to library
        DaemonConfigReader.Load(file, TimeProvider.System).Jobs.Should().ContainSingle().Which.Policy!.Project.Should().Be("library");
    }

    [TestCase("{ \"3\": \"Library\" }", "job 'r', field 'projectIds': '3=Library': 'Library' is not a project name")]
    [TestCase("{ \"three\": \"library\" }", "job 'r', field 'projectIds': 'three=library': expected ID=NAME")]
    [TestCase("[3, \"library\"]", "job 'r', field 'projectIds': expected an object of project ids and names")]
    [TestCase("{ \"4\": \"library\" }", "job 'r', field 'policy':")]
    public async Task Given_bad_projectIds_when_the_daemon_starts_then_it_exits_2_naming_the_job_and_field(string projectIds, string message)
    {
        Write("policy.json", Policy.Replace("\"ref\": \"library\"", "\"ref\": 3", StringComparison.Ordinal));
        var file = Write("daemon.json", $$"""
            { "jobs": [ { "name": "r", "kind": "retention", "store": "distribution:registry", "schedule": "@weekly",
                          "policy": "policy.json", "projectIds": {{projectIds}} } ] }
            """);
        var stderr = new StringWriter();

        var code = await Program.RunAsync(["daemon", "--config", file], new StringWriter(), stderr, new FakeTimeProvider(RandomRegistry.Now), CancellationToken.None);

        code.Should().Be(2);
        stderr.ToString().Should().Contain($"{file}: {message}");
    }

    [Test]
    public async Task Given_a_configuration_with_many_mistakes_when_the_daemon_starts_then_it_exits_2_listing_every_one_with_file_job_and_field()
    {
        Write("broken-policy.json", """{ "algorithm": "or", "rules": [ """);
        var file = Write("daemon.json", """
            {
              "jobs": [
                { "name": "a", "kind": "compact", "store": "distribution:registry", "schedule": "@daily" },
                { "name": "b", "kind": "gc", "store": "distribution:registry", "schedule": "0 0 3 * *  * *" },
                { "name": "c", "kind": "gc", "store": "litedb:missing.db", "schedule": "61 * * * *" },
                { "name": "d", "kind": "retention", "store": "distribution:registry", "schedule": "@daily", "policy": "no-such-policy.json" },
                { "name": "e", "kind": "retention", "store": "distribution:registry", "schedule": "@daily", "policy": "broken-policy.json" },
                { "name": "b", "kind": "gc", "store": "distribution:registry", "schedule": "@hourly", "timeWindow": "2x", "workers": 99, "dryrun": true },
                { "name": "f", "kind": "gc", "schedule": "@daily", "policy": "policy.json", "deleteUntagged": "yes" }
              ]
            }
            """);
        var stderr = new StringWriter();

        var code = await Program.RunAsync(["daemon", "--config", file], new StringWriter(), stderr, new FakeTimeProvider(RandomRegistry.Now), CancellationToken.None);

        code.Should().Be(2);
        var lines = stderr.ToString().Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith(file, StringComparison.Ordinal)).ToList();
        string[] expected =
        [
            "job 'a', field 'kind': unknown job kind 'compact'",
            "job 'b', field 'schedule': '0 0 3 * *  * *' has 7 fields",
            "job 'c', field 'store': --store litedb:",
            "job 'c', field 'schedule': '61 * * * *' is not a cron schedule",
            "job 'd', field 'policy': cannot read",
            "job 'e', field 'policy':",
            "job 'b', field 'name': another job has the same name",
            "job 'b', field 'timeWindow': '2x' is not a duration; write 0, or whole numbers each followed by d, h, m, s or ms",
            "job 'b', field 'workers': 99 is not a whole number from 1 to 16",
            "job 'b', field 'dryrun': unknown field",
            "job 'f', field 'store': missing",
            "job 'f', field 'policy': unknown field",
            "job 'f', field 'deleteUntagged': expected true or false",
        ];
        foreach (var message in expected)
        {
            lines.Should().Contain(l => l.Contains(message, StringComparison.Ordinal), $"'{message}' is reported; stderr:\n{stderr}");
        }

        lines.Should().HaveCount(expected.Length, "one line per problem");
        stderr.ToString().Should().Contain($"{expected.Length} problem(s)");
        File.Exists(Path.Combine(_folder, "harbor-gc-history.db")).Should().BeFalse("nothing is created on bad input");
    }

    [TestCase("{ \"jobs\": [] }", "field 'jobs': missing")]
    [TestCase("[1, 2]", "must be a JSON object")]
    [TestCase("{ \"jobs\": [ { \"name\": \"x\" ", "not valid JSON")]
    [TestCase("{ \"history\": \"nowhere/h.db\", \"timeZone\": \"Mars/Olympus\", \"jobs\": [ { \"name\": \"x\", \"kind\": \"gc\", \"store\": \"distribution:registry\", \"schedule\": \"@daily\" } ], \"extra\": 1 }",
        "field 'history': the folder")]
    [TestCase("{ \"jobs\": [ { \"name\": \"x\", \"kind\": \"gc\", \"store\": \"distribution:registry\", \"schedule\": \"@daily\", \"reportHtml\": \"nowhere/r.html\" } ] }",
        "job 'x', field 'reportHtml': the folder")]
    public async Task Given_a_bad_file_when_the_daemon_starts_then_it_exits_2_and_says_where(string json, string message)
    {
        var file = Write("daemon.json", json);
        var stderr = new StringWriter();

        var code = await Program.RunAsync(["daemon", "--config", file], new StringWriter(), stderr, TimeProvider.System, CancellationToken.None);

        code.Should().Be(2);
        stderr.ToString().Should().Contain(file).And.Contain(message);
    }

    [Test]
    public async Task Given_no_configuration_file_when_the_daemon_starts_then_it_exits_2()
    {
        var stderr = new StringWriter();
        (await Program.RunAsync(["daemon", "--config", Path.Combine(_folder, "none.json")], new StringWriter(), stderr, TimeProvider.System, CancellationToken.None)).Should().Be(2);
        stderr.ToString().Should().Contain("none.json").And.Contain("cannot read the configuration");
        (await Program.RunAsync(["daemon"], new StringWriter(), new StringWriter(), TimeProvider.System, CancellationToken.None)).Should().Be(2);
    }
}
