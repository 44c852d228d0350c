using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>A blob a plan deletes.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="LastTouchedAt">Its last touch as the plan saw it; a blob touched since is kept.</param>
/// <param name="Status">Its status as the plan saw it (not <see cref="BlobStatus.None"/> when an earlier run was interrupted).</param>
public readonly record struct PlannedBlob(Digest Digest, long Size, DateTimeOffset LastTouchedAt, BlobStatus Status)
{
    private readonly ImmutableArray<RepositoryName> _repositories;

    /// <summary>
    /// The repositories of the collected artifacts that reference this blob, sorted; empty for a blob no artifact references
    /// (an upload never used, or left by artifacts deleted earlier). A blob shared by several collected repositories names each:
    /// the report's bytes per repository count its whole size in every one of them.
    /// </summary>
    public ImmutableArray<RepositoryName> Repositories
    {
        get => _repositories.IsDefault ? [] : _repositories;
        init => _repositories = value;
    }

    /// <summary>Equal when every field is, <see cref="Repositories"/> compared item by item (not as array references).</summary>
    /// <param name="other">The other blob.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(PlannedBlob other) =>
        Digest == other.Digest && Size == other.Size && LastTouchedAt == other.LastTouchedAt && Status == other.Status &&
        Repositories.SequenceEqual(other.Repositories);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Digest, Size, LastTouchedAt, Status, Repositories.Length);
}
