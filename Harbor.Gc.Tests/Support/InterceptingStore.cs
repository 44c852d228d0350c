using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Tests.Support;

/// <summary>Forwards to a store, running a hook before chosen calls, to interleave a "concurrent push" at an exact point of a sweep.</summary>
internal sealed class InterceptingStore(IRegistryStore inner) : IRegistryStore
{
    public Action<Digest>? BeforeIsBlobReferenced { get; set; }

    public Action<Digest, BlobStatus>? BeforeBlobStatusUpdate { get; set; }

    public Action<BlobUpload>? BeforeDeleteUpload { get; set; }

    public Action<LayerLink>? BeforeDeleteLayerLink { get; set; }

    /// <summary>Wraps the sink a snapshot is read into (say, to hide <see cref="IKeyedSnapshotSink"/>).</summary>
    public Func<ISnapshotSink, ISnapshotSink>? WrapSnapshotSink { get; set; }

    public string Description => inner.Description;

    public ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default) =>
        inner.ReadSnapshotAsync(WrapSnapshotSink?.Invoke(sink) ?? sink, cancellationToken);

    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default) =>
        inner.DeleteArtifactAsync(key, expectedVersion, cancellationToken);

    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => inner.GetBlobAsync(digest, cancellationToken);

    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        BeforeBlobStatusUpdate?.Invoke(digest, next);
        return inner.TryUpdateBlobStatusAsync(digest, expected, next, lastTouchedAt, cancellationToken);
    }

    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        BeforeIsBlobReferenced?.Invoke(digest);
        return inner.IsBlobReferencedAsync(digest, cancellationToken);
    }

    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => inner.DeleteBlobContentAsync(digest, cancellationToken);

    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default) => inner.DeleteBlobRecordAsync(digest, cancellationToken);

    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        BeforeDeleteLayerLink?.Invoke(link);
        return inner.DeleteLayerLinkAsync(link, cancellationToken);
    }

    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        BeforeDeleteUpload?.Invoke(upload);
        return inner.DeleteUploadAsync(upload, cancellationToken);
    }
}
