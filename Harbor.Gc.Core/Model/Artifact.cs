using System.Collections.Immutable;

namespace Harbor.Gc.Model;

/// <summary>A manifest in a repository, with everything GC and retention need to know about it.</summary>
/// <remarks>
/// Tags and accessory links are separate records (<see cref="Tag"/>, <see cref="AccessoryLink"/>): a tag can move,
/// and an accessory may arrive before its subject.
/// </remarks>
public sealed record Artifact
{
    /// <summary>The repository.</summary>
    public required RepositoryName Repository { get; init; }

    /// <summary>The manifest digest.</summary>
    public required Digest Digest { get; init; }

    /// <summary>The manifest's media type (from the manifest, else the type it was pushed with).</summary>
    public required string MediaType { get; init; }

    /// <summary>What the manifest is; <see cref="ManifestKind.Unknown"/> is never deleted for being unparsable.</summary>
    public required ManifestKind Kind { get; init; }

    /// <summary>The manifest's <c>artifactType</c>, else its config media type; <see langword="null"/> for an index without one.</summary>
    public string? ArtifactType { get; init; }

    /// <summary>Size of the manifest in bytes.</summary>
    public long Size { get; init; }

    /// <summary>When the manifest was last touched: pushed, or pushed again (the GC time window reads it).</summary>
    public required DateTimeOffset PushedAt { get; init; }

    /// <summary>
    /// When the manifest was first pushed to the repository (pushing it again does not change it, as in Harbor);
    /// <see langword="null"/> when the store cannot tell (the Distribution layout) or kept no such record: <see cref="PushedAt"/>
    /// then stands for it. Retention's push time is the later of this and the artifact's tags' push times (DESIGN.md §6).
    /// </summary>
    public DateTimeOffset? FirstPushedAt { get; init; }

    /// <summary>When the manifest was last pulled; <see langword="null"/> if never.</summary>
    public DateTimeOffset? PulledAt { get; init; }

    /// <summary>Labels attached to the artifact (Harbor labels).</summary>
    public ImmutableArray<string> Labels { get; init; } = [];

    /// <summary>The blobs this manifest references: its own bytes, config and layers (foreign layers flagged).</summary>
    public ImmutableArray<BlobReference> References { get; init; } = [];

    /// <summary>For an index: the child manifests, which live in the same repository.</summary>
    public ImmutableArray<Digest> Children { get; init; } = [];

    /// <summary>The OCI 1.1 <c>subject</c> of the manifest, if any.</summary>
    public Digest? Subject { get; init; }

    /// <summary>Why the manifest could not be parsed, when <see cref="Kind"/> is <see cref="ManifestKind.Unknown"/>.</summary>
    public string? ParseProblem { get; init; }

    /// <summary>
    /// The store's catalog deleted this artifact while its manifest is still in the storage: a Harbor installation whose database no
    /// longer has the artifact's row (Harbor deleted it; its own GC removes the manifest later, from <c>artifact_trash</c>). GC
    /// collects it whatever delete-untagged says, once it is older than the time window and nothing live references it.
    /// </summary>
    public bool Trashed { get; init; }

    /// <summary>
    /// A version the store increments on every change that could make the artifact live again (a tag put on it, a push of
    /// it or of an index that lists it). Deleting is a compare-and-swap on it.
    /// </summary>
    public long Version { get; init; }

    /// <summary>The key of the artifact.</summary>
    public ArtifactKey Key => new(Repository, Digest);
}
