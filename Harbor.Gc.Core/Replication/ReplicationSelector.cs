using Harbor.Gc.Model;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Replication;

/// <summary>Which artifacts a replication copies: one by repository and reference, or those whose user tags match doublestar patterns.</summary>
public sealed record ReplicationSelector
{
    private ReplicationSelector()
    {
    }

    /// <summary>For <see cref="Artifact"/>: the repository.</summary>
    public RepositoryName? Repository { get; private init; }

    /// <summary>For <see cref="Artifact"/>: the tag or digest.</summary>
    public string? Reference { get; private init; }

    /// <summary>For <see cref="Matching"/>: the pattern the whole repository name must match (<c>library/**</c>).</summary>
    public DoublestarPattern? RepositoryPattern { get; private init; }

    /// <summary>For <see cref="Matching"/>: the pattern one of the artifact's user tags must match.</summary>
    public DoublestarPattern? TagPattern { get; private init; }

    /// <summary>Selects one artifact by tag or digest.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">A tag (the artifact it points at, pushed with that tag) or a digest (pushed by digest).</param>
    /// <returns>The selector.</returns>
    public static ReplicationSelector Artifact(RepositoryName repository, string reference)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        return new ReplicationSelector { Repository = repository, Reference = reference };
    }

    /// <summary>
    /// Selects, in every repository whose name matches <paramref name="repositoryPattern"/>, the artifacts with a user tag matching
    /// <paramref name="tagPattern"/> (pushed with the matching tags). Cosign tag-scheme tags name accessories, not artifacts, and are
    /// never matched; untagged artifacts are selected by digest only. The patterns are the doublestar patterns of retention (§6).
    /// </summary>
    /// <param name="repositoryPattern">The repository pattern, such as <c>library/**</c>.</param>
    /// <param name="tagPattern">The tag pattern; <c>**</c> for every tag.</param>
    /// <returns>The selector.</returns>
    /// <exception cref="FormatException">A pattern is malformed; the message names it.</exception>
    public static ReplicationSelector Matching(string repositoryPattern, string tagPattern = "**") =>
        new() { RepositoryPattern = DoublestarPattern.Parse(repositoryPattern), TagPattern = DoublestarPattern.Parse(tagPattern) };

    /// <inheritdoc />
    public override string ToString() =>
        Repository is { } r ? (Digest.TryParse(Reference, out _) ? $"{r}@{Reference}" : $"{r}:{Reference}") : $"{RepositoryPattern}:{TagPattern}";
}
