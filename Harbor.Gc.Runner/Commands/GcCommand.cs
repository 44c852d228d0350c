using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc gc [--store STORE] [--dry-run [--list]] [--delete-untagged true|false] [--time-window 2h] [--workers N]
/// [--max-duration 30m] [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH]</c> (DESIGN.md §9), and
/// <c>harbor-gc gc --apply PLAN</c>: apply a plan saved by a dry run (its JSON report): plan again on the live store with the saved
/// plan's options, and delete only what both plans list, unchanged (DESIGN.md §2).
/// </summary>
internal static class GcCommand
{
    public const string Usage = """
        harbor-gc gc [--store STORE] [--dry-run [--list]] [--delete-untagged true|false] [--time-window 2h]
                     [--workers N] [--max-duration 30m] [--grace-period 1m] [--allow-no-tags]
                     [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH]
        harbor-gc gc --apply PLAN [--store STORE] [--workers N] [--max-duration 30m] [--grace-period 1m]
                     [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH]
          PLAN = the JSON report of a dry run on the same store: of its items, only those a plan made now with its
                 options also deletes, unchanged since, are deleted; the rest is kept, nothing else is deleted
          --grace-period = how long a distribution: store keeps what it deletes out of the registry's sight before
                     it re-checks and deletes it (longer than any registry request; default 1m)
          --list = with --dry-run: print what the run would delete to stdout, one line each, sorted:
                     'REPOSITORY@DIGEST REASON' per manifest, then 'DIGEST REASON' per blob (the summary goes to stderr)
          --allow-no-tags = collect untagged artifacts even where no repository has a tags folder (Harbor 2.15+)
          STORE = litedb:PATH (the default, litedb:harbor-gc.db: the LiteDB file PATH, blob bytes in 'blobs' beside it)
                | distribution:DIR (the registry's storage rootdirectory, the folder holding docker/registry/v2)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, StopRequest stop)
    {
        var options = new GcOptions { StartedAt = time.GetUtcNow() }; // --max-duration counts from here, opening the store included
        var cancellationToken = stop.Token;
        var store = StoreSpec.Default;
        string? reportJson = null;
        string? reportHtml = null;
        var quiet = false;
        var list = false;
        string? history = null;
        string? apply = null;
        string? planOption = null; // an option a saved plan fixes, when given with --apply
        TimeSpan? gracePeriod = null;
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--store": store = arguments.Value(); break;
                case "--dry-run": options.DryRun = true; planOption = arg; break;
                case "--delete-untagged": options.DeleteUntagged = ParseBool(arg, arguments.Value()); planOption = arg; break;
                case "--time-window": options.TimeWindow = Durations.Parse(arg, arguments.Value()); planOption = arg; break;
                case "--apply": apply = arguments.Value(); break;
                case "--workers": options.Workers = ParseInt(arg, arguments.Value()); break;
                case "--max-duration": options.MaxDuration = Durations.Parse(arg, arguments.Value()); break;
                case "--grace-period": gracePeriod = Durations.Parse(arg, arguments.Value()); break;
                case "--allow-no-tags": options.AllowNoTags = true; break;
                case "--report-json": reportJson = arguments.Value(); break;
                case "--report-html": reportHtml = arguments.Value(); break;
                case "--quiet": quiet = true; break;
                case "--list": list = true; break;
                case "--history": history = arguments.Value(); break;
                default: throw new UsageException($"gc: unknown option '{arg}'.\n{Usage}");
            }
        }

        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new UsageException("gc: " + string.Join("; ", problems));
        }

        if (list && (!options.DryRun || apply is not null))
        {
            throw new UsageException("gc --list: lists what a dry run would delete; give --dry-run too (and no --apply).");
        }

        if (list && reportJson == "-")
        {
            throw new UsageException("gc --list: the list goes to stdout, so the JSON report cannot; write it to a file (--report-json FILE).");
        }

        if (apply is not null && planOption is not null)
        {
            throw new UsageException($"gc --apply: the saved plan fixes what {planOption} would set, and applying it is a real run; leave {planOption} out.");
        }

        var saved = apply is null ? null : ReadPlan(apply);
        using var reports = new ReportOutput(reportJson, reportHtml);
        reports.Open(); // a report that cannot be written is found before anything is deleted
        if (saved is not null)
        {
            options.DeleteUntagged = saved.DeleteUntagged;
            options.TimeWindow = saved.TimeWindow;
        }

        var progress = ProgressLine.ForConsole(stderr, quiet, time);
        options.Progress = progress;
        using var recording = ManualGcRun.Start(history, store, options, reportJson, time); // the run history, with --history
        GcResult result;
        try
        {
            result = await StoreSpec.UseAsync(store, time, readOnly: options.DryRun && saved is null, s =>
            {
                var collector = new GarbageCollector(s, time, recording?.Logger);
                if (saved is null)
                {
                    return collector.RunAsync(options, cancellationToken);
                }

                // applying re-plans on the live store and deletes only what both plans list; a plan made for another store is a mistake
                return saved.Store == s.Description
                    ? collector.ExecuteAsync(saved, options, cancellationToken)
                    : throw new UsageException($"--apply {apply}: the plan is for {saved.Store}, not {s.Description}; nothing was deleted.");
            }, gracePeriod).ConfigureAwait(false);
            result = result.WithStoppedBy(stop.Signal()); // the report and the history name the signal
            recording?.Finish(result);
        }
        catch (Exception e) when (recording is not null && recording.Failed(e))
        {
            throw; // never reached: Failed records the error and returns false
        }
        finally
        {
            progress?.Clear();
        }

        // the JSON report goes to stdout when asked for with '-', and the summary then to stderr; so does a --list's summary
        var summaryWriter = list ? stderr : reports.SummaryWriter(stdout, stderr);
        if (list && result.Planned)
        {
            PlanList.Write(stdout, result.Plan);
        }

        if (!quiet)
        {
            ConsoleSummary.Write(summaryWriter, result);
        }
        else if (result.Outcome == GcOutcome.Stopped)
        {
            await stderr.WriteLineAsync($"harbor-gc: {ConsoleSummary.DescribeStop(result)}").ConfigureAwait(false); // exit 3 always says why
        }

        await reports.WriteAsync(() => GcReportWriter.ToJson(result), f => GcReportWriter.Write(f, result), f => HtmlReportWriter.Write(f, result), stdout, summaryWriter, quiet).ConfigureAwait(false);
        return ExitCodes.Of(result);
    }

    /// <summary>Reads a saved plan (a dry run's JSON report); a missing or malformed one is bad input, named by its field.</summary>
    private static CollectionPlan ReadPlan(string file)
    {
        using var stream = InputFile.OpenRead("--apply", file);
        try
        {
            return GcPlanReader.Read(stream);
        }
        catch (PlanFormatException e)
        {
            throw new UsageException($"--apply {file}: {e.Message}; nothing was deleted.");
        }
    }

    internal static bool ParseBool(string option, string text) => text switch
    {
        "true" => true,
        "false" => false,
        _ => throw new UsageException($"{option}: '{text}' is not true or false."),
    };

    private static int ParseInt(string option, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new UsageException($"{option}: '{text}' is not a whole number.");
}
