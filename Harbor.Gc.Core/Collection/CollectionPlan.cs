using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>
/// What a GC run deletes: a value. A dry run prints it; a real run executes exactly it, re-checking each item against the live
/// store; a saved plan can be reviewed and applied later (DESIGN.md §2).
/// </summary>
/// <remarks>
/// <see cref="Artifacts"/> is in execution order: an index before its children and a subject before its hard accessories,
/// so a run stopped part-way never leaves an index pointing at a deleted child, and what it leaves behind (an untagged
/// child, an orphan accessory) is garbage the next run collects. Within a stage, artifacts are sorted by repository and
/// digest, so the same store gives the same plan.
/// </remarks>
public sealed class CollectionPlan
{
    /// <summary>The store the plan was made for.</summary>
    public required string Store { get; init; }

    /// <summary>When the snapshot was taken; the time window is measured back from here.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Whether untagged artifacts were collected.</summary>
    public required bool DeleteUntagged { get; init; }

    /// <summary>The time window used.</summary>
    public required TimeSpan TimeWindow { get; init; }

    /// <summary>Artifacts to delete, in execution order.</summary>
    public required IReadOnlyList<PlannedArtifact> Artifacts { get; init; }

    /// <summary>Blobs to delete.</summary>
    public required IReadOnlyList<PlannedBlob> Blobs { get; init; }

    /// <summary>Repository layer links to remove (Distribution layout).</summary>
    public IReadOnlyList<LayerLink> LayerLinks { get; init; } = [];

    /// <summary>
    /// Stale unfinished uploads to remove (Distribution layout): started and last written before the time window, sorted by
    /// repository and id. They do not depend on <see cref="DeleteUntagged"/>, which is about artifacts.
    /// </summary>
    public IReadOnlyList<BlobUpload> Uploads { get; init; } = [];

    /// <summary>What the plan worked around: unknown manifests kept, dangling references, store problems.</summary>
    public IReadOnlyList<PlanWarning> Warnings { get; init; } = [];

    /// <summary>The size of the graph.</summary>
    public GraphStatistics? Statistics { get; init; }

    /// <summary>
    /// For a plan of a run that deletes no artifact and no blob although its time window kept some: how many (the summary says the
    /// window is why nothing is eligible). Null otherwise, and for a plan read from a report.
    /// </summary>
    public TimeWindowKept? KeptByTimeWindow { get; init; }

    /// <summary>
    /// For a plan of a Harbor installation (the <c>harbor:</c> store): where Harbor's own GC, with the same delete-untagged setting, would
    /// decide differently, and why (DESIGN.md §5); empty when it would not. Null for every other store, and for a plan read from a report.
    /// </summary>
    public IReadOnlyList<HarborDifference>? DiffersFromHarbor { get; init; }

    /// <summary>Counts and bytes: given by the planner, or computed once from the lists.</summary>
    public PlanSummary Summary
    {
        get => _summary ??= new(Artifacts.Count, Artifacts.Select(a => a.Key.Digest).Distinct().Count(), Blobs.Count, Blobs.Sum(b => b.Size))
        {
            Uploads = Uploads.Count,
            UploadBytes = Uploads.Sum(u => u.Size),
        };
        init => _summary = value;
    }

    private PlanSummary? _summary;

    /// <summary>This plan with <see cref="KeptByTimeWindow"/> set.</summary>
    internal CollectionPlan WithKeptByTimeWindow(TimeWindowKept kept) => With(kept, DiffersFromHarbor);

    /// <summary>This plan with <see cref="DiffersFromHarbor"/> set.</summary>
    internal CollectionPlan WithDiffersFromHarbor(IReadOnlyList<HarborDifference> differences) => With(KeptByTimeWindow, differences);

    private CollectionPlan With(TimeWindowKept? kept, IReadOnlyList<HarborDifference>? differences) => new()
    {
        Store = Store,
        CreatedAt = CreatedAt,
        DeleteUntagged = DeleteUntagged,
        TimeWindow = TimeWindow,
        Artifacts = Artifacts,
        Blobs = Blobs,
        LayerLinks = LayerLinks,
        Uploads = Uploads,
        Warnings = Warnings,
        Statistics = Statistics,
        Summary = Summary,
        KeptByTimeWindow = kept,
        DiffersFromHarbor = differences,
    };
}
