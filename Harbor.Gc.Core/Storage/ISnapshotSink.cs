using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>Receives the records of a store snapshot, one call per record, from one thread at a time.</summary>
/// <remarks>
/// Records come in any order: an index may arrive before its children, an accessory link before its subject, a tag
/// before its artifact. A sink must not keep references it does not need: stores may reuse nothing, but a snapshot of
/// millions of records must stream.
/// </remarks>
public interface ISnapshotSink
{
    /// <summary>Called once, first, with the expected counts (0 where unknown) so the sink can size its arrays.</summary>
    /// <param name="hint">The expected counts.</param>
    void OnBegin(SnapshotSizeHint hint);

    /// <summary>
    /// Whether the sink uses blob records. When <see langword="false"/> a store may skip its blobs (<see cref="OnBlob"/> is then
    /// not called): a sink that reads only artifacts, tags and links saves the pass over every blob.
    /// </summary>
    bool WantsBlobs => true;

    /// <summary>A blob record.</summary>
    /// <param name="blob">The blob.</param>
    void OnBlob(Blob blob);

    /// <summary>An artifact (a manifest in a repository).</summary>
    /// <param name="artifact">The artifact.</param>
    void OnArtifact(Artifact artifact);

    /// <summary>A tag.</summary>
    /// <param name="tag">The tag.</param>
    void OnTag(Tag tag);

    /// <summary>An accessory link.</summary>
    /// <param name="link">The link.</param>
    void OnAccessoryLink(AccessoryLink link);

    /// <summary>A repository's link to a blob (Distribution layout only).</summary>
    /// <param name="link">The link.</param>
    void OnLayerLink(LayerLink link);

    /// <summary>An unfinished blob upload (Distribution layout only). Sinks that do not collect uploads ignore it.</summary>
    /// <param name="upload">The upload as the store read it.</param>
    void OnUpload(BlobUpload upload)
    {
    }

    /// <summary>Something the store found wrong while reading (a malformed link, an unreadable file). Never a reason to delete.</summary>
    /// <param name="problem">What and where.</param>
    void OnProblem(StoreProblem problem);
}

/// <summary>Expected record counts of a snapshot; 0 where unknown.</summary>
/// <param name="Artifacts">Artifacts.</param>
/// <param name="Blobs">Blobs.</param>
/// <param name="Tags">Tags.</param>
/// <param name="AccessoryLinks">Accessory links.</param>
/// <param name="BlobReferences">Blob references over all artifacts.</param>
public readonly record struct SnapshotSizeHint(int Artifacts, int Blobs, int Tags, int AccessoryLinks, long BlobReferences);

/// <summary>A problem a store met while reading: what and where.</summary>
/// <param name="Location">Where: a path, a repository, a digest.</param>
/// <param name="Message">What is wrong.</param>
public sealed record StoreProblem(string Location, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Location}: {Message}";
}
