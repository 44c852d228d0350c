using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>A manifest was pushed that references a blob the store does not have.</summary>
public sealed class MissingBlobException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="artifact">The artifact being pushed.</param>
    /// <param name="digest">The missing blob.</param>
    public MissingBlobException(ArtifactKey artifact, Digest digest)
        : base($"Manifest {artifact} references blob {digest}, which is not in the store; push the blob first.")
    {
        Artifact = artifact;
        Digest = digest;
    }

    /// <summary>The artifact being pushed.</summary>
    public ArtifactKey Artifact { get; }

    /// <summary>The missing blob.</summary>
    public Digest Digest { get; }
}
