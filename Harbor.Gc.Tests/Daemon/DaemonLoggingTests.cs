using System.Text.Json;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Runner;
using Microsoft.Extensions.Configuration;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// Issue 14's logging: the daemon and <c>daemon run-now</c> log through Microsoft.Extensions.Logging's console formatters,
/// chosen and levelled by option or environment, and each run's lines still go into its history record.
/// </summary>
public class DaemonLoggingTests
{
    private DaemonSample _sample = null!;

    [SetUp]
    public void SetUp()
    {
        // given a daemon configuration with a dry GC job on a tree holding an untagged image
        _sample = new DaemonSample();
        File.WriteAllText(_sample.Config, """
            { "history": "history.db", "jobs": [
                { "name": "nightly", "kind": "gc", "deleteUntagged": true, "store": "distribution:.", "schedule": "0 0 3 1 1 *", "timeWindow": "0", "dryRun": true } ] }
            """);
    }

    [TearDown]
    public void TearDown() => _sample.Dispose();

    [Test]
    public async Task Given_log_format_json_when_a_job_runs_now_then_each_log_entry_is_a_JSON_object_on_stderr()
    {
        var (code, _, errors) = await GcCommandTests.Run("daemon", "run-now", "nightly", "--config", _sample.Config, "--log-format", "json");

        code.Should().Be(0, errors);
        var entries = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        entries.Should().Contain(e => e.GetProperty("LogLevel").GetString() == "Information"
            && e.GetProperty("Category").GetString() == "Harbor.Gc.Runner.Daemon.JobRunner"
            && e.GetProperty("Message").GetString()!.StartsWith("job nightly: run 1 started (gc on distribution:", StringComparison.Ordinal));
        entries.Should().Contain(e => e.GetProperty("Category").GetString() == "Harbor.Gc.Collection.GarbageCollector");
        entries.Select(e => e.EnumerateObject().Select(p => p.Name).ToList()).Should().AllSatisfy(names => names.Should().Contain(["Timestamp", "EventId", "State"]));
    }

    [Test]
    public async Task Given_the_simple_format_by_default_then_each_entry_is_one_line_with_its_level_and_category()
    {
        var (code, _, errors) = await GcCommandTests.Run("daemon", "run-now", "nightly", "--config", _sample.Config);

        code.Should().Be(0, errors);
        errors.Should().MatchRegex(@"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info: Harbor\.Gc\.Runner\.Daemon\.JobRunner\[1\] job nightly: run 1 started \(gc on distribution:");
    }

    [Test]
    public async Task Given_log_level_warning_then_information_leaves_the_console_but_the_run_keeps_it_in_its_history()
    {
        var (code, _, errors) = await GcCommandTests.Run("daemon", "run-now", "nightly", "--config", _sample.Config, "--log-level", "warning");

        code.Should().Be(0, errors);
        errors.Should().NotContain("run 1 started").And.NotContain("GC plan for");
        using var history = RunHistory.Open(_sample.History, create: false);
        history.Get(1)!.Log.Should().Contain(l => l.Contains("GarbageCollector: GC plan for", StringComparison.Ordinal))
            .And.Contain(l => l.Contains("JobRunner: job nightly: run 1 started", StringComparison.Ordinal));
    }

    [TestCase("--log-level", "loud", "--log-level: 'loud' is not a log level; write one of trace, debug, information, warning, error, critical, none.")]
    [TestCase("--log-format", "xml", "--log-format: 'xml' is not a log format; write one of simple, json, systemd.")]
    public async Task Given_a_bad_log_option_then_exit_2_naming_it_and_nothing_runs(string option, string value, string message)
    {
        foreach (var command in new[] { new[] { "daemon", "--config", _sample.Config, option, value }, ["daemon", "run-now", "nightly", "--config", _sample.Config, option, value] })
        {
            var (code, _, errors) = await GcCommandTests.Run(command);

            code.Should().Be(2);
            errors.Should().Contain(message);
        }

        File.Exists(_sample.History).Should().BeFalse("nothing ran");
    }

    [Test]
    public void Given_the_environment_then_HARBOR_GC_LOG_LEVEL_overrides_the_Logging_section_and_an_option_overrides_both()
    {
        IConfiguration Build(LogOptions options, Dictionary<string, string> environment)
        {
            var builder = new ConfigurationBuilder();
            RunnerLogging.AddSources(builder, options, environment);
            return builder.Build();
        }

        Build(new LogOptions(null, null), new() { ["HARBOR_GC_LOG_LEVEL"] = "debug", ["HARBOR_GC_LOG_FORMAT"] = "json" })
            .Should().Match<IConfiguration>(c => c["Logging:LogLevel:Default"] == "debug" && c["Logging:Console:FormatterName"] == "json");
        Build(new LogOptions("simple", "error"), new() { ["HARBOR_GC_LOG_LEVEL"] = "debug", ["HARBOR_GC_LOG_FORMAT"] = "json" })
            .Should().Match<IConfiguration>(c => c["Logging:LogLevel:Default"] == "error" && c["Logging:Console:FormatterName"] == "simple");
        var bad = () => Build(new LogOptions(null, null), new() { ["HARBOR_GC_LOG_LEVEL"] = "loud" });
        bad.Should().Throw<UsageException>().WithMessage("the environment (HARBOR_GC_LOG_LEVEL, Logging__LogLevel__Default or HARBOR_GC_Logging__LogLevel__Default): 'loud' is not a log level*");
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task Given_the_Logging_variables_of_dotnet_when_the_daemon_is_stopped_then_it_logs_as_they_say_and_logs_its_shutdown()
    {
        // given the daemon process started with .NET's logging variables: JSON entries, warnings only, which HARBOR_GC_LOG_LEVEL overrides
        var environment = new Dictionary<string, string>
        {
            ["Logging__Console__FormatterName"] = "json",
            ["Logging__LogLevel__Default"] = "Warning",
            ["HARBOR_GC_LOG_LEVEL"] = "information",
            ["HARBOR_GC_Logging__Console__FormatterOptions__TimestampFormat"] = "yyyy",
        };
        using var daemon = DaemonProcess.Start(_sample.Config, environment);
        await daemon.WaitForOutputAsync("daemon started: 1 jobs", TimeSpan.FromSeconds(30));

        // when it receives SIGTERM
        daemon.Terminate();
        (await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30))).Should().Be(0, daemon.Output);

        // then every log line is a JSON entry (the one other line is the signal's notice), and it said that it was stopping, why,
        // and that it stopped
        var lines = daemon.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Where(l => !l.StartsWith('{')).Should().Equal(["harbor-gc: SIGTERM: stopping after the item in hand, then writing the report (a second signal stops at once)"]);
        var entries = lines.Where(l => l.StartsWith('{')).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        entries.Should().OnlyContain(e => e.GetProperty("Timestamp").GetString()!.Length == 4, "a Logging setting with the HARBOR_GC_ prefix applies too");
        var messages = entries.Select(e => e.GetProperty("Message").GetString()).ToList();
        messages.Should().Contain(m => m!.StartsWith("job nightly: next run at ", StringComparison.Ordinal), "information passes: HARBOR_GC_LOG_LEVEL wins");
        messages.Should().Contain("daemon stopping (SIGTERM): the runs in progress stop after the item in hand")
            .And.Contain("daemon stopped");
        messages.IndexOf("daemon stopped").Should().Be(messages.Count - 1, "the last word is the daemon's");
    }
}
