using System.Text;
using System.Text.Json;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.Commands;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>What a retention run did.</summary>
/// <param name="DryRun">Whether nothing was deleted on purpose.</param>
/// <param name="ArtifactsDeleted">Artifacts deleted (a dry run: planned).</param>
/// <param name="ReportJson">The JSON report (DESIGN.md §8, <c>"kind": "retention"</c>).</param>
/// <param name="Message">A note for the history, or null.</param>
internal sealed record RetentionRunResult(bool DryRun, int ArtifactsDeleted, string ReportJson, string? Message = null);

/// <summary>
/// The seam between the daemon and the retention executor: the daemon runs a retention job through the implementation
/// registered in DI. <see cref="PlanOnlyRetentionJob"/> is registered until the executor (<c>harbor-gc retention run</c>) is
/// merged; then an implementation that executes the plan replaces it in <see cref="DaemonCommand"/>.
/// </summary>
internal interface IRetentionJob
{
    /// <summary>Runs the job's policy against its store.</summary>
    /// <exception cref="InvalidOperationException">The run cannot be done (the error is recorded as the run's failure).</exception>
    Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken);
}

/// <summary>
/// Retention as a dry run only: evaluates the policy with <see cref="RetentionEvaluator"/> and reports the plan. A job that is
/// not a dry run fails with a message saying so, and nothing is deleted: the executor is not connected yet.
/// </summary>
internal sealed class PlanOnlyRetentionJob(TimeProvider time) : IRetentionJob
{
    public async Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (!job.DryRun)
        {
            throw new InvalidOperationException(
                $"job '{job.Name}': this build cannot execute retention (the retention executor is not connected to the daemon yet); nothing was deleted. Set \"dryRun\": true to record the plan.");
        }

        var store = StoreSpec.Open(job.Store, time);
        try
        {
            var startedAt = time.GetUtcNow();
            var snapshot = await RetentionSnapshot.ReadAsync(store, cancellationToken).ConfigureAwait(false);
            var plan = RetentionEvaluator.Evaluate(job.Policy!, snapshot, time, job.Immutability, cancellationToken);
            return new RetentionRunResult(true, plan.Deleted, Report(plan, startedAt, time.GetUtcNow()), $"dry run: {plan.Deleted} of {plan.Total} artifacts would be deleted");
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    /// <summary>The plan as a DESIGN.md §8 report of kind <c>retention</c>.</summary>
    internal static string Report(RetentionPlan plan, DateTimeOffset startedAt, DateTimeOffset finishedAt)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("kind", "retention");
            json.WriteBoolean("dryRun", true);
            json.WriteString("startedAt", startedAt);
            json.WriteString("finishedAt", finishedAt);
            json.WriteString("project", plan.Policy.Project);
            json.WriteStartObject("summary");
            json.WriteNumber("artifacts", plan.Deleted);
            json.WriteNumber("total", plan.Total);
            json.WriteNumber("retained", plan.Retained);
            json.WriteEndObject();
            json.WriteStartArray("repositories");
            foreach (var repository in plan.Repositories)
            {
                json.WriteStartObject();
                json.WriteString("repository", repository.Repository.ToString());
                json.WriteNumber("total", repository.Total);
                json.WriteNumber("retained", repository.Retained);
                json.WriteNumber("deleted", repository.Deleted);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("artifacts");
            foreach (var key in plan.DeleteOrder)
            {
                json.WriteStartObject();
                json.WriteString("repository", key.Repository.ToString());
                json.WriteString("digest", key.Digest.ToString());
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
