using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>An artifact a plan deletes.</summary>
/// <param name="Key">The artifact.</param>
/// <param name="MediaType">Its manifest media type.</param>
/// <param name="Size">Its manifest size.</param>
/// <param name="Tags">Its tags, which go with it (an accessory's tag-scheme tag, or a tag on a hard accessory).</param>
/// <param name="Reason">Why it is garbage.</param>
/// <param name="AccessoryType">Its accessory type when it is an accessory.</param>
/// <param name="Subject">Its subject when it is an accessory.</param>
/// <param name="Version">The version the plan saw; deletion is a compare-and-swap on it.</param>
public sealed record PlannedArtifact(
    ArtifactKey Key,
    string MediaType,
    long Size,
    ImmutableArray<string> Tags,
    DeletionReason Reason,
    string? AccessoryType,
    Digest? Subject,
    long Version);
