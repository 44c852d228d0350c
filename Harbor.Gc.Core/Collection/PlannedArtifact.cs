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
    long Version)
{
    /// <summary>
    /// The planned artifacts this one goes with: the collected indexes that list it, or the collected subject of a hard
    /// accessory. If a re-check keeps any of them, this one is kept too, so a kept index never loses a child and a kept image
    /// never loses a signature.
    /// </summary>
    public ImmutableArray<ArtifactKey> DependsOn { get; init; } = [];

    /// <summary>
    /// The execution stage: 0 for artifacts that depend on nothing, else one more than the highest stage of
    /// <see cref="DependsOn"/>. Artifacts of one stage may be deleted in parallel.
    /// </summary>
    public int Stage { get; init; }
}
