using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Replication;

/// <summary>
/// What a replication closure needs of a registry, read from a store's snapshot: the artifacts (children, blob references), the
/// tags and the accessory links. Blob records, layer links and uploads are not kept.
/// </summary>
public sealed class ReplicationSnapshot : ISnapshotSink
{
    private readonly Dictionary<ArtifactKey, Artifact> _artifacts = [];
    private readonly Dictionary<ArtifactKey, List<Tag>> _tagsByArtifact = [];
    private readonly Dictionary<RepositoryName, Dictionary<string, Digest>> _tags = [];
    private readonly Dictionary<ArtifactKey, List<AccessoryLink>> _referrers = [];
    private readonly Dictionary<ArtifactKey, AccessoryLink> _links = [];
    private readonly List<StoreProblem> _problems = [];

    /// <summary>Reads a store's snapshot.</summary>
    /// <param name="store">The store.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The snapshot.</returns>
    public static async ValueTask<ReplicationSnapshot> ReadAsync(IRegistryStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var snapshot = new ReplicationSnapshot();
        await store.ReadSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
        return snapshot;
    }

    /// <summary>The problems the store reported while reading.</summary>
    public IReadOnlyList<StoreProblem> Problems => _problems;

    /// <summary>The artifacts read.</summary>
    public IReadOnlyCollection<Artifact> Artifacts => _artifacts.Values;

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
    public void OnArtifact(Artifact artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        if (artifact.Trashed)
        {
            return; // deleted in its store's catalog (Harbor deleted it): nothing to replicate
        }

        _artifacts[artifact.Key] = artifact;
    }

    /// <inheritdoc />
    public void OnTag(Tag tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        Add(_tagsByArtifact, new ArtifactKey(tag.Repository, tag.Digest), tag);
        if (!_tags.TryGetValue(tag.Repository, out var byName))
        {
            byName = new Dictionary<string, Digest>(StringComparer.Ordinal);
            _tags.Add(tag.Repository, byName);
        }

        byName[tag.Name] = tag.Digest;
    }

    /// <inheritdoc />
    public void OnAccessoryLink(AccessoryLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        Add(_referrers, new ArtifactKey(link.Repository, link.Subject), link);
        _links[new ArtifactKey(link.Repository, link.Accessory)] = link;
    }

    /// <inheritdoc />
    public void OnLayerLink(LayerLink link)
    {
    }

    /// <inheritdoc />
    public void OnProblem(StoreProblem problem) => _problems.Add(problem);

    internal Artifact? Get(ArtifactKey key) => _artifacts.GetValueOrDefault(key);

    internal IReadOnlyList<Tag> TagsOf(ArtifactKey key) => _tagsByArtifact.TryGetValue(key, out var tags) ? tags : [];

    internal Digest? Resolve(RepositoryName repository, string tag) =>
        _tags.TryGetValue(repository, out var byName) && byName.TryGetValue(tag, out var digest) ? digest : null;

    internal IReadOnlyList<AccessoryLink> ReferrersOf(ArtifactKey subject) => _referrers.TryGetValue(subject, out var links) ? links : [];

    internal AccessoryLink? LinkOf(ArtifactKey accessory) => _links.GetValueOrDefault(accessory);

    /// <summary>The user tags of an artifact: its tags, less a cosign tag-scheme tag that names it as an accessory.</summary>
    internal IEnumerable<Tag> UserTagsOf(ArtifactKey key)
    {
        var link = LinkOf(key);
        return TagsOf(key).Where(t => !IsTagSchemeName(t, link));
    }

    /// <summary>The cosign tag-scheme tags that name an artifact as an accessory of its subject.</summary>
    internal IEnumerable<Tag> TagSchemeTagsOf(ArtifactKey key)
    {
        var link = LinkOf(key);
        return TagsOf(key).Where(t => IsTagSchemeName(t, link));
    }

    private static bool IsTagSchemeName(Tag tag, AccessoryLink? link) =>
        link is { FromTagScheme: true } && Accessories.AccessoryClassifier.TryParseTagScheme(tag.Name, out var subject, out _) && subject == link.Subject;

    private static void Add<T>(Dictionary<ArtifactKey, List<T>> map, ArtifactKey key, T value)
    {
        if (!map.TryGetValue(key, out var list))
        {
            list = [];
            map.Add(key, list);
        }

        list.Add(value);
    }
}
