using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.Postgres;

/// <summary>
/// What Harbor's own GC would read from its database, kept from the <c>harbor:</c> store's last snapshot so that a plan can say where
/// Harbor decides differently (<see cref="Collection.HarborDifference"/>).
/// </summary>
internal sealed class HarborFacts
{
    /// <summary>
    /// The artifacts Harbor's GC lists as untagged when delete_untagged is on: <c>deletedArt</c> in
    /// <c>src/jobservice/job/impl/gc/garbage_collection.go</c> calls <c>artCtl.List</c> with <c>Tags: "nil"</c>, which
    /// <c>querySetter</c> in <c>src/pkg/artifact/dao/dao.go</c> narrows with its <c>both</c>, <c>untagged</c> and <c>notacc</c> filters: no
    /// tag row, no <c>artifact_reference</c> row naming it as a child, no <c>artifact_accessory</c> row naming it as an accessory. No
    /// time window.
    /// </summary>
    public required HashSet<ArtifactKey> UntaggedCandidates { get; init; }

    /// <summary>
    /// What Harbor's dry run walks from an artifact (<c>Walk</c> in <c>src/controller/artifact/controller.go</c>): its children by
    /// <c>artifact_reference</c> (tagged or not) and its accessories by <c>artifact_accessory</c>.
    /// </summary>
    public required Dictionary<ArtifactKey, List<ArtifactKey>> WalkEdges { get; init; }

    /// <summary>
    /// Accessories whose subject digest no artifact row of Harbor's database has: Harbor's GC never collects them (no accessory is in
    /// <c>deletedArt</c>'s list, and only a deleted subject takes its accessories with it).
    /// </summary>
    public required HashSet<ArtifactKey> OrphanAccessories { get; init; }

    /// <summary>The <c>artifact_blob</c> rows: blob digests by artifact digest (<c>GetBlobsByArtDigest</c> in <c>src/pkg/blob/dao/dao.go</c>).</summary>
    public required Dictionary<string, List<string>> ArtifactBlobs { get; init; }

    /// <summary>The <c>blob</c> rows' sizes and content types, by digest.</summary>
    public required Dictionary<string, (long Size, string ContentType)> Blobs { get; init; }
}

/// <summary>A store over a Harbor installation: after a snapshot, the facts of Harbor's database its own GC would read.</summary>
internal interface IHarborInstallation
{
    /// <summary>The facts of the last snapshot; null before one.</summary>
    HarborFacts? Facts { get; }
}
