namespace Harbor.Gc.Model;

/// <summary>A tag: a name in a repository pointing at a manifest digest.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Name">The tag name.</param>
/// <param name="Digest">The manifest it points at.</param>
/// <param name="PushedAt">
/// When the tag was created or last moved to its digest; pushing the same digest to it again does not change it (as in Harbor),
/// except in the Distribution layout, which rewrites the tag's link on every push.
/// </param>
/// <param name="PulledAt">When the tag was last pulled; <see langword="null"/> if never.</param>
public sealed record Tag(RepositoryName Repository, string Name, Digest Digest, DateTimeOffset PushedAt, DateTimeOffset? PulledAt = null);
