using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A store whose deletions during a real run are first made invisible and become final only when the run settles (the Distribution
/// layout's quarantine, DESIGN.md §5): <see cref="IRegistryStore.DeleteArtifactAsync"/>, <see cref="IRegistryStore.DeleteBlobContentAsync"/>
/// and <see cref="IRegistryStore.DeleteLayerLinkAsync"/> move the item out of the registry's sight; <see cref="SettleAsync"/> waits,
/// re-checks, puts back what is needed and deletes the rest.
/// </summary>
internal interface IDeferredSweepStore
{
    /// <summary>How long settling waits before it re-checks.</summary>
    TimeSpan GracePeriod { get; }

    /// <summary>
    /// Begins a real run: takes the store's run lock, then puts back whatever an interrupted run left out of sight, so the snapshot
    /// that follows sees the store whole.
    /// </summary>
    /// <returns>How many items of an interrupted run were put back.</returns>
    /// <exception cref="InvalidDataException">Another run holds the lock; nothing was changed.</exception>
    int BeginSweep();

    /// <summary>
    /// Waits out <see cref="GracePeriod"/> from the last item made invisible, re-reads the store, puts back every item something now
    /// needs and deletes the others (in the crash-safe order: tags, revisions, layer links, blobs). Stopped (by
    /// <paramref name="cancellationToken"/>) before it ends, it puts back everything it has not deleted.
    /// </summary>
    Task<SweepSettlement> SettleAsync(ISweepObserver observer, IProgress<GcProgress>? progress, CancellationToken cancellationToken);

    /// <summary>Puts back everything this run made invisible and has not deleted (a run that stopped or failed before settling).</summary>
    /// <returns>How many items were put back.</returns>
    int Abandon();

    /// <summary>Ends the real run: releases the lock.</summary>
    void EndSweep();
}

/// <summary>Told of each deletion as settling makes it (for the metrics, which count deletions as they happen).</summary>
internal interface ISweepObserver
{
    void ArtifactDeleted(ArtifactKey key);

    void BlobDeleted(Digest digest);

    void LayerLinkDeleted(LayerLink link);
}

/// <summary>What settling did.</summary>
internal sealed record SweepSettlement
{
    public IReadOnlyList<ArtifactKey> DeletedArtifacts { get; init; } = [];

    public IReadOnlyList<Digest> DeletedBlobs { get; init; } = [];

    public int DeletedLayerLinks { get; init; }

    /// <summary>Artifacts put back: something needed them again after the grace period (tagged, listed by an index, pushed again).</summary>
    public IReadOnlyList<ArtifactKey> RestoredArtifacts { get; init; } = [];

    /// <summary>Blobs put back: a revision now references them, or a layer link to them was written.</summary>
    public IReadOnlyList<Digest> RestoredBlobs { get; init; } = [];

    /// <summary>Layer links put back: a revision of their repository uses them, or they were written again.</summary>
    public IReadOnlyList<LayerLink> RestoredLayerLinks { get; init; } = [];

    /// <summary>Artifacts (their revision, tags or history) whose deletion failed or was refused, with the error (left out of sight; the next real run puts them back).</summary>
    public IReadOnlyList<(ArtifactKey Key, string Error)> FailedArtifacts { get; init; } = [];

    /// <summary>Blobs whose deletion failed or was refused, with the error.</summary>
    public IReadOnlyList<(Digest Digest, string Error)> FailedBlobs { get; init; } = [];

    /// <summary>Layer links whose deletion failed or was refused, with the error.</summary>
    public IReadOnlyList<(LayerLink Link, string Error)> FailedLayerLinks { get; init; } = [];

    /// <summary>Whether settling stopped before the end (everything not yet deleted was put back).</summary>
    public bool Stopped { get; init; }
}
