using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>What a GC run did.</summary>
public sealed class GcResult
{
    /// <summary>
    /// The plan the run executed (or, for a dry run, printed). When a saved plan was applied (<see cref="AppliedPlan"/>), the
    /// items of the plan made at the start of the run that the saved plan also lists, unchanged.
    /// </summary>
    public required CollectionPlan Plan { get; init; }

    /// <summary>
    /// The saved plan this run applied (<see cref="GarbageCollector.ExecuteAsync"/>), as given; <see langword="null"/> for a run that
    /// made its own plan.
    /// </summary>
    public CollectionPlan? AppliedPlan { get; init; }

    /// <summary>Whether nothing was deleted on purpose.</summary>
    public required bool DryRun { get; init; }

    /// <summary>When the run started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When the run finished.</summary>
    public required DateTimeOffset FinishedAt { get; init; }

    /// <summary>Completed or stopped.</summary>
    public required GcOutcome Outcome { get; init; }

    /// <summary>Why it stopped, when it did.</summary>
    public GcStopReason StopReason { get; init; }

    /// <summary>Artifacts deleted.</summary>
    public int ArtifactsDeleted { get; init; }

    /// <summary>
    /// Artifacts kept because they changed since the plan (tagged, pushed again, listed by a new index), and when a saved plan was
    /// applied, those it lists that are live now or go with a kept one.
    /// </summary>
    public IReadOnlyList<ArtifactKey> ArtifactsSkipped { get; init; } = [];

    /// <summary>Blobs deleted.</summary>
    public int BlobsDeleted { get; init; }

    /// <summary>
    /// Blobs kept because a re-check found them referenced or touched since the plan, and when a saved plan was applied, those it
    /// lists that are live now.
    /// </summary>
    public IReadOnlyList<Digest> BlobsSkipped { get; init; } = [];

    /// <summary>Blobs whose deletion failed (left in <see cref="BlobStatus.DeleteFailed"/> for the next run), with the error.</summary>
    public IReadOnlyList<(Digest Digest, string Error)> BlobsFailed { get; init; } = [];

    /// <summary>Bytes freed by the deleted blobs.</summary>
    public long BytesFreed { get; init; }

    /// <summary>How many deletions ran at once.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Layer links removed.</summary>
    public int LayerLinksDeleted { get; init; }

    /// <summary>
    /// Layer links kept because a re-check found them written again or used since the plan, and when a saved plan was applied,
    /// those it lists that are live now (as the saved plan listed them).
    /// </summary>
    public IReadOnlyList<LayerLink> LayerLinksSkipped { get; init; } = [];

    /// <summary>Stale unfinished uploads removed.</summary>
    public int UploadsDeleted { get; init; }

    /// <summary>Bytes freed by the removed uploads (not part of <see cref="BytesFreed"/>, which counts blobs only).</summary>
    public long UploadBytesFreed { get; init; }

    /// <summary>
    /// Uploads kept because they changed since the plan (they received bytes), and when a saved plan was applied, those it lists
    /// that are live now.
    /// </summary>
    public IReadOnlyList<BlobUpload> UploadsSkipped { get; init; } = [];

    /// <summary>Uploads whose deletion failed (left for the next run), with the error.</summary>
    public IReadOnlyList<(BlobUpload Upload, string Error)> UploadsFailed { get; init; } = [];
}
