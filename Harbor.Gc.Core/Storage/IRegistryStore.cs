using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// What GC needs of a registry's storage: a streamed snapshot, and the deletions of a sweep, each re-checked against the live
/// store.
/// </summary>
/// <remarks>
/// Every mutation is idempotent (deleting what is already gone succeeds), and each is one step of the crash-safe order in
/// DESIGN.md §5: a run killed between any two calls leaves only garbage for the next run.
/// </remarks>
public interface IRegistryStore
{
    /// <summary>A short description for reports and logs, such as <c>memory</c> or <c>distribution:/var/lib/registry</c>.</summary>
    string Description { get; }

    /// <summary>Streams every blob, artifact, tag, accessory link, layer link and unfinished upload into <paramref name="sink"/>.</summary>
    /// <param name="sink">The receiver.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>A task that completes when every record was delivered.</returns>
    ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes an artifact, in this order: its tags, its accessory links (as accessory, and soft links as subject), its record.
    /// The deletion is a compare-and-swap on <see cref="Artifact.Version"/>: an artifact that changed since the plan is skipped.
    /// </summary>
    /// <param name="key">The artifact.</param>
    /// <param name="expectedVersion">The version the plan saw.</param>
    /// <param name="cancellationToken">Cancels before the deletion starts.</param>
    /// <returns>What happened.</returns>
    ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default);

    /// <summary>Reads a blob record.</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The record, or <see langword="null"/> when there is none.</returns>
    ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves a blob from one of <paramref name="expected"/> to <paramref name="next"/> by compare-and-swap, and only when it was
    /// not touched after <paramref name="lastTouchedAt"/> (when given).
    /// </summary>
    /// <param name="digest">The blob.</param>
    /// <param name="expected">The states the blob may be in.</param>
    /// <param name="next">The state to set.</param>
    /// <param name="lastTouchedAt">The <see cref="Blob.LastTouchedAt"/> the plan saw, or <see langword="null"/> to skip that check.</param>
    /// <param name="cancellationToken">Cancels the update.</param>
    /// <returns>Whether the state was changed.</returns>
    ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default);

    /// <summary>Whether any artifact, in any repository, references the blob (as manifest, config or layer).</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>Whether the blob is referenced.</returns>
    ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Deletes a blob's bytes. Idempotent.</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels before the deletion starts.</param>
    /// <returns>A task that completes when the bytes are gone.</returns>
    ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Deletes a blob's record. Idempotent.</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels before the deletion starts.</param>
    /// <returns>A task that completes when the record is gone.</returns>
    ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a repository's link to a blob, unless an artifact of that repository references the blob or the link was
    /// rewritten after <see cref="LayerLink.CreatedAt"/>.
    /// </summary>
    /// <param name="link">The link as the plan saw it.</param>
    /// <param name="cancellationToken">Cancels before the deletion starts.</param>
    /// <returns>Whether the link was deleted, kept, or already gone (deleted by another collector, or by an interrupted run).</returns>
    ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes an unfinished blob upload with everything it holds, only when it is still exactly as the plan saw it: there,
    /// with the same start, size and last write. An upload that received bytes since the plan is live again and is kept.
    /// </summary>
    /// <remarks>A store that keeps no uploads has none to delete: the default answers <see cref="UploadDeleteOutcome.NotFound"/>.</remarks>
    /// <param name="upload">The upload as the plan saw it.</param>
    /// <param name="cancellationToken">Cancels before the deletion starts.</param>
    /// <returns>What happened.</returns>
    /// <exception cref="ArgumentException"><see cref="BlobUpload.Id"/> is not a valid upload id (nothing is deleted).</exception>
    ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(UploadDeleteOutcome.NotFound);
}

/// <summary>What <see cref="IRegistryStore.DeleteLayerLinkAsync"/> did.</summary>
public enum LayerLinkDeleteOutcome
{
    /// <summary>The link was deleted (by a store that defers its deletions: moved out of the registry's sight).</summary>
    Deleted,

    /// <summary>There was no such link (deleted by another collector, or by an interrupted run): nothing to do.</summary>
    NotFound,

    /// <summary>Kept: it was written again since the plan, or an artifact of its repository references its blob.</summary>
    Kept,
}

/// <summary>What <see cref="IRegistryStore.DeleteUploadAsync"/> did.</summary>
public enum UploadDeleteOutcome
{
    /// <summary>The upload and everything it held were deleted.</summary>
    Deleted,

    /// <summary>There was no such upload (already deleted, or the store keeps none): nothing to do.</summary>
    NotFound,

    /// <summary>The upload changed since the plan (it received bytes, or was started again): kept.</summary>
    Changed,
}

/// <summary>What <see cref="IRegistryStore.DeleteArtifactAsync"/> did.</summary>
public enum ArtifactDeleteOutcome
{
    /// <summary>The artifact, its tags and links were deleted.</summary>
    Deleted,

    /// <summary>There was no such artifact (already deleted): nothing to do.</summary>
    NotFound,

    /// <summary>The artifact changed since the plan (tagged, pushed again, listed by a new index): kept.</summary>
    Changed,
}

/// <summary>A set of <see cref="BlobStatus"/> values, for compare-and-swap.</summary>
[Flags]
public enum BlobStatusSet
{
    /// <summary>No state.</summary>
    Nothing = 0,

    /// <summary><see cref="BlobStatus.None"/>.</summary>
    None = 1,

    /// <summary><see cref="BlobStatus.Delete"/>.</summary>
    Delete = 2,

    /// <summary><see cref="BlobStatus.Deleting"/>.</summary>
    Deleting = 4,

    /// <summary><see cref="BlobStatus.Deleted"/>.</summary>
    Deleted = 8,

    /// <summary><see cref="BlobStatus.DeleteFailed"/>.</summary>
    DeleteFailed = 16,
}

/// <summary>Helpers for <see cref="BlobStatusSet"/>.</summary>
public static class BlobStatusSetExtensions
{
    /// <summary>Whether <paramref name="status"/> is in the set.</summary>
    /// <param name="set">The set.</param>
    /// <param name="status">The status.</param>
    /// <returns>Whether it is a member.</returns>
    public static bool Contains(this BlobStatusSet set, BlobStatus status) => ((int)set & (1 << (int)status)) != 0;
}
