using System.Collections.Immutable;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Replication;

/// <summary>
/// The replication closure of DESIGN.md §7: for selected artifacts, the artifacts to copy and the blobs each needs, ordered so the
/// destination never holds an index with a missing child nor an accessory before its subject.
/// </summary>
/// <remarks>
/// <para>The closure adds, recursively, every child of an index (pushing an index whose children are missing is refused) and every
/// hard accessory of an artifact in the closure, so accessories of children and accessories of accessories come too; Harbor's
/// replication copies an index's children before pushing it and lists an artifact's accessories with it (goharbor/harbor
/// <c>src/controller/replication/transfer/image</c>, <c>src/pkg/reg</c>). Nothing is added upwards: selecting a child does not
/// bring its index, selecting an accessory does not bring its subject.</para>
/// <para>Order: a topological order of "child before index" and "subject before accessory", ties broken by repository then
/// digest, so a plan is deterministic. Blobs: the config and layers of each artifact; foreign layers are listed but flagged
/// as not copied (the source never stores them, as Harbor skips them).</para>
/// </remarks>
public static class ReplicationClosure
{
    /// <summary>Reads a store's snapshot and plans the replication of the selected artifacts.</summary>
    /// <param name="store">The source store.</param>
    /// <param name="selectors">What to copy.</param>
    /// <param name="options">Options; <see cref="ReplicationOptions.Default"/> when null.</param>
    /// <param name="cancellationToken">Stops the read and the planning.</param>
    /// <returns>The plan.</returns>
    public static async ValueTask<ReplicationPlan> PlanAsync(
        IRegistryStore store, IEnumerable<ReplicationSelector> selectors, ReplicationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var snapshot = await ReplicationSnapshot.ReadAsync(store, cancellationToken).ConfigureAwait(false);
        return Plan(snapshot, selectors, options, cancellationToken);
    }

    /// <summary>Plans the replication of the selected artifacts from a snapshot.</summary>
    /// <param name="snapshot">The source registry.</param>
    /// <param name="selectors">What to copy.</param>
    /// <param name="options">Options; <see cref="ReplicationOptions.Default"/> when null.</param>
    /// <param name="cancellationToken">Stops the planning.</param>
    /// <returns>The plan.</returns>
    public static ReplicationPlan Plan(
        ReplicationSnapshot snapshot, IEnumerable<ReplicationSelector> selectors, ReplicationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(selectors);
        options ??= ReplicationOptions.Default;
        var problems = ImmutableArray.CreateBuilder<string>();
        var nodes = new Dictionary<ArtifactKey, Node>();
        var queue = new Queue<ArtifactKey>();

        void Add(ArtifactKey key, ReplicationReason reason, ArtifactKey? via, string? accessoryType, string? tag)
        {
            if (!nodes.TryGetValue(key, out var node))
            {
                node = new Node(snapshot.Get(key)!, reason, via, accessoryType);
                nodes.Add(key, node);
                queue.Enqueue(key);
            }

            if (tag is not null)
            {
                node.Tags.Add(tag);
            }
        }

        foreach (var selector in selectors)
        {
            ArgumentNullException.ThrowIfNull(selector);
            if (!Select(snapshot, selector, Add))
            {
                problems.Add($"Selector {selector} selects nothing: no such artifact.");
            }
        }

        var before = new Dictionary<ArtifactKey, List<ArtifactKey>>(); // key → what must come after it
        var pending = new Dictionary<ArtifactKey, int>();
        var edges = new HashSet<(ArtifactKey, ArtifactKey)>();
        void Edge(ArtifactKey first, ArtifactKey then)
        {
            if (edges.Add((first, then)))
            {
                (before.TryGetValue(first, out var list) ? list : before[first] = []).Add(then);
                pending[then] = pending.GetValueOrDefault(then) + 1;
            }
        }

        while (queue.TryDequeue(out var key))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var artifact = nodes[key].Artifact;
            foreach (var child in artifact.Children.Distinct())
            {
                var childKey = new ArtifactKey(key.Repository, child);
                if (snapshot.Get(childKey) is null)
                {
                    problems.Add($"Index {key} lists child {child}, which is not in the store: it cannot be copied.");
                    continue;
                }

                Add(childKey, ReplicationReason.Child, key, null, null);
                Edge(childKey, key);
            }

            foreach (var link in snapshot.ReferrersOf(key))
            {
                var accessory = new ArtifactKey(link.Repository, link.Accessory);
                if ((link.Strength == ReferenceStrength.Hard || options.IncludeSoftAccessories) && snapshot.Get(accessory) is not null)
                {
                    Add(accessory, ReplicationReason.Accessory, key, link.Type, null);
                    Edge(key, accessory);
                }
            }
        }

