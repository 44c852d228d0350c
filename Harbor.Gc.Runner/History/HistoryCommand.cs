using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.Runner.History;

/// <summary>
/// <c>harbor-gc history</c> (a table of runs, latest first) and <c>harbor-gc show RUN-ID</c> (one run: options, summary, log, or
/// its stored JSON report), reading the history database a daemon configuration names, or the one given.
/// </summary>
internal static class HistoryCommand
{
    public const string DefaultHistory = "harbor-gc-history.db";

    public static Command CreateHistory(CommandContext context)
    {
        var (config, historyPath) = Cli.HistorySourceOptions();
        var job = Cli.FileOption("--job", "Only the runs of this job", "NAME");
        var limit = Cli.WholeNumberOption("--limit", "The newest N runs [default: 20]", minimum: 1);
        var json = Cli.FlagOption("--json", "Write the runs as JSON");
        var command = new Command("history", "The run history: a table of runs, latest first") { config, historyPath, job, limit, json, CreatePrune(context) };
        command.SetAction((p, _) => ListAsync(HistoryPath(p, config, historyPath, "history"), p.GetValue(job), p.GetValue(limit) ?? 20, p.GetValue(json), context.Stdout));
        return command.WithNotes(Notes);
    }

    public static Command CreateShow(CommandContext context)
    {
        var id = new Argument<string>("RUN-ID") { Description = "The run's id (harbor-gc history's first column)" };
        var (config, historyPath) = Cli.HistorySourceOptions();
        var reportJson = Cli.FlagOption("--report-json", "Write the run's stored JSON report");
        var json = Cli.FlagOption("--json", "Write the run's record as JSON");
        var command = new Command("show", "One run of the history: options, summary, log, or its stored report") { id, config, historyPath, reportJson, json };
        command.SetAction((p, _) =>
        {
            var text = p.GetValue(id)!;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var runId)
                ? ShowAsync(runId, HistoryPath(p, config, historyPath, "show"), p.GetValue(reportJson), p.GetValue(json), context.Stdout)
                : throw new UsageException($"show: '{text}' is not a run id (a number, from 'harbor-gc history').");
        });
        return command.WithNotes(Notes);
    }

    private static Command CreatePrune(CommandContext context)
    {
        var keep = new Option<HistoryKeep?>("--keep")
        {
            Description = "N: keep the newest N runs; DURATION: keep the runs started within it (30d)",
            HelpName = "N|DURATION",
            CustomParser = r =>
            {
                try
                {
                    return HistoryKeep.Parse("--keep", r.Tokens[0].Value);
                }
                catch (UsageException e)
                {
                    r.AddError(e.Message);
                    return null;
                }
            },
        };
        var (config, historyPath) = Cli.HistorySourceOptions();
        var command = new Command("prune", "Remove the runs (and their reports) --keep does not keep; a run still running is kept") { keep, config, historyPath };
        command.SetAction((p, _) => PruneAsync(
            p.GetValue(keep) ?? throw new UsageException("history prune: give --keep N (the newest N runs) or --keep DURATION (the runs started within it, 30d)."),
            HistoryPath(p, config, historyPath, "history prune"), context.Stdout, context.Time));
        return command.WithNotes(Notes);
    }

    private const string Notes = """
        the run history the daemon's configuration FILE names, or PATH (default harbor-gc-history.db)
        """;

    private static async Task<int> ListAsync(string path, string? job, int limit, bool json, TextWriter stdout)
    {
        using var history = Open(path);
        var runs = history.List(job, limit);
        if (json)
        {
            await stdout.WriteLineAsync(RunRecordJson.ToJson(runs)).ConfigureAwait(false);
            return ExitCodes.Done;
        }

        if (runs.Count == 0)
        {
            await stdout.WriteLineAsync(job is null ? $"no runs in {history.Path}" : $"no runs of job '{job}' in {history.Path}").ConfigureAwait(false);
            return ExitCodes.Done;
        }

        string[] header = ["ID", "JOB", "TRIGGER", "STATUS", "STARTED (UTC)", "DURATION", "ARTIFACTS", "BLOBS", "BYTES"];
        var rows = runs.Select(r => new[]
        {
            r.Id.ToString(CultureInfo.InvariantCulture), r.Job, Lower(r.Trigger), Lower(r.Status) + (r.DryRun && r.Status != RunStatus.Skipped ? " (dry)" : string.Empty),
            r.StartedAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), Duration(r),
            r.Artifacts.ToString(CultureInfo.InvariantCulture), r.Blobs.ToString(CultureInfo.InvariantCulture), r.Bytes.ToString("N0", CultureInfo.InvariantCulture),
        }).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        foreach (var row in rows.Prepend(header))
        {
            // numbers right-aligned, text left-aligned
            var cells = row.Select((cell, i) => i is 0 or >= 6 ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
            await stdout.WriteLineAsync(string.Join("  ", cells).TrimEnd()).ConfigureAwait(false);
        }

        return ExitCodes.Done;
    }

    private static async Task<int> ShowAsync(int id, string path, bool reportJson, bool json, TextWriter stdout)
    {
        if (reportJson && json)
        {
            throw new UsageException("show: give --report-json (the run's stored report) or --json (the run's record), not both.");
        }

        using var history = Open(path);
        var run = history.Get(id) ?? throw new UsageException($"show: there is no run {id} in {history.Path}.");
        if (json)
        {
            await stdout.WriteLineAsync(RunRecordJson.ToJson(run)).ConfigureAwait(false);
            return ExitCodes.Done;
        }

        if (reportJson)
        {
            var report = history.ReadReport(id) ?? throw new UsageException($"show: run {id} has no stored report (it was {Lower(run.Status)}).");
            await stdout.WriteLineAsync(report).ConfigureAwait(false);
            return ExitCodes.Done;
        }

        var w = stdout;
        w.WriteLine($"run {run.Id}: job {run.Job} ({run.Kind}, {Lower(run.Trigger)})");
        w.WriteLine($"  status:   {Lower(run.Status)}{(run.DryRun ? " (dry run)" : string.Empty)}");
        if (run.Message is not null)
        {
            w.WriteLine($"  message:  {run.Message}");
        }

        w.WriteLine($"  store:    {run.Store}");
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  started:  {run.StartedAt:yyyy-MM-dd HH:mm:ss}Z"));
        w.WriteLine(run.FinishedAt is { } end
            ? string.Create(CultureInfo.InvariantCulture, $"  finished: {end:yyyy-MM-dd HH:mm:ss}Z ({Duration(run)})")
            : "  finished: not yet");
        w.WriteLine($"  options:  {string.Join(", ", run.Options.Select(o => $"{o.Key}={o.Value}"))}");
        var verb = run.DryRun ? "would delete" : "deleted";
        w.WriteLine($"  summary:  {verb} {run.Artifacts} artifacts, {run.Blobs} blobs, {ConsoleSummary.FormatBytes(run.Bytes)}, {run.Uploads} stale uploads");
        w.WriteLine($"  report:   {(run.HasReport ? $"stored (harbor-gc show {run.Id} --report-json)" : "none")}");
        w.WriteLine($"  log ({run.Log.Count} lines):");
        foreach (var line in run.Log)
        {
            w.WriteLine($"    {line}");
        }

        await w.FlushAsync().ConfigureAwait(false);
        return ExitCodes.Done;
    }

    /// <summary><c>history prune --keep N|DURATION</c>: removes the runs (and their reports) <c>--keep</c> does not keep.</summary>
    private static async Task<int> PruneAsync(HistoryKeep keep, string path, TextWriter stdout, TimeProvider time)
    {
        using var history = Open(path, readOnly: false);
        var removed = history.Prune(keep, time.GetUtcNow());
        await stdout.WriteLineAsync($"removed {removed} runs from {history.Path}, keeping {keep} (and any still running)").ConfigureAwait(false);
        return ExitCodes.Done;
    }

    /// <summary>The history database: the one <c>--config</c>'s file names, <c>--history</c>, or the default.</summary>
    private static string HistoryPath(ParseResult result, Option<string?> config, Option<string?> history, string command) =>
        (result.GetValue(config), result.GetValue(history)) switch
        {
            ({ }, { }) => throw new UsageException($"{command}: give --config or --history, not both."),
            ({ } file, _) => HistoryPathOf(file),
            (_, var path) => path ?? DefaultHistory,
        };

    /// <summary>The history database a daemon configuration names (only that field is read).</summary>
    private static string HistoryPathOf(string config)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(config), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var folder = Path.GetDirectoryName(Path.GetFullPath(config)) ?? ".";
            var history = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("history", out var h) && h.ValueKind == JsonValueKind.String
                ? h.GetString()!
                : DefaultHistory;
            return Path.GetFullPath(history, folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new UsageException($"--config {config}: {e.Message}");
        }
    }

    private static RunHistory Open(string path, bool readOnly = true)
    {
        try
        {
            return RunHistory.Open(path, create: false, readOnly: readOnly);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"{e.Message} Give --history PATH or --config FILE (the daemon's configuration).");
        }
        catch (Exception e) when (e is InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException(e.Message);
        }
    }

    private static string Duration(RunRecord run)
    {
        if (run.FinishedAt is not { } end)
        {
            return "-";
        }

        var d = end - run.StartedAt;
        return d.TotalSeconds < 60 ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalSeconds:0.0}s")
            : d.TotalHours < 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalMinutes}m{d.Seconds:00}s")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)d.TotalHours}h{d.Minutes:00}m");
    }

    private static string Lower<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();
}
