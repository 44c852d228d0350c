using System.Collections.Immutable;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Retention;

/// <summary>
/// What retention needs of a registry, read from a store's snapshot: per repository, the artifacts with push and pull times,
/// children, subject and version (the executor's compare-and-swap), the tags with their pull times, and the accessory links. Blobs, layer links and uploads are not
/// kept. Fill it with <see cref="ReadAsync"/> (or feed it as an <see cref="ISnapshotSink"/>).
/// </summary>
public sealed class RetentionSnapshot : ISnapshotSink
{
    private readonly Dictionary<RepositoryName, RepositoryContent> _repositories = [];
    private readonly List<StoreProblem> _problems = [];
    private (RepositoryName Name, RepositoryContent Content)? _last;

    /// <summary>Reads a store's snapshot.</summary>
    /// <param name="store">The store.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The snapshot.</returns>
    public static async ValueTask<RetentionSnapshot> ReadAsync(IRegistryStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var snapshot = new RetentionSnapshot();
        await store.ReadSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
        return snapshot;
    }

    /// <summary>The problems the store reported while reading.</summary>
    public IReadOnlyList<StoreProblem> Problems => _problems;

    /// <summary>The repositories read, in no particular order.</summary>
    public IEnumerable<RepositoryName> Repositories => _repositories.Keys;

    /// <summary>The number of artifacts read.</summary>
    public int ArtifactCount { get; private set; }

    /// <inheritdoc />
    public void OnBegin(SnapshotSizeHint hint)
    {
    }

    /// <inheritdoc />
    /// <remarks>Blobs are not kept: stores skip them.</remarks>
    public bool WantsBlobs => false;

    /// <inheritdoc />
    public void OnBlob(Blob blob)
    {
    }

    /// <inheritdoc />
    /// <remarks>An artifact its store's catalog deleted (<see cref="Artifact.Trashed"/>: Harbor deleted it, its manifest remains) is no
    /// candidate: Harbor's retention lists only the artifacts of its database.</remarks>
    public void OnArtifact(Artifact artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        if (artifact.Trashed)
        {
            return;
        }

        var content = Content(artifact.Repository);
        if (content.Index.TryAdd(artifact.Digest, content.Artifacts.Count))
        {
            content.Artifacts.Add(new ArtifactRow(artifact.Digest, artifact.FirstPushedAt ?? artifact.PushedAt, artifact.PulledAt, artifact.Children, artifact.Subject, artifact.Version, artifact.Size));
            ArtifactCount++;
        }
    }

    /// <inheritdoc />
    public void OnTag(Tag tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        Content(tag.Repository).Tags.Add(tag);
    }

    /// <inheritdoc />
    public void OnAccessoryLink(AccessoryLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        Content(link.Repository).Links.Add(link);
    }

    /// <inheritdoc />
    public void OnLayerLink(LayerLink link)
    {
    }

    /// <inheritdoc />
    public void OnProblem(StoreProblem problem) => _problems.Add(problem);

    internal bool TryGet(RepositoryName repository, out RepositoryContent content) => _repositories.TryGetValue(repository, out content!);

    private RepositoryContent Content(RepositoryName repository)
    {
        // Stores list a repository's records together: the last repository answers most lookups without hashing its name.
        if (_last is { } last && ReferenceEquals(last.Name.Value, repository.Value))
        {
            return last.Content;
        }

        if (!_repositories.TryGetValue(repository, out var content))
        {
            content = new RepositoryContent();
            _repositories.Add(repository, content);
        }

        _last = (repository, content);
        return content;
    }

    /// <summary>An artifact as retention reads it; <c>PushedAt</c> is its first push (its last touch when the store cannot tell).</summary>
    internal readonly record struct ArtifactRow(Digest Digest, DateTimeOffset PushedAt, DateTimeOffset? PulledAt, ImmutableArray<Digest> Children, Digest? Subject, long Version, long Size);

    internal sealed class RepositoryContent
    {
        internal List<ArtifactRow> Artifacts { get; } = [];

        internal Dictionary<Digest, int> Index { get; } = [];

        internal List<Tag> Tags { get; } = [];

        internal List<AccessoryLink> Links { get; } = [];
    }
}
