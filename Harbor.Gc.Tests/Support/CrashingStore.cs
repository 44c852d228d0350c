using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Tests.Support;

/// <summary>A process death in the middle of a sweep, simulated.</summary>
internal sealed class SimulatedCrashException() : Exception("simulated crash");

/// <summary>
/// Forwards to a store and "crashes" (throws <see cref="SimulatedCrashException"/>) instead of performing its N-th mutation,
/// or runs <see cref="OnMutation"/> before each one (to cancel a run or move the clock at an exact point).
/// </summary>
internal sealed class CrashingStore(IRegistryStore inner, int crashAt = int.MaxValue) : IRegistryStore
{
    public int Mutations { get; private set; }

    public Action<int>? OnMutation { get; set; }

    public string Description => inner.Description;

    public ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default) => inner.ReadSnapshotAsync(sink, cancellationToken);

    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => inner.GetBlobAsync(digest, cancellationToken);

    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default) => inner.IsBlobReferencedAsync(digest, cancellationToken);

    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.DeleteArtifactAsync(key, expectedVersion, cancellationToken);
    }

    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.TryUpdateBlobStatusAsync(digest, expected, next, lastTouchedAt, cancellationToken);
    }

    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.DeleteBlobContentAsync(digest, cancellationToken);
    }

    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.DeleteBlobRecordAsync(digest, cancellationToken);
    }

    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.DeleteLayerLinkAsync(link, cancellationToken);
    }

    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        Step();
        return inner.DeleteUploadAsync(upload, cancellationToken);
    }

    private void Step()
    {
        lock (this)
        {
            if (++Mutations == crashAt)
            {
                throw new SimulatedCrashException();
            }

            OnMutation?.Invoke(Mutations);
        }
    }
}
