using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>An artifact cannot be deleted because an index in its repository lists it (DESIGN.md §7); nothing was deleted.</summary>
public sealed class ArtifactInUseException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="artifact">The artifact.</param>
    /// <param name="index">An index that lists it.</param>
    public ArtifactInUseException(ArtifactKey artifact, Digest index)
        : base($"Refused to delete {artifact}: the index {artifact.Repository}@{index} references it; delete the index first.")
    {
        Artifact = artifact;
        Index = index;
    }

    /// <summary>The artifact.</summary>
    public ArtifactKey Artifact { get; }

    /// <summary>An index that lists it.</summary>
    public Digest Index { get; }
}
