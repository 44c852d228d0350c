using System.Collections.Immutable;
using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Reporting;

/// <summary>
/// What the HTML report shows, independent of the kind of run: a summary, a bar chart of bytes per repository, artifacts with
/// their accessories nested under them, blobs and warnings. <see cref="FromGc"/> builds it for a GC run, <see cref="FromRetention"/>
/// for a retention run (its retained and deleted artifacts: <see cref="ReportArtifact.Status"/> and the rule in
/// <see cref="ReportArtifact.Why"/>); both render with the same <see cref="HtmlReportWriter"/>.
/// </summary>
public sealed record HtmlReport
{
    /// <summary>The page title and heading: <c>GC dry run on distribution:/srv/registry</c>.</summary>
    public required string Title { get; init; }

    /// <summary>The summary table, in order.</summary>
    public required IReadOnlyList<ReportField> Summary { get; init; }

    /// <summary>The chart's heading.</summary>
    public required string ChartTitle { get; init; }

    /// <summary>How the chart's figures are counted (shown under it).</summary>
    public string ChartNote { get; init; } = string.Empty;

    /// <summary>What the bars measure: bytes (GC) or a count of artifacts (retention).</summary>
    public ChartUnit ChartUnit { get; init; } = ChartUnit.Bytes;

    /// <summary>The chart's bars: one per repository, largest first.</summary>
    public required IReadOnlyList<ReportBar> Bars { get; init; }

    /// <summary>The artifacts table's heading.</summary>
    public required string ArtifactsTitle { get; init; }

    /// <summary>Top-level artifacts; each one's accessories are nested in <see cref="ReportArtifact.Accessories"/>.</summary>
    public required IReadOnlyList<ReportArtifact> Artifacts { get; init; }

    /// <summary>
    /// The artifacts grouped per repository (each group collapsible on the page), with the group's own figures; empty to show
    /// <see cref="Artifacts"/> ungrouped.
    /// </summary>
    public IReadOnlyList<ReportGroup> Groups { get; init; } = [];

    /// <summary>Whether the artifacts table has a status column (a GC run collects every artifact it lists: it has none).</summary>
    public bool ShowStatus { get; init; } = true;

    /// <summary>Blobs whose bytes go; empty when the run deletes no blobs itself.</summary>
    public IReadOnlyList<ReportBlob> Blobs { get; init; } = [];

    /// <summary>Whether the blobs table has an outcome column (a real run: <see cref="ReportBlob.Outcome"/>).</summary>
    public bool ShowBlobOutcomes { get; init; }

    /// <summary>Per repository counts of a retention run (total, retained, deleted); empty for GC.</summary>
    public IReadOnlyList<ReportRepository> Repositories { get; init; } = [];

    /// <summary>Whether the page has a blobs section (a retention run deletes no blobs: it has none).</summary>
    public bool ShowBlobs { get; init; } = true;

    /// <summary>Warnings, as <c>location: message</c>.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>For a plan of a Harbor installation: one line per kind of difference from Harbor's own GC (totals); empty otherwise.</summary>
    public IReadOnlyList<string> HarborTotals { get; init; } = [];

    /// <summary>For a plan of a Harbor installation: each difference from Harbor's own GC, as <c>item: what Harbor does and why</c>.</summary>
    public IReadOnlyList<string> DiffersFromHarbor { get; init; } = [];

