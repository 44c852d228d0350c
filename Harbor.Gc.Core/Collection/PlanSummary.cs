namespace Harbor.Gc.Collection;

/// <summary>What a plan deletes, in counts and bytes (DESIGN.md §8 <c>summary</c>).</summary>
/// <param name="Artifacts">Artifacts deleted (one per repository and digest).</param>
/// <param name="Manifests">Distinct manifest digests among them.</param>
/// <param name="Blobs">Blobs whose bytes go, manifest blobs included.</param>
/// <param name="Bytes">Their total size (foreign layers are never stored, so never counted).</param>
public sealed record PlanSummary(int Artifacts, int Manifests, int Blobs, long Bytes)
{
    /// <summary>Stale unfinished uploads removed (Distribution layout).</summary>
    public int Uploads { get; init; }

    /// <summary>The bytes those uploads hold; not part of <see cref="Bytes"/>, which counts blobs only.</summary>
    public long UploadBytes { get; init; }
}

/// <summary>The size of the graph a plan was made from.</summary>
/// <param name="Repositories">Repositories.</param>
/// <param name="Artifacts">Artifacts.</param>
/// <param name="LiveArtifacts">Artifacts kept.</param>
/// <param name="Blobs">Blob records.</param>
/// <param name="LiveBlobs">Blob records kept because a live artifact references them.</param>
/// <param name="Tags">Tags.</param>
/// <param name="BlobReferences">References from artifacts to blobs.</param>
public sealed record GraphStatistics(int Repositories, int Artifacts, int LiveArtifacts, int Blobs, int LiveBlobs, int Tags, long BlobReferences);
