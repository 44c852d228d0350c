using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>What a GC run did.</summary>
public sealed class GcResult
{
    /// <summary>The plan the run executed (or, for a dry run, printed).</summary>
    public required CollectionPlan Plan { get; init; }

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

    /// <summary>Artifacts kept because they changed since the plan (tagged, pushed again, listed by a new index).</summary>
    public IReadOnlyList<ArtifactKey> ArtifactsSkipped { get; init; } = [];

    /// <summary>Blobs deleted.</summary>
    public int BlobsDeleted { get; init; }

    /// <summary>Blobs kept because a re-check found them referenced or touched since the plan.</summary>
    public IReadOnlyList<Digest> BlobsSkipped { get; init; } = [];

    /// <summary>Blobs whose deletion failed (left in <see cref="BlobStatus.DeleteFailed"/> for the next run), with the error.</summary>
    public IReadOnlyList<(Digest Digest, string Error)> BlobsFailed { get; init; } = [];

    /// <summary>Artifacts whose deletion failed or was refused (a path through a symbolic link, a file that cannot be removed), with the error; they and what goes with them are kept.</summary>
    public IReadOnlyList<(ArtifactKey Key, string Error)> ArtifactsFailed { get; init; } = [];

    /// <summary>Layer links whose deletion failed or was refused, with the error.</summary>
    public IReadOnlyList<(LayerLink Link, string Error)> LayerLinksFailed { get; init; } = [];

    /// <summary>
    /// Items an interrupted run had left out of the registry's sight (the Distribution layout's quarantine) that this run put back
    /// before it read the store.
    /// </summary>
    public int Recovered { get; init; }

    /// <summary>How many deletions failed, of every kind (the CLI's exit code is 1 when any did).</summary>
    public int FailureCount => ArtifactsFailed.Count + BlobsFailed.Count + LayerLinksFailed.Count + UploadsFailed.Count;

    /// <summary>Bytes freed by the deleted blobs.</summary>
    public long BytesFreed { get; init; }

    /// <summary>How many deletions ran at once.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Layer links removed.</summary>
    public int LayerLinksDeleted { get; init; }

    /// <summary>Stale unfinished uploads removed.</summary>
    public int UploadsDeleted { get; init; }

    /// <summary>Bytes freed by the removed uploads (not part of <see cref="BytesFreed"/>, which counts blobs only).</summary>
    public long UploadBytesFreed { get; init; }

    /// <summary>Uploads kept because they changed since the plan (they received bytes).</summary>
    public IReadOnlyList<BlobUpload> UploadsSkipped { get; init; } = [];

    /// <summary>Uploads whose deletion failed (left for the next run), with the error.</summary>
    public IReadOnlyList<(BlobUpload Upload, string Error)> UploadsFailed { get; init; } = [];

    /// <summary>This result, saying that <paramref name="recovered"/> items of an interrupted run were put back first.</summary>
    internal GcResult WithRecovered(int recovered) => new()
    {
        Plan = Plan,
        DryRun = DryRun,
        StartedAt = StartedAt,
        FinishedAt = FinishedAt,
        Outcome = Outcome,
        StopReason = StopReason,
        ArtifactsDeleted = ArtifactsDeleted,
        ArtifactsSkipped = ArtifactsSkipped,
        ArtifactsFailed = ArtifactsFailed,
        BlobsDeleted = BlobsDeleted,
        BlobsSkipped = BlobsSkipped,
        BlobsFailed = BlobsFailed,
        BytesFreed = BytesFreed,
        Workers = Workers,
        LayerLinksDeleted = LayerLinksDeleted,
        LayerLinksFailed = LayerLinksFailed,
        UploadsDeleted = UploadsDeleted,
        UploadBytesFreed = UploadBytesFreed,
        UploadsSkipped = UploadsSkipped,
        UploadsFailed = UploadsFailed,
        Recovered = recovered,
    };
}