    /// <summary>The report of a GC run, dry or real.</summary>
    /// <param name="result">The run.</param>
    /// <returns>The report.</returns>
    /// <remarks>
    /// Bytes per repository: each blob's whole size counts in every repository whose collected artifacts reference it
    /// (<see cref="PlannedBlob.Repositories"/>), so a blob shared by two dead repositories counts in both and the bars may add
    /// up to more than the total; blobs no collected artifact references are one bar of their own. A completed real run leaves
    /// out the blobs kept after the re-check and those whose deletion failed; a dry run or a stopped run shows the plan.
    /// </remarks>
    public static HtmlReport FromGc(GcResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var plan = result.Plan;
        var summary = plan.Summary;
        var inv = CultureInfo.InvariantCulture;
        var fields = new List<ReportField>
        {
            new("run", "Run", result.DryRun ? "dry run (nothing deleted)" : "real run"),
            new("store", "Store", plan.Store),
            new("startedAt", "Started", GcReportWriter.Time(result.StartedAt)),
            new("finishedAt", "Finished", GcReportWriter.Time(result.FinishedAt)),
            new("outcome", "Outcome", result.Outcome == GcOutcome.Completed ? "completed" : ConsoleSummary.DescribeStop(result)),
            new("options", "Options", string.Create(inv, $"delete untagged: {(plan.DeleteUntagged ? "yes" : "no")}, time window: {Duration.Format(plan.TimeWindow)}, workers: {result.Workers}")),
            ReportField.Count("artifacts", "Artifacts eligible", summary.Artifacts),
            ReportField.Count("manifests", "Manifests eligible", summary.Manifests),
            ReportField.Count("blobs", "Blobs eligible", summary.Blobs),
            ReportField.Bytes("bytes", "Blob bytes eligible", summary.Bytes),
            ReportField.Count("uploads", "Stale uploads", summary.Uploads),
            ReportField.Bytes("uploadBytes", "Stale upload bytes", summary.UploadBytes),
            ReportField.Count("warnings", "Warnings", plan.Warnings.Count),
        };
        if (result.AppliedPlan is { } applied)
        {
            fields.Add(new("appliedPlan", "Applied plan", string.Create(inv,
                $"made at {GcReportWriter.Time(applied.CreatedAt)} ({applied.Artifacts.Count:N0} artifacts, {applied.Blobs.Count:N0} blobs): only what this run's plan also finds garbage, unchanged")));
        }

        if (!result.DryRun)
        {
            fields.Add(ReportField.Count("artifactsDeleted", "Artifacts deleted", result.ArtifactsDeleted));
            fields.Add(ReportField.Count("blobsDeleted", "Blobs deleted", result.BlobsDeleted));
            fields.Add(ReportField.Bytes("bytesFreed", "Blob bytes freed", result.BytesFreed));
            fields.Add(ReportField.Count("uploadsDeleted", "Stale uploads removed", result.UploadsDeleted));
            fields.Add(ReportField.Count("kept", "Kept after re-check", result.ArtifactsSkipped.Count + result.BlobsSkipped.Count + result.LayerLinksSkipped.Count + result.UploadsSkipped.Count));
            fields.Add(ReportField.Count("failed", "Failed (retried next run)", result.FailureCount));
        }

        var freed = !result.DryRun && result.Outcome == GcOutcome.Completed;
        var artifacts = Nest(plan.Artifacts);
        return new HtmlReport
        {
            Title = $"GC {(result.DryRun ? "dry run" : "run")} on {plan.Store}",
            Summary = fields,
            ChartTitle = freed ? "Bytes freed per repository" : "Bytes eligible per repository",
            ChartNote = "A blob counts with its whole size in every repository whose collected artifacts reference it, so a blob shared "
                + "by several repositories counts in each and the bars can add up to more than the total. "
                + (freed ? "Blobs kept after the re-check or whose deletion failed are left out."
                    : result.DryRun ? "A dry run shows the plan." : "The run stopped: this is the plan, not all of it was deleted."),
            Bars = BytesPerRepository(result),
            ArtifactsTitle = "Collected artifacts",
            Artifacts = artifacts,
            Groups = GcGroups(plan, artifacts),
            ShowStatus = false,
            Blobs = BlobsOf(result),
            ShowBlobOutcomes = !result.DryRun,
            Warnings = [.. plan.Warnings.Select(w => w.ToString())],
            HarborTotals = [.. (plan.DiffersFromHarbor ?? []).Totals().Select(t => $"{t.Kind.ToReportName()}: {t.Describe(plan.TimeWindow)}")],
            DiffersFromHarbor = [.. (plan.DiffersFromHarbor ?? []).Select(d => d.ToString())],
        };
    }

