using System.CommandLine;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc gc [--store STORE] [--dry-run [--list]] [--delete-untagged [true|false]] [--time-window 2h] [--workers N]
/// [--max-duration 30m] [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH] [--log-format F] [--log-level L]</c>
/// (DESIGN.md §9), and
/// <c>harbor-gc gc --apply PLAN</c>: apply a plan saved by a dry run (its JSON report): plan again on the live store with the saved
/// plan's options, and delete only what both plans list, unchanged (DESIGN.md §2).
/// </summary>
internal static class GcCommand
{
    public const string Notes = """
        PLAN = the JSON report of a dry run on the same store: of its items, only those a plan made now with its options also
               deletes, unchanged since, are deleted; the rest is kept, nothing else is deleted
        STORE = litedb:PATH (the LiteDB file PATH, blob bytes in 'blobs' beside it)
              | distribution:DIR (the registry's storage rootdirectory, the folder holding docker/registry/v2)
              | distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION (the same tree in a bucket, ROOT the registry's
                rootdirectory; credentials from the AWS SDK's chain: environment, profile; never the command line)
              | postgres:postgresql://USER@HOST[:PORT]/DATABASE?blobs=DIR[&passfile=FILE] (metadata in PostgreSQL, blob bytes
                in DIR; the password from HARBOR_GC_PGPASSWORD, PGPASSWORD or a pgpass file, never the command line)
              | litedb:PATH?blobs=s3://BUCKET/PREFIX&endpoint=URL&region=REGION, postgres:…?blobs=s3://… (blob bytes in a bucket)
        DURATION = 2h30m, 90s, 7d, 1d12h, 0 or hh:mm:ss

        """ + ExitCodes.Help;

    public static Command Create(CommandContext context)
    {
        var store = Cli.StoreOption();
        var dryRun = Cli.FlagOption("--dry-run", "Plan only: report what a run would delete, delete nothing");
        var list = Cli.FlagOption("--list", "With --dry-run: print what the run would delete to stdout, one line each, sorted ('REPOSITORY@DIGEST REASON', then 'DIGEST REASON'); the summary goes to stderr");
        var deleteUntagged = Cli.DeleteUntaggedOption("Also delete artifacts that have no tag (never an accessory or a tagged index's child); opt-in, since an image deployed by digest has no tag");
        var timeWindow = Cli.DurationOption("--time-window", "Keep everything pushed within this long before the run [default: 2h]");
        var apply = Cli.FileOption("--apply", "Apply a plan a dry run saved (its JSON report): delete only what a plan made now also deletes", "PLAN");
        var workers = Cli.WholeNumberOption("--workers", "Deletions in parallel, 1 to 16 [default: 1]");
        var maxDuration = Cli.DurationOption("--max-duration", "Stop after the item in hand once the run has lasted this long (exit 3)");
        var gracePeriod = Cli.GracePeriodOption();
        var allowNoTags = Cli.FlagOption("--allow-no-tags", "With --delete-untagged: collect untagged artifacts even where no repository has a tags folder (Harbor 2.15+)");
        var (reportJson, reportHtml) = Cli.ReportOptions();
        var quiet = Cli.FlagOption("--quiet", "No summary and no progress (warnings and a stop's reason still go to stderr)");
        var history = Cli.HistoryOption();
        var (logFormat, logLevel) = Cli.LogFormatAndLevel();
        var command = new Command("gc", "Collect garbage: delete the manifests and blobs nothing live needs (or plan it, with --dry-run)")
        {
            store, dryRun, list, deleteUntagged, timeWindow, apply, workers, maxDuration, gracePeriod, allowNoTags, reportJson, reportHtml, quiet, history, logFormat, logLevel,
        };
        command.SetAction((p, _) =>
        {
            var options = new GcOptions { StartedAt = context.Time.GetUtcNow() }; // --max-duration counts from here, opening the store included
            string? planOption = null; // an option a saved plan fixes, when given with --apply
            if (p.GetValue(dryRun))
            {
                (options.DryRun, planOption) = (true, "--dry-run");
            }

            if (p.Given(deleteUntagged))
            {
                (options.DeleteUntagged, planOption) = (p.GetValue(deleteUntagged), "--delete-untagged");
            }

            if (p.GetValue(timeWindow) is { } window)
            {
                (options.TimeWindow, planOption) = (window, "--time-window");
            }

            options.Workers = p.GetValue(workers) ?? options.Workers;
            options.MaxDuration = p.GetValue(maxDuration) ?? options.MaxDuration;
            options.AllowNoTags = p.GetValue(allowNoTags);
            var run = new GcRun(p.GetValue(store)!, options, planOption, p.GetValue(apply), p.GetValue(gracePeriod), p.GetValue(reportJson), p.GetValue(reportHtml),
                p.GetValue(quiet), p.GetValue(list), p.GetValue(history), new LogOptions(p.GetValue(logFormat), p.GetValue(logLevel)));
            return RunAsync(run, context);
        });
        return command.WithNotes(Notes);
    }

    /// <summary>A <c>gc</c> command line, parsed.</summary>
    private sealed record GcRun(string Store, GcOptions Options, string? PlanOption, string? Apply, TimeSpan? GracePeriod, string? ReportJson, string? ReportHtml,
        bool Quiet, bool List, string? History, LogOptions Log);

    private static async Task<int> RunAsync(GcRun run, CommandContext context)
    {
        var (stdout, stderr, time, stop) = context;
        var cancellationToken = stop.Token;
        var (store, options, planOption, apply, gracePeriod, reportJson, reportHtml, quiet, list, history, log) = run;
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

        using var consoleLog = RunnerLogging.ForCommand(log, stderr, time); // the run's log on stderr, when asked for
        var saved = apply is null ? null : ReadPlan(apply);
        using var reports = new ReportOutput(reportJson, reportHtml);
        reports.Open(); // a report that cannot be written is found before anything is deleted
        if (saved is not null)
        {
            options.DeleteUntagged = saved.DeleteUntagged;
            options.TimeWindow = saved.TimeWindow;
        }

        var progress = ProgressLine.ForConsole(stderr, quiet || consoleLog is not null, time); // a log on stderr and a progress line do not mix
        options.Progress = progress;
        using var recording = ManualGcRun.Start(history, store, options, reportJson, time, consoleLog); // the run history, with --history
        GcResult result;
        try
        {
            result = await StoreSpec.UseAsync(store, time, readOnly: options.DryRun && saved is null, s =>
            {
                var collector = new GarbageCollector(s, time, recording?.Logger ?? consoleLog?.CreateLogger<GarbageCollector>());
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
}
