using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// An index was written with <c>requireChildren</c> and lists a child manifest its repository does not have (deleted since the
/// caller checked, say); nothing was written.
/// </summary>
public sealed class MissingChildException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="artifact">The index being written.</param>
    /// <param name="child">The missing child.</param>
    public MissingChildException(ArtifactKey artifact, Digest child)
        : base($"Manifest {artifact} lists child manifest {child}, which is not in {artifact.Repository}; push the child first.")
    {
        Artifact = artifact;
        Child = child;
    }

    /// <summary>The index being written.</summary>
    public ArtifactKey Artifact { get; }

    /// <summary>The missing child.</summary>
    public Digest Child { get; }
}
