using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A sink that also accepts the store's own dense integer keys for blobs, so references resolve by key instead of by hashing
/// their digests. A store that keeps such keys (the in-memory store; an embedded database with integer blob ids) checks for
/// this interface and uses it; every other store uses <see cref="ISnapshotSink"/> alone.
/// </summary>
/// <remarks>
/// A key identifies one digest for the whole snapshot. Keys are small non-negative integers (the sink sizes an array by
/// the largest); -1 means "no key" (a foreign layer), and the digest is used instead. A reference whose key no blob of the
/// snapshot has (a dangling reference) is resolved by its digest.
/// </remarks>
public interface IKeyedSnapshotSink : ISnapshotSink
{
    /// <summary>A blob record and its key.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="key">The store's key for it.</param>
    void OnBlob(Blob blob, int key);

    /// <summary>An artifact and the keys of its references, in the order of <see cref="Artifact.References"/>.</summary>
    /// <param name="artifact">The artifact.</param>
    /// <param name="referenceKeys">One key (or -1) per reference.</param>
    void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys);

    /// <summary>
    /// An artifact with the keys and kinds of its references, in the order of <see cref="Artifact.References"/>: a store that
    /// keeps the kinds beside the keys saves the sink reading every reference record (the largest part of a snapshot's bytes).
    /// </summary>
    /// <param name="artifact">The artifact.</param>
    /// <param name="referenceKeys">One key (or -1) per reference.</param>
    /// <param name="referenceKinds">The kind of each reference.</param>
    void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys, ReadOnlySpan<BlobReferenceKind> referenceKinds) =>
        OnArtifact(artifact, referenceKeys);
}
