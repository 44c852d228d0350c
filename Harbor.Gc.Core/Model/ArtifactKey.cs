namespace Harbor.Gc.Model;

/// <summary>Identifies an artifact: a manifest digest within a repository.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Digest">The manifest digest.</param>
public readonly record struct ArtifactKey(RepositoryName Repository, Digest Digest)
{
    /// <summary>The reference as a user writes it: <c>repository@digest</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => $"{Repository}@{Digest}";
}
