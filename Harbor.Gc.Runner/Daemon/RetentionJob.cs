using Harbor.Gc.Reporting;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.Commands;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>What a retention run did.</summary>
/// <param name="DryRun">Whether nothing was deleted on purpose.</param>
/// <param name="ArtifactsDeleted">Artifacts deleted (a dry run: planned).</param>
/// <param name="ReportJson">The JSON report (DESIGN.md §8, <c>"kind": "retention"</c>).</param>
/// <param name="Message">A note for the history, or null.</param>
/// <param name="Stopped">Whether the run was stopped before it finished its plan (the next run carries on).</param>
/// <param name="Html">The HTML report, when the job writes one.</param>
internal sealed record RetentionRunResult(bool DryRun, int ArtifactsDeleted, string ReportJson, string? Message = null, bool Stopped = false, HtmlReport? Html = null);

/// <summary>The seam between the daemon and retention: the daemon runs a retention job through the implementation registered in DI.</summary>
internal interface IRetentionJob
{
    /// <summary>Runs the job's policy against its store.</summary>
    /// <exception cref="InvalidOperationException">The run cannot be done (the error is recorded as the run's failure).</exception>
    Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken);
}

/// <summary>
/// Retention as <c>harbor-gc retention run</c> does it: <see cref="RetentionRunner"/> evaluates the job's policy and, unless the
/// job is a dry run, carries the plan out through the deletion cascade (blobs are freed by the next GC).
/// </summary>
internal sealed class RetentionJob(TimeProvider time) : IRetentionJob
{
    public async Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var result = await StoreSpec.UseAsync(job.Store, time, readOnly: job.DryRun, s => new RetentionRunner(s, time).RunAsync(job.Policy!, job.Immutability, job.DryRun, cancellationToken), job.GracePeriod).ConfigureAwait(false);
        var deleted = result.Execution?.Deleted.Length ?? result.Plan.ArtifactsToDelete;
        var message = History.RetentionRunRecording.Message(result);
        return new RetentionRunResult(result.DryRun, deleted, RetentionReportWriter.ToJson(result), message, result.Stopped,
            job.ReportHtml is null ? null : HtmlReport.FromRetention(result));
    }
}
