using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc gc [--store STORE] [--dry-run] [--delete-untagged true|false] [--time-window 2h] [--workers N]
/// [--max-duration 30m] [--report-json FILE|-] [--report-html FILE] [--quiet] [--history PATH]</c> (DESIGN.md §9).
/// </summary>
internal static class GcCommand
{
    public const string Usage = """
        harbor-gc gc [--store STORE] [--dry-run] [--delete-untagged true|false] [--time-window 2h]
                     [--workers N] [--max-duration 30m] [--report-json FILE|-] [--report-html FILE] [--quiet]
                     [--history PATH]
          STORE = litedb:PATH (the default, litedb:harbor-gc.db: the LiteDB file PATH, blob bytes in 'blobs' beside it)
                | distribution:DIR (the registry's storage rootdirectory, the folder holding docker/registry/v2)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken)
    {
        var options = new GcOptions();
        var store = StoreSpec.Default;
        string? reportJson = null;
        string? reportHtml = null;
        var quiet = false;
        string? history = null;
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--store": store = arguments.Value(); break;
                case "--dry-run": options.DryRun = true; break;
                case "--delete-untagged": options.DeleteUntagged = ParseBool(arg, arguments.Value()); break;
                case "--time-window": options.TimeWindow = Durations.Parse(arg, arguments.Value()); break;
                case "--workers": options.Workers = ParseInt(arg, arguments.Value()); break;
                case "--max-duration": options.MaxDuration = Durations.Parse(arg, arguments.Value()); break;
                case "--report-json": reportJson = arguments.Value(); break;
                case "--report-html": reportHtml = arguments.Value(); break;
                case "--quiet": quiet = true; break;
                case "--history": history = arguments.Value(); break;
                default: throw new UsageException($"gc: unknown option '{arg}'.\n{Usage}");
            }
        }

        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new UsageException("gc: " + string.Join("; ", problems));
        }

        var reports = new ReportOutput(reportJson, reportHtml);
        reports.CheckFolders();

        var progress = ProgressLine.ForConsole(stderr, quiet, time);
        options.Progress = progress;
        using var recording = ManualGcRun.Start(history, store, options, reportJson, time); // the run history, with --history
        GcResult result;
        try
        {
            result = await StoreSpec.UseAsync(store, time, s => new GarbageCollector(s, time, recording?.Logger).RunAsync(options, cancellationToken)).ConfigureAwait(false);
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

        // the JSON report goes to stdout when asked for with '-', and the summary then to stderr
        var summaryWriter = reports.SummaryWriter(stdout, stderr);
        if (!quiet)
        {
            ConsoleSummary.Write(summaryWriter, result);
        }

        await reports.WriteAsync(() => GcReportWriter.ToJson(result), f => GcReportWriter.Write(f, result), f => HtmlReportWriter.Write(f, result), stdout, summaryWriter, quiet).ConfigureAwait(false);
        return result.BlobsFailed.Count + result.UploadsFailed.Count > 0 ? 1 : 0;
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
