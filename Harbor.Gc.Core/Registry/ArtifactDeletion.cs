using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>What <see cref="RegistryApi.DeleteArtifactAsync"/> deleted (DESIGN.md §7).</summary>
/// <param name="Deleted">The artifacts deleted: the artifact first, then its hard accessories and unshared untagged children.</param>
/// <param name="Kept">
/// Cascade members left in place because they changed while the cascade ran (a concurrent push or tag gave them a new version).
/// </param>
public sealed record ArtifactDeletion(ImmutableArray<ArtifactKey> Deleted, ImmutableArray<ArtifactKey> Kept);