    /// <summary>The report of a retention run, dry or real.</summary>
    /// <param name="result">The run.</param>
    /// <returns>The report.</returns>
    /// <remarks>
    /// The numbers are those of the JSON report (<see cref="RetentionReportWriter"/>): total, retained and deleted in all and per
    /// repository. Retention frees no bytes itself (the next GC run frees the blobs only the deleted artifacts referenced), so the
    /// chart counts deleted artifacts per repository and <see cref="ReportBar.Bytes"/> holds that count. A hard accessory is nested
    /// under the artifact it follows (<see cref="ArtifactRetention.Cause"/>); one kept because its chain's root is immutable is
    /// nested under that root.
    /// </remarks>
    public static HtmlReport FromRetention(RetentionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var plan = result.Plan;
        var policy = plan.Policy;
        var fields = new List<ReportField>
        {
            new("run", "Run", result.DryRun ? "dry run (nothing deleted)" : "real run"),
            new("store", "Store", result.Store),
            new("startedAt", "Started", GcReportWriter.Time(result.StartedAt)),
            new("finishedAt", "Finished", GcReportWriter.Time(result.FinishedAt)),
            new("project", "Policy project", policy.Project),
            new("schedule", "Policy schedule", policy.Schedule ?? "none"),
        };
        for (var i = 0; i < policy.Rules.Length; i++)
        {
            fields.Add(new(string.Create(CultureInfo.InvariantCulture, $"rule{i + 1}"), string.Create(CultureInfo.InvariantCulture, $"Rule {i + 1}"), RetentionConsoleSummary.Describe(policy.Rules[i])));
        }

        fields.Add(ReportField.Count("total", "Candidates", plan.Total));
        fields.Add(ReportField.Count("retained", "Candidates retained", plan.Retained));
        fields.Add(ReportField.Count("deleted", result.DryRun ? "Candidates to delete" : "Candidates planned for deletion", plan.Deleted));
        fields.Add(ReportField.Count("artifacts", "Artifacts (accessories and index children included)", plan.ArtifactCount));
        fields.Add(ReportField.Count("artifactsToDelete", result.DryRun ? "Artifacts to delete" : "Artifacts planned for deletion", plan.ArtifactsToDelete));
        fields.Add(ReportField.Count("repositories", "Repositories selected", plan.Repositories.Length));
        fields.Add(ReportField.Count("untouched", "Repositories untouched (no enabled rule selects them)", plan.Untouched.Length));
        if (result.Execution is { } execution)
        {
            fields.Add(ReportField.Count("artifactsDeleted", "Artifacts deleted", execution.Deleted.Length));
            fields.Add(ReportField.Count("alreadyGone", "Already gone", execution.AlreadyGone.Length));
            fields.Add(ReportField.Count("skipped", "Kept by the executor", execution.Skipped.Length));
            fields.Add(new("outcome", "Outcome", execution.Stopped ? RetentionConsoleSummary.DescribeStop(result) : "completed"));
        }
        else if (!result.Planned)
        {
            fields.Add(new("outcome", "Outcome", RetentionConsoleSummary.DescribeStop(result)));
        }

        fields.Add(ReportField.Count("warnings", "Warnings", result.Warnings.Length));

        var inv = CultureInfo.InvariantCulture;
        List<ReportGroup> groups = [.. plan.Repositories.Select(r => new ReportGroup(
            r.Repository.Value,
            string.Create(inv, $"{r.Total:N0} candidates: {r.Retained:N0} retained, {r.Deleted:N0} deleted; {r.ArtifactsDeleted:N0} of {r.Artifacts.Length:N0} artifacts deleted with accessories and children, {HtmlReportWriter.Size(r.Artifacts.Where(a => a.Outcome == RetentionOutcome.Deleted).Sum(a => a.Size))} of manifests deleted"),
            Nest(r, plan.Policy))
        {
            Values = [new("total", r.Total), new("retained", r.Retained), new("deleted", r.Deleted)],
        })];

        return new HtmlReport
        {
            Title = $"Retention {(result.DryRun ? "dry run" : "run")} on {result.Store}",
            Summary = fields,
            ChartTitle = "Artifacts deleted per repository",
            ChartNote = "Retention frees no bytes itself: it deletes artifacts, and the next GC run frees the blobs only they referenced. "
                + "The bars count the artifacts the plan deletes in each repository"
                + (result.DryRun ? " (a dry run: nothing was deleted)." : "."),
            ChartUnit = ChartUnit.Count,
            Bars = [.. plan.Repositories.Where(r => r.ArtifactsDeleted > 0)
                .OrderByDescending(r => r.ArtifactsDeleted).ThenBy(r => r.Repository.Value, StringComparer.Ordinal)
                .Select(r => new ReportBar(r.Repository.Value, r.ArtifactsDeleted))],
            ArtifactsTitle = "Retained and deleted artifacts",
            Artifacts = [.. groups.SelectMany(g => g.Artifacts)],
            Groups = groups,
            Repositories = [.. plan.Repositories.Select(r => new ReportRepository(r.Repository.Value, r.Total, r.Retained, r.Deleted))],
            ShowBlobs = false,
            Warnings = result.Warnings,
        };
    }

