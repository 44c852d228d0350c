using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A conditional tag write (<see cref="IWritableRegistryStore.PutTagAsync"/> with a <see cref="TagExpectation"/>) found the tag
/// changed since the caller read it; nothing was written. The caller checks the tag again and retries.
/// </summary>
public sealed class TagChangedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag.</param>
    /// <param name="expected">What the caller read: the digest, or null for no tag.</param>
    /// <param name="actual">What the tag points at now, or null when it is gone.</param>
    public TagChangedException(RepositoryName repository, string name, Digest? expected, Digest? actual)
        : base($"The tag {repository}:{name} changed while it was being written: it points at {actual?.ToString() ?? "nothing"}, " +
            $"not {expected?.ToString() ?? "nothing"} as read; check it again and retry.")
    {
        Repository = repository;
        Name = name;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The repository.</summary>
    public RepositoryName Repository { get; }

    /// <summary>The tag.</summary>
    public string Name { get; }

    /// <summary>What the caller read: the digest, or null for no tag.</summary>
    public Digest? Expected { get; }

    /// <summary>What the tag points at now, or null when it is gone.</summary>
    public Digest? Actual { get; }
}
