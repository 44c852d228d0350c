using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Collection;

/// <summary>Passes a snapshot on to the graph builder, reporting how many blobs and artifacts were read (every 4,096 and at the end).</summary>
/// <remarks>Used only when someone listens (<see cref="GcOptions.Progress"/>), so an unobserved run pays nothing for it.</remarks>
internal sealed class ProgressSink(IKeyedSnapshotSink inner, IProgress<GcProgress> progress) : IKeyedSnapshotSink, IColumnSnapshotSink
{
    private const int Step = 4096;
    private long _read;
    private long? _total;

    public void OnBegin(SnapshotSizeHint hint)
    {
        _total = hint.Artifacts + hint.Blobs is var total and > 0 ? total : null;
        inner.OnBegin(hint);
        progress.Report(new GcProgress(GcPhase.ReadingStore, 0, _total));
    }

    public void OnBlob(Blob blob)
    {
        inner.OnBlob(blob);
        Tick();
    }

    public void OnBlob(Blob blob, int key)
    {
        inner.OnBlob(blob, key);
        Tick();
    }

    public void OnArtifact(Artifact artifact)
    {
        inner.OnArtifact(artifact);
        Tick();
    }

    public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys)
    {
        inner.OnArtifact(artifact, referenceKeys);
        Tick();
    }

    public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys, ReadOnlySpan<BlobReferenceKind> referenceKinds)
    {
        inner.OnArtifact(artifact, referenceKeys, referenceKinds);
        Tick();
    }

    public bool TakesColumns => inner is IColumnSnapshotSink { TakesColumns: true };

    public void OnBlobColumns(in Digest digest, long size, long lastTouchedTicks, BlobStatus status)
    {
        ((IColumnSnapshotSink)inner).OnBlobColumns(digest, size, lastTouchedTicks, status);
        Tick();
    }

    public void OnArtifactColumns(in ArtifactColumns artifact, ReadOnlySpan<int> referenceBlobs, ReadOnlySpan<Digest> referenceDigests,
        ReadOnlySpan<BlobReferenceKind> referenceKinds, ReadOnlySpan<Digest> children)
    {
        ((IColumnSnapshotSink)inner).OnArtifactColumns(artifact, referenceBlobs, referenceDigests, referenceKinds, children);
        Tick();
    }

    public void OnTag(Tag tag) => inner.OnTag(tag);

    public void OnAccessoryLink(AccessoryLink link) => inner.OnAccessoryLink(link);

    public void OnLayerLink(LayerLink link) => inner.OnLayerLink(link);

    public void OnUpload(BlobUpload upload) => inner.OnUpload(upload);

    public void OnProblem(StoreProblem problem) => inner.OnProblem(problem);

    /// <summary>Reports the end of the read: everything read is the total (the store's size hint is only a hint).</summary>
    public void Complete() => progress.Report(new GcProgress(GcPhase.ReadingStore, _read, _read));

    private void Tick()
    {
        if (++_read % Step == 0)
        {
            progress.Report(new GcProgress(GcPhase.ReadingStore, _read, _total is { } t && t >= _read ? t : null));
        }
    }
}
