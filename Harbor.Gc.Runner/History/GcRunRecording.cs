using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Storage.LiteDb;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.History;

/// <summary>How a GC run is written into the history: the options, the outcome, the counts and the JSON report.</summary>
internal static class GcRunRecording
{
    /// <summary>The options of a GC run as the history shows them.</summary>
    public static Dictionary<string, string> Options(GcOptions options, string? reportJson) => new()
    {
        ["dryRun"] = options.DryRun ? "true" : "false",
        ["deleteUntagged"] = options.DeleteUntagged ? "true" : "false",
        ["timeWindow"] = Duration.Format(options.TimeWindow),
        ["workers"] = options.Workers.ToString(CultureInfo.InvariantCulture),
        ["maxDuration"] = (options.MaxDuration is { } max ? Duration.Format(max) : null) ?? "none",
        ["reportJson"] = reportJson ?? "none",
    };

    /// <summary>Sets the status, message and counts of <paramref name="run"/> from a finished GC; returns the JSON report.</summary>
    public static string Finish(RunRecord run, GcResult result)
    {
        run.DryRun = result.DryRun;
        run.FinishedAt = result.FinishedAt;
        if (result.DryRun)
        {
            var summary = result.Plan.Summary;
            (run.Artifacts, run.Blobs, run.Bytes, run.Uploads) = (summary.Artifacts, summary.Blobs, summary.Bytes, summary.Uploads);
        }
        else
        {
            (run.Artifacts, run.Blobs, run.Bytes, run.Uploads) = (result.ArtifactsDeleted, result.BlobsDeleted, result.BytesFreed, result.UploadsDeleted);
        }

        var failures = result.FailureCount;
        (run.Status, run.Message) = result.Outcome switch
        {
            GcOutcome.Stopped => (RunStatus.Stopped, StopMessage(result)),
            _ when failures > 0 => (RunStatus.Failed, $"{failures} deletions failed (left for the next run)"),
            _ => (RunStatus.Succeeded, null),
        };
        if (run.Status == RunStatus.Stopped && failures > 0)
        {
            run.Message += $"; {failures} deletions failed";
        }

        return GcReportWriter.ToJson(result);
    }

    /// <summary>The history's message for a stopped run: why, in which phase, and what that left.</summary>
    public static string StopMessage(GcResult result)
    {
        var why = result.StopReason == GcStopReason.MaxDuration ? "the maximum duration was reached" : $"stopped by {result.StoppedBy ?? "cancellation"}";
        var phase = result.StoppedWhile.GetValueOrDefault(GcPhase.Sweeping).Describe();
        return result.Planned
            ? $"{why} while {phase}, after the item in hand; the next run carries on"
            : $"{why} while {phase}, before the plan was made; nothing was deleted";
    }

    /// <summary>Sets the status and message of a run that threw.</summary>
    public static void Fail(RunRecord run, Exception error, DateTimeOffset now)
    {
        run.FinishedAt = now;
        (run.Status, run.Message) = error is OperationCanceledException
            ? (RunStatus.Stopped, "stopped before the plan was made; nothing was deleted")
            : (RunStatus.Failed, error.Message);
    }
}

/// <summary>
/// The hook of <c>harbor-gc gc --history PATH</c>: records the manual run (started, then finished or failed) with its log.
/// </summary>
internal sealed class ManualGcRun : IDisposable
{
    private readonly RunHistory _history;
    private readonly RunRecord _run;
    private readonly RunLog _log = new();
    private readonly ILoggerFactory _loggers;
    private readonly TimeProvider _time;

    private ManualGcRun(RunHistory history, RunRecord run, TimeProvider time)
    {
        (_history, _run, _time) = (history, run, time);
        _loggers = LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time)).SetMinimumLevel(LogLevel.Information));
        RunLogProvider.Current = _log;
    }

    /// <summary>The collector's logger: its lines go into the run's log.</summary>
    public ILogger<GarbageCollector> Logger => _loggers.CreateLogger<GarbageCollector>();

    /// <summary>Starts recording (at <see cref="GcOptions.StartedAt"/>), or returns null when no history was asked for.</summary>
    /// <exception cref="UsageException">The history database's folder does not exist.</exception>
    public static ManualGcRun? Start(string? historyPath, string store, GcOptions options, string? reportJson, TimeProvider time)
    {
        if (historyPath is null)
        {
            return null;
        }

        RunHistory history;
        try
        {
            history = RunHistory.Open(historyPath, create: true);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"--history {historyPath}: {e.Message}");
        }

        var run = new RunRecord
        {
            Job = "gc", Kind = "gc", Trigger = RunTrigger.Manual, Store = store, Options = GcRunRecording.Options(options, reportJson),
            StartedAt = options.StartedAt ?? time.GetUtcNow(), Status = RunStatus.Running, DryRun = options.DryRun,
        };
        history.Add(run);
        return new ManualGcRun(history, run, time);
    }

    /// <summary>Records the result.</summary>
    public void Finish(GcResult result)
    {
        var report = GcRunRecording.Finish(_run, result);
        _run.Log = _log.Lines();
        _history.Update(_run, report);
    }

    /// <summary>Records the error; returns false, to be used as an exception filter that lets the error through.</summary>
    public bool Failed(Exception error)
    {
        GcRunRecording.Fail(_run, error, _time.GetUtcNow());
        _run.Log = _log.Lines();
        _history.Update(_run);
        return false;
    }

    public void Dispose()
    {
        RunLogProvider.Current = null;
        _loggers.Dispose();
        _history.Dispose();
    }
}
