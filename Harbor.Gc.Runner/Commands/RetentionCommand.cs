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
    public const string Usage = """
        harbor-gc retention run --policy FILE [--store STORE] [--immutable-rules FILE] [--project-id ID=NAME] [--dry-run]
                                [--grace-period 1m] [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH]
        harbor-gc retention validate FILE [--immutable-rules FILE] [--project-id ID=NAME]
          FILE = a retention policy in Harbor's JSON (as Harbor exports it; scope.ref is the project's name or id)
          --immutable-rules FILE = Harbor's immutable tag rules (a JSON array; of the policy's project unless it names one)
          --project-id ID=NAME = the name of the project whose id a policy's scope.ref holds (as Harbor exports it: "ref": 3)
        """;

    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, StopRequest stop) => args switch
    {
        ["run", .. var rest] => RunPolicyAsync(rest, stdout, stderr, time, stop),
        ["validate", .. var rest] => Task.FromResult(Validate(rest, stdout)),
        [] or ["--help"] or ["-h"] => Task.FromResult(Help(stdout)),
        [var sub, ..] => throw new UsageException($"retention: unknown command '{sub}'.\n{Usage}"),
    };

    private static async Task<int> RunPolicyAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, StopRequest stop)
    {
        string? policyFile = null;
        string? rulesFile = null;
        string? reportJson = null;
        string? reportHtml = null;
        var store = StoreSpec.Default;
        var dryRun = false;
        var quiet = false;
        var projectIds = new Dictionary<long, string>();
        TimeSpan? gracePeriod = null;
        string? history = null;
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--history": history = arguments.Value(); break;
                case "--policy": policyFile = arguments.Value(); break;
                case "--store": store = arguments.Value(); break;
                case "--immutable-rules": rulesFile = arguments.Value(); break;
                case "--project-id": AddProjectId(projectIds, arg, arguments.Value()); break;
                case "--dry-run": dryRun = true; break;
                case "--grace-period": gracePeriod = Durations.Parse(arg, arguments.Value()); break;
                case "--report-json": reportJson = arguments.Value(); break;
                case "--report-html": reportHtml = arguments.Value(); break;
                case "--quiet": quiet = true; break;
                default: throw new UsageException($"retention run: unknown option '{arg}'.\n{Usage}");
            }
        }

        if (policyFile is null)
        {
            throw new UsageException($"retention run: --policy FILE is required.\n{Usage}");
        }

        var (policy, rules) = ReadPolicy(policyFile, rulesFile, projectIds);
        using var reports = new ReportOutput(reportJson, reportHtml);
        reports.Open(); // a report that cannot be written is found before anything is deleted
        // the run history, with --history: the run, its outcome and its log lines
        using var recording = ManualRun.Start(history, "retention", store, RetentionRunRecording.Options(policyFile, rulesFile, dryRun, reportJson, reportHtml), time.GetUtcNow(), dryRun, time);
        var logger = recording?.CreateLogger(nameof(RetentionRunner)) ?? NullLogger.Instance;
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

    private static int Validate(string[] args, TextWriter stdout)
    {
        string? policyFile = null;
        string? rulesFile = null;
        var projectIds = new Dictionary<long, string>();
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--immutable-rules":
                    rulesFile = arguments.Value();
                    break;
                case "--project-id":
                    AddProjectId(projectIds, arg, arguments.Value());
                    break;
                case var file when !file.StartsWith('-') && policyFile is null:
                    policyFile = file;
                    break;
                default:
                    throw new UsageException($"retention validate: unexpected argument '{arg}'.\n{Usage}");
            }
        }

        if (policyFile is null)
        {
            throw new UsageException($"retention validate: give the policy FILE.\n{Usage}");
        }

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

    private static int Help(TextWriter stdout)
    {
        stdout.WriteLine(Usage);
        return ExitCodes.Done;
    }
}
