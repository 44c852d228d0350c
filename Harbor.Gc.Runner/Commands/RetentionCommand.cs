using System.CommandLine;
using System.Globalization;
using Harbor.Gc.Immutability;
using Harbor.Gc.Reporting;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Logging.Abstractions;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc retention run --policy FILE [--store STORE] [--immutable-rules FILE] [--dry-run] [--report-json FILE|-] [--report-html FILE]
/// [--quiet]</c>
/// and <c>harbor-gc retention validate FILE [--immutable-rules FILE]</c> (DESIGN.md §6, §9). Every file is read and validated
/// before the store is opened: bad input deletes nothing and exits with code 2. A run stopped by a signal finishes the artifact
/// in hand, writes its report and exits with code 3.
/// </summary>
internal static class RetentionCommand
{
    public const string Notes = """
        FILE = a retention policy in Harbor's JSON (as Harbor exports it; scope.ref is the project's name or id)
        --immutable-rules FILE = Harbor's immutable tag rules (a JSON array; of the policy's project unless it names one)
        --project-id ID=NAME = the name of the project whose id a policy's scope.ref holds (as Harbor exports it: "ref": 3)
        STORE = litedb:PATH | distribution:DIR | distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION | postgres:… (as gc's)
        """;

    public static Command Create(CommandContext context)
    {
        var command = new Command("retention", "Tag retention: run or check a Harbor retention policy")
        {
            CreateRun(context),
            CreateValidate(context),
        };
        return command.WithNotes(Notes);
    }

    private static Option<string?> RulesOption() =>
        Cli.FileOption("--immutable-rules", "Harbor's immutable tag rules (a JSON array): tags they match are never deleted");

    private static Option<string[]> ProjectIdOption() => new("--project-id")
    {
        Description = "ID=NAME: the project's name when the policy's scope.ref is its id (repeatable)",
        HelpName = "ID=NAME",
        AllowMultipleArgumentsPerToken = false,
    };

    private static Command CreateRun(CommandContext context)
    {
        var policy = Cli.FileOption("--policy", "The retention policy (required): Harbor's JSON, as Harbor exports it");
        var store = Cli.StoreOption();
        var rules = RulesOption();
        var projectIds = ProjectIdOption();
        var dryRun = Cli.FlagOption("--dry-run", "Report what the policy would delete, delete nothing");
        var gracePeriod = Cli.GracePeriodOption();
        var (reportJson, reportHtml) = Cli.ReportOptions();
        var quiet = Cli.FlagOption("--quiet", "No summary (warnings and a stop's reason still go to stderr)");
        var history = Cli.HistoryOption();
        var (logFormat, logLevel) = Cli.LogFormatAndLevel();
        var command = new Command("run", "Apply a retention policy: delete the tags and artifacts it does not retain (or plan it, with --dry-run)")
        {
            policy, store, rules, projectIds, dryRun, gracePeriod, reportJson, reportHtml, quiet, history, logFormat, logLevel,
        };
        command.SetAction((p, _) => RunPolicyAsync(new RetentionRun(
            p.GetValue(policy) ?? throw new UsageException("retention run: --policy FILE is required."), p.GetValue(rules), ProjectIds(p.GetValue(projectIds)), p.GetValue(store)!, p.GetValue(dryRun), p.GetValue(gracePeriod),
            p.GetValue(reportJson), p.GetValue(reportHtml), p.GetValue(quiet), p.GetValue(history), new LogOptions(p.GetValue(logFormat), p.GetValue(logLevel))), context));
        return command.WithNotes(Notes + "\n" + ExitCodes.Help);
    }

    private static Command CreateValidate(CommandContext context)
    {
        var file = new Argument<string>("FILE") { Description = "The retention policy to check" };
        var rules = RulesOption();
        var projectIds = ProjectIdOption();
        var command = new Command("validate", "Check a retention policy (and immutable tag rules) without opening a store") { file, rules, projectIds };
        command.SetAction(p => Validate(p.GetValue(file)!, p.GetValue(rules), ProjectIds(p.GetValue(projectIds)), context.Stdout));
        return command.WithNotes(Notes);
    }

    /// <summary>A <c>retention run</c> command line, parsed.</summary>
    private sealed record RetentionRun(string PolicyFile, string? RulesFile, Dictionary<long, string> ProjectIds, string Store, bool DryRun, TimeSpan? GracePeriod,
        string? ReportJson, string? ReportHtml, bool Quiet, string? History, LogOptions Log);

    private static Dictionary<long, string> ProjectIds(string[]? values)
    {
        var projectIds = new Dictionary<long, string>();
        foreach (var value in values ?? [])
        {
            AddProjectId(projectIds, "--project-id", value);
        }

        return projectIds;
    }

