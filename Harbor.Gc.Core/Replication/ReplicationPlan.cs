using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Replication;

/// <summary>Why an artifact is in a replication plan.</summary>
public enum ReplicationReason
{
    /// <summary>A selector selected it.</summary>
    Selected,

    /// <summary>An index in the plan lists it.</summary>
    Child,

    /// <summary>It is an accessory of an artifact in the plan.</summary>
    Accessory,
}

/// <summary>A blob an artifact of the plan needs at the destination.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Size">The size its manifest declares.</param>
/// <param name="MediaType">The media type its manifest declares.</param>
/// <param name="Kind">Config or layer.</param>
/// <param name="IsForeign">A foreign (non-distributable) layer: the source never stores it, so it is not copied.</param>
public readonly record struct ReplicationBlob(Digest Digest, long Size, string? MediaType, BlobReferenceKind Kind, bool IsForeign)
{
    /// <summary>Whether the blob is copied (every blob but a foreign layer).</summary>
    public bool IsCopied => !IsForeign;
}

/// <summary>One artifact to copy, in plan order.</summary>
/// <param name="Key">The artifact.</param>
/// <param name="MediaType">Its manifest media type.</param>
/// <param name="Reason">Why it is copied.</param>
/// <param name="Via">For a child or accessory: the index or subject that brought it in first (in plan construction order).</param>
/// <param name="AccessoryType">For an accessory: its type.</param>
/// <param name="Tags">The tags to push it with: the selected user tags, or an accessory's cosign tag-scheme tag; empty means by digest.</param>
/// <param name="Blobs">The config and layers it needs (its own manifest bytes are the push itself).</param>
public sealed record ReplicationItem(
    ArtifactKey Key,
    string MediaType,
    ReplicationReason Reason,
    ArtifactKey? Via,
    string? AccessoryType,
    ImmutableArray<string> Tags,
    ImmutableArray<ReplicationBlob> Blobs);

/// <summary>What to copy, in order: every child before its index, every subject before its accessories.</summary>
/// <param name="Items">The artifacts, each once, in copy order.</param>
/// <param name="Problems">What could not be resolved (a selector matching nothing, a missing child, a cycle), each naming where.</param>
public sealed record ReplicationPlan(ImmutableArray<ReplicationItem> Items, ImmutableArray<string> Problems)
{
    /// <summary>The distinct blobs to copy (foreign layers left out), in the order the items first need them.</summary>
    public IEnumerable<ReplicationBlob> BlobsToCopy =>
        Items.SelectMany(i => i.Blobs).Where(b => b.IsCopied).DistinctBy(b => b.Digest);
}
