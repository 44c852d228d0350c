namespace Harbor.Gc.Model;

/// <summary>
/// A repository's link to a global blob, as the CNCF Distribution layout keeps them (<c>_layers/sha256/&lt;hex&gt;/link</c>):
/// the registry only serves a blob from a repository that links it.
/// </summary>
/// <param name="Repository">The repository.</param>
/// <param name="Digest">The blob.</param>
/// <param name="CreatedAt">When the link was written (an upload or mount in progress is younger than the time window).</param>
public sealed record LayerLink(RepositoryName Repository, Digest Digest, DateTimeOffset CreatedAt)
{
    /// <summary>
    /// The link as a user names it, <c>repository@digest</c> (the blob's digest in the repository that links it), as summaries,
    /// logs and errors print it; never the record's default text with its culture-dependent date.
    /// </summary>
    /// <returns>The text form.</returns>
    public override string ToString() => $"{Repository}@{Digest}";
}
