using Harbor.Gc.Reporting;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Runner.History;

/// <summary>How a retention run is written into the history (the daemon's jobs and <c>retention run --history PATH</c> alike).</summary>
internal static class RetentionRunRecording
{
    /// <summary>The options of a retention run of the command line as the history shows them.</summary>
    public static Dictionary<string, string> Options(string policy, string? immutableRules, bool dryRun, string? reportJson, string? reportHtml) => new()
    {
        ["dryRun"] = dryRun ? "true" : "false",
        ["policy"] = Path.GetFullPath(policy),
        ["immutableRules"] = immutableRules is null ? "none" : Path.GetFullPath(immutableRules),
        ["reportJson"] = reportJson ?? "none",
        ["reportHtml"] = reportHtml ?? "none",
    };

    /// <summary>Sets the status, message and counts of <paramref name="run"/> from a finished retention run; returns the JSON report.</summary>
    public static string Finish(RunRecord run, RetentionResult result)
    {
        run.DryRun = result.DryRun;
        run.FinishedAt = result.FinishedAt;
        run.Artifacts = result.Execution?.Deleted.Length ?? result.Plan.ArtifactsToDelete;
        (run.Status, run.Message) = (result.Stopped ? RunStatus.Stopped : RunStatus.Succeeded, Message(result));
        return RetentionReportWriter.ToJson(result);
    }

    /// <summary>The history's message for a retention run: what it did, why it stopped, its warnings.</summary>
    public static string Message(RetentionResult result)
    {
        var plan = result.Plan;
        var execution = result.Execution;
        var why = result.StoppedBy is { } signal ? $"stopped by {signal}" : "stopped";
        var message = !result.Planned ? $"{why} while reading the store and evaluating the policy, before the plan was made; nothing was deleted"
            : execution is null ? $"dry run: {plan.ArtifactsToDelete} of {plan.ArtifactCount} artifacts would be deleted"
            : $"{execution.Deleted.Length} of {plan.ArtifactCount} artifacts deleted ({execution.Skipped.Length} skipped, {execution.AlreadyGone.Length} already gone){(execution.Stopped ? $"; {why} after the artifact in hand, the next run carries on" : string.Empty)}; the next GC frees their blobs";
        if (!result.Warnings.IsEmpty)
        {
            message += "; " + string.Join("; ", result.Warnings);
        }

        return message;
    }
}
