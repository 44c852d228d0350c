using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Retention;
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

/// <summary>The hook of <c>harbor-gc gc --history PATH</c>: a <see cref="ManualRun"/> of kind <c>gc</c>.</summary>
internal static class ManualGcRun
{
    /// <summary>Starts recording (at <see cref="GcOptions.StartedAt"/>), or returns null when no history was asked for.</summary>
    /// <exception cref="UsageException">The history database cannot be opened.</exception>
    public static ManualRun? Start(string? historyPath, string store, GcOptions options, string? reportJson, TimeProvider time, ILoggerFactory? loggers = null) =>
        ManualRun.Start(historyPath, "gc", store, GcRunRecording.Options(options, reportJson), options.StartedAt ?? time.GetUtcNow(), options.DryRun, time, loggers);
}

/// <summary>
/// A run of a command line recorded in the history (<c>gc --history PATH</c>, <c>retention run --history PATH</c>): started,
/// then finished, stopped or failed, with its log lines.
/// </summary>
internal sealed class ManualRun : IDisposable
{
    private readonly RunHistory _history;
    private readonly RunRecord _run;
    private readonly RunLog _log = new();
    private readonly ILoggerFactory _loggers;
    private readonly bool _ownsLoggers;
    private readonly TimeProvider _time;

    private ManualRun(RunHistory history, RunRecord run, TimeProvider time, ILoggerFactory? loggers)
    {
        (_history, _run, _time) = (history, run, time);

        // the command's console log, when it has one, also writes into the run log (RunnerLogging.Configure); else only the run log
        _ownsLoggers = loggers is null;
        _loggers = loggers ?? LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time)).SetMinimumLevel(LogLevel.Information));
        RunLogProvider.Current = _log;
    }

    /// <summary>The collector's logger: its lines go into the run's log.</summary>
    public ILogger<GarbageCollector> Logger => _loggers.CreateLogger<GarbageCollector>();

    /// <summary>A logger whose lines go into the run's log.</summary>
    public ILogger CreateLogger(string category) => _loggers.CreateLogger(category);

    /// <summary>The run's id in the history.</summary>
    public int Id => _run.Id;

    /// <summary>Starts recording a run of <paramref name="kind"/> (its job's name too), or returns null when no history was asked for.</summary>
    /// <exception cref="UsageException">The history database's folder does not exist, or the file is not a run history.</exception>
    public static ManualRun? Start(string? historyPath, string kind, string store, Dictionary<string, string> options, DateTimeOffset startedAt, bool dryRun, TimeProvider time, ILoggerFactory? loggers = null)
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
            Job = kind, Kind = kind, Trigger = RunTrigger.Manual, Store = store, Options = options,
            StartedAt = startedAt, Status = RunStatus.Running, DryRun = dryRun,
        };
        history.Add(run);
        return new ManualRun(history, run, time, loggers);
    }

    /// <summary>Records the result of a GC run.</summary>
    public void Finish(GcResult result) => Finish(GcRunRecording.Finish(_run, result));

    /// <summary>Records the result of a retention run.</summary>
    public void Finish(RetentionResult result) => Finish(RetentionRunRecording.Finish(_run, result));

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
        if (_ownsLoggers)
        {
            _loggers.Dispose();
        }

        _history.Dispose();
    }

    private void Finish(string report)
    {
        _run.Log = _log.Lines();
        _history.Update(_run, report);
    }
}
