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

    public const string Usage = """
        harbor-gc history [--config FILE | --history PATH] [--job NAME] [--limit N] [--json]
        harbor-gc show RUN-ID [--config FILE | --history PATH] [--report-json | --json]
        harbor-gc history prune --keep N|DURATION [--config FILE | --history PATH]
          the run history the daemon's configuration FILE names, or PATH (default harbor-gc-history.db)
        """;

    public static async Task<int> ListAsync(string[] args, TextWriter stdout)
    {
        string? job = null;
        var limit = 20;
        var json = false;
        var path = ParseCommon(args, "history", (option, value) =>
        {
            switch (option)
            {
                case "--json": json = true; return true;
                case "--job": job = value(); return true;
                case "--limit": limit = int.TryParse(value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException("--limit: give a whole number above 0."); return true;
                default: return false;
            }
        });

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

    public static async Task<int> ShowAsync(string[] args, TextWriter stdout)
    {
        if (args.Length == 0 || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            throw new UsageException($"show: give a run id (a number, from 'harbor-gc history').\n{Usage}");
        }

        var reportJson = false;
        var json = false;
        var path = ParseCommon(args[1..], "show", (option, _) =>
        {
            switch (option)
            {
                case "--report-json": reportJson = true; return true;
                case "--json": json = true; return true;
                default: return false;
            }
        });
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
    public static async Task<int> PruneAsync(string[] args, TextWriter stdout, TimeProvider time)
    {
        HistoryKeep? keep = null;
        var path = ParseCommon(args, "history prune", (option, value) =>
        {
            switch (option)
            {
                case "--keep": keep = HistoryKeep.Parse(option, value()); return true;
                default: return false;
            }
        });
        if (keep is null)
        {
            throw new UsageException($"history prune: give --keep N (the newest N runs) or --keep DURATION (the runs started within it, 30d).\n{Usage}");
        }

        using var history = Open(path, readOnly: false);
        var removed = history.Prune(keep, time.GetUtcNow());
        await stdout.WriteLineAsync($"removed {removed} runs from {history.Path}, keeping {keep} (and any still running)").ConfigureAwait(false);
        return ExitCodes.Done;
    }

    private static string ParseCommon(string[] args, string command, Func<string, Func<string>, bool> other)
    {
        string? config = null;
        string? history = null;
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--config": config = arguments.Value(); break;
                case "--history": history = arguments.Value(); break;
                default:
                    if (!other(arg, arguments.Value))
                    {
                        throw new UsageException($"{command}: unknown option '{arg}'.\n{Usage}");
                    }

                    break;
            }
        }

        return (config, history) switch
        {
            (not null, not null) => throw new UsageException($"{command}: give --config or --history, not both."),
            (not null, _) => HistoryPathOf(config),
            _ => history ?? DefaultHistory,
        };
    }

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
