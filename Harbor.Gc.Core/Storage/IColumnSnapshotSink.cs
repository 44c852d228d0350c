using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A sink that takes blobs and artifacts as the few columns a collection's graph is built from (digests, kinds, sizes, times),
/// instead of a <see cref="Blob"/> and an <see cref="Artifact"/> with its <see cref="BlobReference"/>s per row. A store that reads
/// its rows as columns (the <c>postgres:</c> store's binary <c>COPY</c>) checks for it and sends the columns from its buffers, so a
/// snapshot of millions of rows builds no record per row; every other sink gets the records.
/// </summary>
/// <remarks>
/// The same contract as <see cref="ISnapshotSink"/> otherwise: <see cref="ISnapshotSink.OnBegin"/> first, one thread at a time, tags,
/// links, layer links, uploads and problems as records. A store sends each blob and artifact once, through one of the two paths.
/// Spans are valid for the call only.
/// </remarks>
internal interface IColumnSnapshotSink : ISnapshotSink
{
    /// <summary>Whether this sink takes columns now (a wrapper answers for the sink it wraps).</summary>
    bool TakesColumns { get; }

    /// <summary>A blob: what <see cref="ISnapshotSink.OnBlob"/> would read of its record.</summary>
    /// <param name="digest">The blob's digest.</param>
    /// <param name="size">Its size.</param>
    /// <param name="lastTouchedTicks">UTC ticks of its last touch (<see cref="Blob.LastTouchedAt"/>).</param>
    /// <param name="status">Its status.</param>
    void OnBlobColumns(in Digest digest, long size, long lastTouchedTicks, BlobStatus status);

    /// <summary>
    /// An artifact: what <see cref="ISnapshotSink.OnArtifact"/> would read of its record, each reference given, where the store can,
    /// as the blob of this snapshot it names (no digest for it: the <c>postgres:</c> store keeps its blobs' row ids in its references,
    /// schema version 5), else by its digest. Sent only to a sink that wants blobs (<see cref="ISnapshotSink.WantsBlobs"/>); one that
    /// does not gets the records.
    /// </summary>
    /// <param name="artifact">Its scalar columns.</param>
    /// <param name="referenceBlobs">
    /// Per reference, in the manifest's order: the blob it names as its ordinal among the blobs of this snapshot (0 for the first
    /// <see cref="OnBlobColumns"/> call, and so on; always one already delivered), or -1 when it is given by its digest.
    /// </param>
    /// <param name="referenceDigests">Per reference given by its digest, that digest (the others' entries are meaningless).</param>
    /// <param name="referenceKinds">The kind of each reference.</param>
    /// <param name="children">Its children (<see cref="Artifact.Children"/>).</param>
    void OnArtifactColumns(in ArtifactColumns artifact, ReadOnlySpan<int> referenceBlobs, ReadOnlySpan<Digest> referenceDigests,
        ReadOnlySpan<BlobReferenceKind> referenceKinds, ReadOnlySpan<Digest> children);
}

/// <summary>The scalar columns of an artifact a collection's graph reads.</summary>
/// <param name="Repository">Its repository.</param>
/// <param name="Digest">Its digest.</param>
/// <param name="MediaType">Its manifest's media type.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Size">Its manifest's size.</param>
/// <param name="PushedAtTicks">UTC ticks of its last push (<see cref="Artifact.PushedAt"/>).</param>
/// <param name="Version">Its version (<see cref="Artifact.Version"/>).</param>
/// <param name="Trashed">Whether it is in the store's trash (<see cref="Artifact.Trashed"/>).</param>
/// <param name="ParseProblem">Why it could not be parsed (<see cref="Artifact.ParseProblem"/>).</param>
internal readonly record struct ArtifactColumns(
    RepositoryName Repository,
    Digest Digest,
    string MediaType,
    ManifestKind Kind,
    long Size,
    long PushedAtTicks,
    long Version,
    bool Trashed,
    string? ParseProblem);