    private static async Task<int> RunPolicyAsync(RetentionRun run, CommandContext context)
    {
        var (stdout, stderr, time, stop) = context;
        var (policyFile, rulesFile, projectIds, store, dryRun, gracePeriod, reportJson, reportHtml, quiet, history, log) = run;
        using var consoleLog = RunnerLogging.ForCommand(log, stderr, time); // the run's log on stderr, when asked for
        var (policy, rules) = ReadPolicy(policyFile, rulesFile, projectIds);
        using var reports = new ReportOutput(reportJson, reportHtml);
        reports.Open(); // a report that cannot be written is found before anything is deleted
        // the run history, with --history: the run, its outcome and its log lines
        using var recording = ManualRun.Start(history, "retention", store, RetentionRunRecording.Options(policyFile, rulesFile, dryRun, reportJson, reportHtml), time.GetUtcNow(), dryRun, time, consoleLog);
        var logger = recording?.CreateLogger(nameof(RetentionRunner)) ?? consoleLog?.CreateLogger(nameof(RetentionRunner)) ?? NullLogger.Instance;
        RetentionResult result;
        try
        {
            Log.RetentionStarted(logger, store, policyFile, dryRun);
            result = await StoreSpec.UseAsync(store, time, readOnly: dryRun, s => new RetentionRunner(s, time).RunAsync(policy, rules, dryRun, stop.Token), gracePeriod).ConfigureAwait(false);
            if (result.Stopped)
            {
                result = result with { StoppedBy = stop.Signal() }; // the report names the signal
            }

            Log.RetentionFinished(logger, result.Stopped ? "stopped" : "finished", RetentionRunRecording.Message(result));
            recording?.Finish(result);
        }
        catch (Exception e) when (recording is not null && recording.Failed(e))
        {
            throw; // never reached: Failed records the error and returns false
        }

        // the JSON report goes to stdout when asked for with '-', and the summary then to stderr; warnings always reach stderr
        var summaryWriter = reports.SummaryWriter(stdout, stderr);
        if (!quiet)
        {
            RetentionConsoleSummary.Write(summaryWriter, result);
        }
        else
        {
            foreach (var warning in result.Warnings)
            {
                await stderr.WriteLineAsync($"harbor-gc: warning: {warning}").ConfigureAwait(false);
            }

            if (result.Stopped)
            {
                await stderr.WriteLineAsync($"harbor-gc: {RetentionConsoleSummary.DescribeStop(result)}").ConfigureAwait(false); // exit 3 always says why
            }
        }

        await reports.WriteAsync(() => RetentionReportWriter.ToJson(result), f => RetentionReportWriter.Write(f, result), f => HtmlReportWriter.Write(f, result), stdout, summaryWriter, quiet).ConfigureAwait(false);
        return ExitCodes.Of(result);
    }

    private static int Validate(string policyFile, string? rulesFile, Dictionary<long, string> projectIds, TextWriter stdout)
    {
        var (policy, rules) = ReadPolicy(policyFile, rulesFile, projectIds);
        var enabled = policy.Rules.Count(r => !r.Disabled);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"valid: {policy.Rules.Length} rule(s) ({enabled} enabled), scope project {policy.Project}, schedule {policy.Schedule ?? "none"}"));
        for (var i = 0; i < policy.Rules.Length; i++)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  rule {i + 1}: {RetentionConsoleSummary.Describe(policy.Rules[i])}"));
        }

        if (rules is not null)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  immutable tag rules: {rules.Rules.Length} ({rules.Rules.Count(r => !r.Disabled)} enabled)"));
        }

        return ExitCodes.Done;
    }

    /// <summary>Reads and validates the policy and the rule file; every problem becomes a <see cref="UsageException"/> (exit code 2).</summary>
    private static (RetentionPolicy Policy, ImmutabilityRules? Rules) ReadPolicy(string policyFile, string? rulesFile, IReadOnlyDictionary<long, string> projectIds)
    {
        try
        {
            var policy = RetentionPolicyJson.Parse(ReadFile("policy", policyFile), policyFile, projectIds);
            var rules = rulesFile is null ? null : ImmutableRulesJson.Parse(ReadFile("--immutable-rules", rulesFile), policy.Project, rulesFile);
            return (policy, rules);
        }
        catch (PolicyException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Reads <c>--project-id ID=NAME</c>: a Harbor project id (a whole number from 1) and the project's name.</summary>
    internal static void AddProjectId(Dictionary<long, string> projectIds, string option, string value)
    {
        var equals = value.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || !long.TryParse(value.AsSpan(0, equals), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 1)
        {
            throw new UsageException($"{option} '{value}': expected ID=NAME, a project id (a whole number from 1) and its name, e.g. 3=library");
        }

        var name = value[(equals + 1)..];
        var problem = name.Contains('/', StringComparison.Ordinal) ? "it has a '/'" : Model.RepositoryName.Validate(name);
        if (problem is not null)
        {
            throw new UsageException($"{option} '{value}': '{name}' is not a project name: {problem}");
        }

        if (projectIds.TryGetValue(id, out var earlier) && earlier != name)
        {
            throw new UsageException($"{option} '{value}': project id {id} was already given as '{earlier}'");
        }

        projectIds[id] = name;
    }

    private static string ReadFile(string what, string path)
    {
        using var reader = new StreamReader(InputFile.OpenRead(what, path));
        return reader.ReadToEnd();
    }
}