    /// <summary>One repository's decisions, each hard accessory nested under the artifact it follows.</summary>
    private static List<ReportArtifact> Nest(RepositoryRetention repository, RetentionPolicy policy)
    {
        static bool IsAccessory(ArtifactRetention a) => a.Cause is not null
            && a.Reason is RetentionReason.AccessoryOfRetained or RetentionReason.AccessoryOfDeleted or RetentionReason.Immutable;
        static bool IsChild(ArtifactRetention a) => a.Cause is not null && a.Reason is RetentionReason.ChildKept or RetentionReason.ChildOfDeleted;
        static bool Follows(ArtifactRetention a) => IsAccessory(a) || IsChild(a);
        var digests = repository.Artifacts.Select(a => a.Digest).ToHashSet();
        var bySubject = repository.Artifacts.Where(a => Follows(a) && digests.Contains(a.Cause!.Value)).ToLookup(a => a.Cause!.Value);
        var nested = new HashSet<Model.Digest>();
        ReportArtifact Row(ArtifactRetention a)
        {
            nested.Add(a.Digest);
            return new ReportArtifact(
                repository.Repository.Value,
                a.Digest.ToString(),
                a.Tags,
                a.Outcome == RetentionOutcome.Retained ? "retained" : "deleted",
                Why(a, policy),
                a.AccessoryType ?? (IsAccessory(a) || a.Reason == RetentionReason.OrphanAccessory ? "accessory" : a.Reason is RetentionReason.ChildKept or RetentionReason.ChildOfDeleted ? "index child" : "artifact"))
            {
                Size = a.Size,
                Accessories = [.. bySubject[a.Digest].Where(x => IsAccessory(x) && !nested.Contains(x.Digest)).Select(Row)],
                Children = [.. bySubject[a.Digest].Where(x => IsChild(x) && !nested.Contains(x.Digest)).Select(Row)],
            };
        }

        return [.. repository.Artifacts.Where(a => !Follows(a) || !digests.Contains(a.Cause!.Value)).Select(Row)];
    }

    /// <summary>
    /// The JSON report's reason name, then why in the console's words with whole digests: <c>retained-by-rule: retained by rule 1
    /// (latestPushedK(1))</c>, <c>not-retained: no rule retains it and its index sha256:… goes</c>.
    /// </summary>
    private static string Why(ArtifactRetention a, RetentionPolicy policy) =>
        RetentionReportWriter.ReasonName(a.Reason) + ": " + RetentionConsoleSummary.Describe(a, policy, d => d?.ToString() ?? "?");

    /// <summary>The label of the bar for blobs no collected artifact references.</summary>
    public const string UnreferencedLabel = "(no collected artifact)";

    /// <summary>Bytes per repository of a GC run, as <see cref="FromGc"/> counts them (see its remarks), largest first.</summary>
    /// <param name="result">The run.</param>
    /// <returns>One bar per repository.</returns>
    public static IReadOnlyList<ReportBar> BytesPerRepository(GcResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var leftOut = !result.DryRun && result.Outcome == GcOutcome.Completed
            ? result.BlobsSkipped.Concat(result.BlobsFailed.Select(f => f.Digest)).ToHashSet()
            : [];
        var bytes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var blob in result.Plan.Blobs.Where(b => !leftOut.Contains(b.Digest)))
        {
            foreach (var repository in blob.Repositories.IsEmpty ? [UnreferencedLabel] : blob.Repositories.Select(r => r.Value))
            {
                bytes[repository] = bytes.GetValueOrDefault(repository) + blob.Size;
            }
        }

