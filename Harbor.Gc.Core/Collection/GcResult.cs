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

    /// <summary>
    /// The phase it stopped in: null when it completed; <see cref="GcPhase.Sweeping"/> or <see cref="GcPhase.Settling"/> when it
    /// stopped during the sweep (the counts say what was done); an earlier phase when it stopped before its plan was made: then <see cref="Plan"/> is empty and nothing
    /// was deleted.
    /// </summary>
    public GcPhase? StoppedWhile { get; init; }

    /// <summary>Whether the plan was made: false only for a run stopped before (see <see cref="StoppedWhile"/>).</summary>
    public bool Planned => StoppedWhile is null or GcPhase.Sweeping or GcPhase.Settling;

    /// <summary>
    /// What stopped it, in the words of the caller that cancelled it (the command line names the signal: <c>SIGTERM</c>); null
    /// when unnamed. The reports give it as the stop reason. Set with <see cref="WithStoppedBy"/>.
    /// </summary>
    public string? StoppedBy { get; private set; }

    /// <summary>Why it stopped, for reports: <see cref="StoppedBy"/>, else <c>cancelled</c> or <c>max-duration</c>; null when it completed.</summary>
    public string? StopReasonName => Outcome == GcOutcome.Completed ? null
        : StopReason == GcStopReason.MaxDuration ? "max-duration"
        : StoppedBy ?? "cancelled";

    /// <summary>A copy of this result that names what cancelled it; this result itself when it was not cancelled.</summary>
    /// <param name="stoppedBy">The name, such as <c>SIGTERM</c>; null leaves it unnamed.</param>
    /// <returns>The result.</returns>
    public GcResult WithStoppedBy(string? stoppedBy)
    {
        if (StopReason != GcStopReason.Cancelled || stoppedBy is null)
        {
            return this;
        }

        var copy = (GcResult)MemberwiseClone();
        copy.StoppedBy = stoppedBy;
        return copy;
    }

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

    /// <summary>Artifacts whose deletion failed or was refused (a path through a symbolic link, a file that cannot be removed), with the error; they and what goes with them are kept.</summary>
    public IReadOnlyList<(ArtifactKey Key, string Error)> ArtifactsFailed { get; init; } = [];

    /// <summary>Layer links whose deletion failed or was refused, with the error.</summary>
    public IReadOnlyList<(LayerLink Link, string Error)> LayerLinksFailed { get; init; } = [];

    /// <summary>
    /// Items an interrupted run had left out of the registry's sight (the Distribution layout's quarantine) that this run put back
    /// before it read the store.
    /// </summary>
    public int Recovered { get; private set; }

    /// <summary>How many deletions failed, of every kind (the CLI's exit code is 1 when any did).</summary>
    public int FailureCount => ArtifactsFailed.Count + BlobsFailed.Count + LayerLinksFailed.Count + UploadsFailed.Count;

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

    /// <summary>This result, saying that <paramref name="recovered"/> items of an interrupted run were put back first.</summary>
    internal GcResult WithRecovered(int recovered)
    {
        var copy = (GcResult)MemberwiseClone();
        copy.Recovered = recovered;
        return copy;
    }
}
