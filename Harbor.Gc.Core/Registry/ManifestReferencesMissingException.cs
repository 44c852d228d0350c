using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>
/// A pushed manifest references blobs (config, layers; foreign layers excepted) or child manifests the registry does not have;
/// nothing was written. The registry answers <c>MANIFEST_BLOB_UNKNOWN</c>.
/// </summary>
public sealed class ManifestReferencesMissingException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="artifact">The manifest being pushed.</param>
    /// <param name="missingBlobs">The blobs that are not in the store.</param>
    /// <param name="missingChildren">The child manifests that are not in the repository.</param>
    public ManifestReferencesMissingException(ArtifactKey artifact, ImmutableArray<Digest> missingBlobs, ImmutableArray<Digest> missingChildren)
        : base(Describe(artifact, missingBlobs, missingChildren))
    {
        Artifact = artifact;
        MissingBlobs = missingBlobs;
        MissingChildren = missingChildren;
    }

    /// <summary>The manifest being pushed.</summary>
    public ArtifactKey Artifact { get; }

    /// <summary>The blobs that are not in the store.</summary>
    public ImmutableArray<Digest> MissingBlobs { get; }

    /// <summary>The child manifests that are not in the repository.</summary>
    public ImmutableArray<Digest> MissingChildren { get; }

    private static string Describe(ArtifactKey artifact, ImmutableArray<Digest> blobs, ImmutableArray<Digest> children)
    {
        var parts = new List<string>(2);
        if (!blobs.IsEmpty)
        {
            parts.Add($"blob{(blobs.Length == 1 ? string.Empty : "s")} {string.Join(", ", blobs)} not in the store (push {(blobs.Length == 1 ? "it" : "them")} first)");
        }

        if (!children.IsEmpty)
        {
            parts.Add($"child manifest{(children.Length == 1 ? string.Empty : "s")} {string.Join(", ", children)} not in {artifact.Repository} (push {(children.Length == 1 ? "it" : "them")} first)");
        }

        return $"Refused to push manifest {artifact}: it references {string.Join("; and ", parts)}.";
    }
}