        return [.. bytes.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => new ReportBar(p.Key, p.Value))];
    }

    /// <summary>The blobs of a GC run, each with its outcome on a real run (see <see cref="ReportBlob.Outcome"/>).</summary>
    private static List<ReportBlob> BlobsOf(GcResult result)
    {
        var kept = result.BlobsSkipped.ToHashSet();
        var failed = result.BlobsFailed.GroupBy(f => f.Digest).ToDictionary(g => g.Key, g => g.First().Error);
        var completed = result.Outcome == GcOutcome.Completed;
        return [.. result.Plan.Blobs.Select(b => new ReportBlob(b.Digest.ToString(), b.Size, [.. b.Repositories.Select(r => r.Value)])
        {
            Outcome = result.DryRun ? null
                : failed.ContainsKey(b.Digest) ? ReportBlob.Failed
                : kept.Contains(b.Digest) ? ReportBlob.Kept
                : completed ? ReportBlob.Deleted : ReportBlob.NotKnown,
            Error = failed.GetValueOrDefault(b.Digest),
        })];
    }

    /// <summary>
    /// One group per repository with collected artifacts, the largest first: its artifacts (nested ones included), and the
    /// plan's blobs counted in it with their bytes, as the chart counts them.
    /// </summary>
    private static List<ReportGroup> GcGroups(CollectionPlan plan, List<ReportArtifact> artifacts)
    {
        var inv = CultureInfo.InvariantCulture;
        var blobs = new Dictionary<string, (long Count, long Bytes)>(StringComparer.Ordinal);
        foreach (var blob in plan.Blobs)
        {
            foreach (var repository in blob.Repositories)
            {
                var (count, bytes) = blobs.GetValueOrDefault(repository.Value);
                blobs[repository.Value] = (count + 1, bytes + blob.Size);
            }
        }

        static int Count(ReportArtifact a) => 1 + a.Accessories.Sum(Count) + a.Children.Sum(Count);
        return [.. artifacts.GroupBy(a => a.Repository, StringComparer.Ordinal)
            .Select(g => (Repository: g.Key, Artifacts: g.ToList(), Count: g.Sum(Count), Blobs: blobs.GetValueOrDefault(g.Key)))
            .OrderByDescending(g => g.Blobs.Bytes).ThenBy(g => g.Repository, StringComparer.Ordinal)
            .Select(g => new ReportGroup(
                g.Repository,
                string.Create(inv, $"{g.Count:N0} artifacts, {g.Blobs.Count:N0} blobs, {HtmlReportWriter.Size(g.Blobs.Bytes)}"),
                g.Artifacts)
            {
                Values = [new("artifacts", g.Count), new("blobs", g.Blobs.Count), new("bytes", g.Blobs.Bytes)],
            })];
    }

    /// <summary>Nests each collected accessory under its collected subject of the same repository, as Harbor's Accessories table does.</summary>
    private static List<ReportArtifact> Nest(IReadOnlyList<PlannedArtifact> artifacts)
    {
        var planned = artifacts.Select(a => a.Key).ToHashSet();

        // an accessory's parent is its collected subject; another artifact's is the first collected index that lists it
        Model.ArtifactKey? Parent(PlannedArtifact a) => a.Subject is { } s
            ? planned.Contains(new(a.Key.Repository, s)) ? new(a.Key.Repository, s) : null
            : a.DependsOn.Where(k => k != a.Key && k.Repository == a.Key.Repository && planned.Contains(k)).Select(k => (Model.ArtifactKey?)k).FirstOrDefault();
        var parents = artifacts.Select(a => (Artifact: a, Parent: Parent(a))).Where(p => p.Parent is not null).ToList();
        var bySubject = parents.Where(p => p.Artifact.Subject is not null).ToLookup(p => p.Parent!.Value, p => p.Artifact);
        var byIndex = parents.Where(p => p.Artifact.Subject is null).ToLookup(p => p.Parent!.Value, p => p.Artifact);
        var nested = new HashSet<Model.ArtifactKey>();
        ReportArtifact Row(PlannedArtifact a)
        {
            nested.Add(a.Key);
            var type = a.AccessoryType ?? (a.MediaType is Model.MediaTypes.OciIndex or Model.MediaTypes.DockerManifestList ? "index" : "image");
            return new ReportArtifact(a.Key.Repository.Value, a.Key.Digest.ToString(), a.Tags, "collected", a.Reason.ToReportName(), type)
            {
                Size = a.Size,
                Accessories = [.. bySubject[a.Key].Where(x => !nested.Contains(x.Key)).Select(Row)],
                Children = [.. byIndex[a.Key].Where(x => !nested.Contains(x.Key)).OrderBy(x => x.Key.Digest).Select(Row)],
            };
        }

        var top = parents.Select(p => p.Artifact.Key).ToHashSet();
        return [.. artifacts
            .Where(a => !top.Contains(a.Key))
            .OrderBy(a => a.Key.Repository).ThenBy(a => a.Key.Digest)
            .Select(Row)];
    }
}

/// <summary>One line of the summary table.</summary>
/// <param name="Key">A stable name (<c>artifacts</c>, <c>bytes</c>, …), the <c>data-key</c> of the cell.</param>
/// <param name="Label">What people read.</param>
/// <param name="Text">The value as shown.</param>
public sealed record ReportField(string Key, string Label, string Text)
{
    /// <summary>The number behind the text, when it is one (the cell's <c>data-value</c>).</summary>
    public long? Value { get; init; }

