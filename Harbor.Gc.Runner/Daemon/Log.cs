using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>The daemon's log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "job {Job}: run {RunId} started ({Kind} on {Store})")]
    public static partial void Started(ILogger logger, string job, int runId, string kind, string store);

    [LoggerMessage(2, LogLevel.Information, "job {Job}: run {RunId} {Status}{Message} ({Artifacts} artifacts, {Blobs} blobs, {Bytes} bytes)")]
    public static partial void Finished(ILogger logger, string job, int runId, string status, string message, int artifacts, int blobs, long bytes);

    [LoggerMessage(3, LogLevel.Warning, "job {Job}: run {RunId} skipped: it would overlap run {OtherRunId} of job {OtherJob}")]
    public static partial void Skipped(ILogger logger, string job, int runId, int otherRunId, string otherJob);

    [LoggerMessage(4, LogLevel.Information, "daemon started: {Jobs} jobs, history in {History}")]
    public static partial void DaemonStarted(ILogger logger, int jobs, string history);

    [LoggerMessage(5, LogLevel.Warning, "run {RunId} of job {Job} was left running by a crash: marked failed")]
    public static partial void Interrupted(ILogger logger, int runId, string job);

    [LoggerMessage(6, LogLevel.Information, "job {Job}: next run at {Next:u}")]
    public static partial void NextRun(ILogger logger, string job, DateTimeOffset next);

    [LoggerMessage(7, LogLevel.Warning, "job {Job}: the occurrence at {Missed:u} was missed (the daemon was late); waiting for the next")]
    public static partial void Missed(ILogger logger, string job, DateTimeOffset missed);

    [LoggerMessage(8, LogLevel.Information, "daemon stopping: waiting for the runs in progress to stop after the item in hand")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(9, LogLevel.Information, "retention run on {Store} started (policy {Policy}, dry run {DryRun})")]
    public static partial void RetentionStarted(ILogger logger, string store, string policy, bool dryRun);

    [LoggerMessage(10, LogLevel.Information, "retention run {Outcome}: {Message}")]
    public static partial void RetentionFinished(ILogger logger, string outcome, string message);

    [LoggerMessage(11, LogLevel.Information, "history: {Removed} old runs removed (keeping {Keep})")]
    public static partial void Pruned(ILogger logger, int removed, string keep);

    [LoggerMessage(12, LogLevel.Warning, "history: pruning failed, the next run tries again: {Error}")]
    public static partial void PruneFailed(ILogger logger, string error);

    [LoggerMessage(13, LogLevel.Information, "daemon stopped")]
    public static partial void DaemonStopped(ILogger logger);

    [LoggerMessage(14, LogLevel.Information, "daemon stopping ({Reason}): the runs in progress stop after the item in hand")]
    public static partial void ShutdownRequested(ILogger logger, string reason);
}
