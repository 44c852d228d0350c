using System.Globalization;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Reporting;

/// <summary>
/// A text summary of a retention run in the manner of Harbor's retention log: per repository how many artifacts were retained
/// and deleted of the total, and per artifact a RETAIN or DEL mark with the rule that retained it or why it goes.
/// </summary>
/// <remarks>Artifacts are listed one per line only up to <see cref="MaxListedArtifacts"/> in all; past that, the JSON report has them.</remarks>
public static class RetentionConsoleSummary
{
    /// <summary>The most artifacts listed one per line.</summary>
    public const int MaxListedArtifacts = 200;

    /// <summary>Writes the summary.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="result">The run.</param>
    public static void Write(TextWriter writer, RetentionResult result)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(result);
        var inv = CultureInfo.InvariantCulture;
        var plan = result.Plan;
        var policy = plan.Policy;
        writer.WriteLine(string.Create(inv,
            $"Retention {(result.DryRun ? "dry run" : "run")} on {result.Store} at {GcReportWriter.Time(plan.EvaluatedAt)} (project {policy.Project}, {policy.Rules.Length} rule(s), schedule {policy.Schedule ?? "none"})"));
        for (var i = 0; i < policy.Rules.Length; i++)
        {
            writer.WriteLine(string.Create(inv, $"  rule {i + 1}: {Describe(policy.Rules[i])}"));
        }

        if (!result.Planned)
        {
            writer.WriteLine($"  {DescribeStop(result)}");
            return;
        }

        foreach (var warning in result.Warnings)
        {
            writer.WriteLine($"  warning: {warning}");
        }

        var list = plan.ArtifactCount <= MaxListedArtifacts;
        foreach (var repository in plan.Repositories)
        {
            writer.WriteLine(string.Create(inv, $"  {repository.Repository}: {repository.Retained:N0} retained, {repository.Deleted:N0} deleted of {repository.Total:N0} candidate(s); {repository.ArtifactsDeleted:N0} artifact(s) {(result.DryRun ? "to delete" : "planned for deletion")} with their accessories and children"));
            if (!list)
            {
                continue;
            }

            foreach (var a in repository.Artifacts)
            {
                var tags = a.Tags.IsEmpty ? "untagged" : string.Join(",", a.Tags);
                writer.WriteLine($"    {(a.Outcome == RetentionOutcome.Retained ? "RETAIN" : "DEL   ")} {Short(a.Digest)} {tags}: {Why(a, plan)}");
            }
        }

        foreach (var repository in plan.Untouched)
        {
            writer.WriteLine($"  {repository}: untouched (no enabled rule selects it)");
        }

        if (!list)
        {
            writer.WriteLine(string.Create(inv, $"  ({plan.ArtifactCount:N0} artifacts: the list of each is in the JSON report, --report-json)"));
        }

        writer.WriteLine(string.Create(inv, $"  in all: {plan.Retained:N0} retained, {plan.Deleted:N0} deleted of {plan.Total:N0} candidate(s); {plan.ArtifactsToDelete:N0} artifact(s) {(result.DryRun ? "to delete" : "planned for deletion")} of {plan.ArtifactCount:N0}"));
        if (result.Execution is { } execution)
        {
            writer.WriteLine(string.Create(inv, $"  deleted {execution.Deleted.Length:N0} artifact(s){(execution.AlreadyGone.IsEmpty ? string.Empty : string.Create(inv, $" ({execution.AlreadyGone.Length:N0} were already gone)"))}"));
            foreach (var skipped in execution.Skipped)
            {
                writer.WriteLine($"  kept {skipped.Key}: {skipped.Detail}");
            }

            if (execution.Stopped)
            {
                writer.WriteLine($"  {DescribeStop(result)}");
            }
        }

        writer.WriteLine("  blobs are not deleted by retention: the next GC run frees those only the deleted artifacts referenced");
    }

    /// <summary>
    /// How a stopped run stopped, why, and what that left: <c>stopped (SIGTERM) while deleting, after the artifact in hand: the
    /// deletions above were made, the rest of the plan is left for the next run</c>, or, before the plan, <c>… while reading the store
    /// and evaluating the policy, before the plan was made: nothing was deleted</c>.
    /// </summary>
    /// <param name="result">The run.</param>
    /// <returns>The text; empty when the run did not stop.</returns>
    public static string DescribeStop(RetentionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.StopReasonName is not { } why ? string.Empty
            : !result.Planned ? $"stopped ({why}) while reading the store and evaluating the policy, before the plan was made: nothing was deleted"
            : $"stopped ({why}) while deleting, after the artifact in hand: the deletions above were made, the rest of the plan is left for the next run";
    }

    /// <summary>A rule as the summary and the report write it, such as <c>latestPushedK(3), repositories matching **, tags matching ** (untagged included)</c>.</summary>
    /// <param name="rule">The rule.</param>
    /// <returns>The text.</returns>
    public static string Describe(RetentionRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var repositories = rule.Repositories.Decoration == SelectorDecoration.Matches ? "matching" : "excluding";
        var tags = rule.Tags.Decoration == SelectorDecoration.Matches ? "matching" : "excluding";
        var untaggedInScope = rule.Tags.Decoration == SelectorDecoration.Matches ? rule.Tags.Untagged : !rule.Tags.Untagged;
        return $"{rule}, repositories {repositories} {rule.Repositories.Pattern}, tags {tags} {rule.Tags.Pattern} (untagged {(untaggedInScope ? "included" : "left out")}){(rule.Disabled ? ", disabled" : string.Empty)}";
    }

    /// <summary>A digest as the artifact lines show it: the algorithm and 12 hex digits.</summary>
    private static string Short(Model.Digest? digest) => digest?.ToString() is { } text ? text[..Math.Min(text.Length, text.IndexOf(':', StringComparison.Ordinal) + 13)] : "?";

    private static string Why(ArtifactRetention a, RetentionPlan plan) => Describe(a, plan.Policy, Short);

    /// <summary>
    /// Why an artifact is retained or deleted, in words: the console's line and the HTML report's row (after the reason's name) say
    /// the same, each writing digests its own way (the console shortens them, the page keeps them whole).
    /// </summary>
    internal static string Describe(ArtifactRetention a, RetentionPolicy policy, Func<Model.Digest?, string> digest) => a.Reason switch
    {
        RetentionReason.RetainedByRule => "retained by " + string.Join(", ", a.RetainedBy.Select(i => string.Create(CultureInfo.InvariantCulture, $"rule {i + 1} ({policy.Rules[i]})"))),
        RetentionReason.Immutable => a.Cause is { } subject ? $"follows the immutable {digest(subject)} ({a.ImmutableBy})" : $"immutable ({a.ImmutableBy})",
        RetentionReason.AccessoryOfRetained => $"accessory of the retained {digest(a.Cause)}",
        RetentionReason.ChildKept => $"child of the kept index {digest(a.Cause)}",
        RetentionReason.OrphanAccessory => "orphan accessory (its subject is gone): left to GC",
        RetentionReason.NotRetained => a.Cause is { } index ? $"no rule retains it and its index {digest(index)} goes" : "no rule retains it",
        RetentionReason.AccessoryOfDeleted => $"accessory of the deleted {digest(a.Cause)}",
        RetentionReason.ChildOfDeleted => $"untagged child of the deleted index {digest(a.Cause)}",
        _ => RetentionReportWriter.ReasonName(a.Reason),
    };
}