    /// <summary>A count, shown as <c>1,234</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="label">The label.</param>
    /// <param name="value">The count.</param>
    /// <returns>The field.</returns>
    public static ReportField Count(string key, string label, long value) => new(key, label, value.ToString("N0", CultureInfo.InvariantCulture)) { Value = value };

    /// <summary>Bytes, shown as <c>1.5 KiB (1,536 bytes)</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="label">The label.</param>
    /// <param name="value">The bytes.</param>
    /// <returns>The field.</returns>
    public static ReportField Bytes(string key, string label, long value) => new(key, label, ConsoleSummary.FormatBytes(value)) { Value = value };
}

/// <summary>What the chart's bars measure.</summary>
public enum ChartUnit
{
    /// <summary>Bytes, shown as <c>1.5 KiB</c>.</summary>
    Bytes,

    /// <summary>A count (of artifacts), shown as <c>1,234</c>.</summary>
    Count,
}

/// <summary>One repository's counts in a retention run.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Total">Its artifacts.</param>
/// <param name="Retained">Those kept.</param>
/// <param name="Deleted">Those deleted.</param>
public sealed record ReportRepository(string Repository, int Total, int Retained, int Deleted);

/// <summary>One bar of the chart.</summary>
/// <param name="Label">The repository.</param>
/// <param name="Bytes">Its bytes, or its count when the chart's unit is <see cref="ChartUnit.Count"/>.</param>
public sealed record ReportBar(string Label, long Bytes);

/// <summary>One artifact row, with its accessories nested under it.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Digest">The manifest digest.</param>
/// <param name="Tags">Its tags.</param>
/// <param name="Status">What the run does with it: <c>collected</c> for GC; <c>retained</c> or <c>deleted</c> for retention.</param>
/// <param name="Why">The reason (GC) or the rule that retained it (retention).</param>
/// <param name="Type">Its accessory type (<c>signature.cosign</c>, …) when it is an accessory, else <c>image</c> or <c>index</c>.</param>
public sealed record ReportArtifact(string Repository, string Digest, ImmutableArray<string> Tags, string Status, string Why, string Type)
{
    /// <summary>Its manifest size in bytes, when known.</summary>
    public long? Size { get; init; }

    /// <summary>Its accessories (signatures, SBOMs, …), each with its own.</summary>
    public IReadOnlyList<ReportArtifact> Accessories { get; init; } = [];

    /// <summary>For an index: the children listed under it (GC: those it lists that the plan collects too; retention: those that follow it).</summary>
    public IReadOnlyList<ReportArtifact> Children { get; init; } = [];
}

/// <summary>One repository's artifacts on the page: a collapsible group.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Text">Its figures as people read them, after its name.</param>
/// <param name="Artifacts">Its top-level artifacts, each with its nested rows.</param>
public sealed record ReportGroup(string Repository, string Text, IReadOnlyList<ReportArtifact> Artifacts)
{
    /// <summary>Its figures for tools (<c>data-</c> attributes of the group): GC <c>artifacts</c>, <c>blobs</c>, <c>bytes</c>; retention <c>total</c>, <c>retained</c>, <c>deleted</c>.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Values { get; init; } = [];
}

/// <summary>One blob whose bytes go.</summary>
/// <param name="Digest">The digest.</param>
/// <param name="Size">Its size.</param>
/// <param name="Repositories">The repositories its bytes are counted in.</param>
public sealed record ReportBlob(string Digest, long Size, ImmutableArray<string> Repositories)
{
    /// <summary>The outcome of a blob the run deleted.</summary>
    public const string Deleted = "deleted";

    /// <summary>The outcome of a blob the re-check kept (it changed since the plan).</summary>
    public const string Kept = "kept after re-check";

    /// <summary>The outcome of a blob whose deletion failed (retried next run).</summary>
    public const string Failed = "failed";

    /// <summary>The outcome of a blob of a stopped run that was neither kept nor failed: deleted, or not reached.</summary>
    public const string NotKnown = "deleted or not reached (run stopped)";

    /// <summary>What a real run did with it (<see cref="Deleted"/>, <see cref="Kept"/>, <see cref="Failed"/>, <see cref="NotKnown"/>); <see langword="null"/> for a dry run.</summary>
    public string? Outcome { get; init; }

    /// <summary>Why its deletion failed.</summary>
    public string? Error { get; init; }
}