        var order = Order(nodes.Keys, before, pending, problems, cancellationToken);
        var items = order.Select(key => Item(snapshot, nodes[key])).ToImmutableArray();
        return new ReplicationPlan(items, problems.ToImmutable());
    }

    private static bool Select(ReplicationSnapshot snapshot, ReplicationSelector selector, Action<ArtifactKey, ReplicationReason, ArtifactKey?, string?, string?> add)
    {
        if (selector is { Repository: { } repository, Reference: { } reference })
        {
            var isDigest = Digest.TryParse(reference, out var digest);
            var key = isDigest ? new ArtifactKey(repository, digest)
                : snapshot.Resolve(repository, reference) is { } tagged ? new ArtifactKey(repository, tagged)
                : default;
            if (key == default || snapshot.Get(key) is null)
            {
                return false;
            }

            add(key, ReplicationReason.Selected, null, null, isDigest ? null : reference);
            return true;
        }

        var found = false;
        foreach (var artifact in snapshot.Artifacts.OrderBy(a => a.Key, KeyOrder.Instance))
        {
            if (!selector.RepositoryPattern!.IsMatch(artifact.Repository.Value))
            {
                continue;
            }

            foreach (var tag in snapshot.UserTagsOf(artifact.Key).Where(t => selector.TagPattern!.IsMatch(t.Name)))
            {
                add(artifact.Key, ReplicationReason.Selected, null, null, tag.Name);
                found = true;
            }
        }

        return found;
    }

    /// <summary>Kahn's algorithm, always taking the smallest ready key; what a cycle leaves is appended in key order and reported.</summary>
    private static List<ArtifactKey> Order(
        IEnumerable<ArtifactKey> keys, Dictionary<ArtifactKey, List<ArtifactKey>> before, Dictionary<ArtifactKey, int> pending,
        ImmutableArray<string>.Builder problems, CancellationToken cancellationToken)
    {
        var all = keys.ToList();
        var ready = new SortedSet<ArtifactKey>(all.Where(k => !pending.ContainsKey(k)), KeyOrder.Instance);
        var order = new List<ArtifactKey>(all.Count);
        while (ready.Min is var next && ready.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ready.Remove(next);
            order.Add(next);
            foreach (var then in before.GetValueOrDefault(next) ?? [])
            {
                if (--pending[then] == 0)
                {
                    pending.Remove(then);
                    ready.Add(then);
                }
            }
        }

        if (order.Count < all.Count)
        {
            var left = all.Where(pending.ContainsKey).Order(KeyOrder.Instance).ToList();
            problems.Add($"A cycle of children and subjects among {string.Join(", ", left)}: these are listed last, in digest order.");
            order.AddRange(left);
        }

        return order;
    }

    private static ReplicationItem Item(ReplicationSnapshot snapshot, Node node)
    {
        var tags = node.Tags.Concat(snapshot.TagSchemeTagsOf(node.Artifact.Key).Select(t => t.Name)).Distinct().Order(StringComparer.Ordinal);
        var blobs = node.Artifact.References
            .Where(r => r.Kind != BlobReferenceKind.Manifest)
            .Select(r => new ReplicationBlob(r.Digest, r.Size, r.MediaType, r.Kind, r.IsForeign));
        return new ReplicationItem(node.Artifact.Key, node.Artifact.MediaType, node.Reason, node.Via, node.AccessoryType, [.. tags], [.. blobs]);
    }

    private sealed class Node(Artifact artifact, ReplicationReason reason, ArtifactKey? via, string? accessoryType)
    {
        public Artifact Artifact { get; } = artifact;

        public ReplicationReason Reason { get; } = reason;

        public ArtifactKey? Via { get; } = via;

        public string? AccessoryType { get; } = accessoryType;

        public HashSet<string> Tags { get; } = new(StringComparer.Ordinal);
    }

    private sealed class KeyOrder : IComparer<ArtifactKey>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare(ArtifactKey x, ArtifactKey y)
        {
            var byRepository = x.Repository.CompareTo(y.Repository);
            return byRepository != 0 ? byRepository : x.Digest.CompareTo(y.Digest);
        }
    }
}
