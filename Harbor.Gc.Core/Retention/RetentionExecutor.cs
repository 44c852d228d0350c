using System.Collections.Immutable;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Retention;

/// <summary>
/// Carries out a <see cref="RetentionPlan"/> against a store (DESIGN.md §6, §7): deletes every artifact of
/// <see cref="RetentionPlan.DeleteOrder"/>, each a compare-and-swap on the version the snapshot saw. Works on every <see cref="IRegistryStore"/>:
/// the in-memory and LiteDB stores, and the Distribution layout (which deletes an artifact's tags, then its revision link).
/// Blobs are never deleted here: the next GC run frees what the deleted artifacts alone referenced.
/// </summary>
/// <remarks>
/// <para>Order, for crash safety: a subject before its hard accessories, an index before its children (the registry API's
/// order, DESIGN.md §7; the plan's <see cref="RetentionPlan.DeleteOrder"/> lists accessories first and is reordered here). A run
/// interrupted at any point leaves no index with a missing child and no deleted subject's accessory that GC would keep: what
/// remains of a cascade is orphan hard accessories and untagged children no index lists, which the next GC run collects (with
/// delete untagged on, once outside its time window). Deleting accessories first would instead strip the signatures of a subject
/// that then turns out to have changed since the snapshot and must be kept.</para>
/// <para>Re-checks, per artifact, before it goes: everything that must go first did go (the subject it is a hard accessory of,
/// and every index that lists it, so a kept subject keeps its accessories and a kept index its children); no immutable tag rule
/// protects its user tags, those of its subject chain or those of its own hard accessories (the rules given here, checked again at execution time, so a plan made
/// without them cannot delete what they protect); then the store's compare-and-swap on the snapshot's version refuses it when it
/// changed since the snapshot (tagged, pushed again, listed by a new index). Every refusal keeps the artifact, and everything
/// that follows it, and is reported as skipped.</para>
/// <para>What remains racy: an accessory tagged after the snapshot, when its subject is deleted first, is refused by its own
/// compare-and-swap and stays as an orphan accessory (GC collects it, as it would any accessory of a deleted subject).</para>
/// </remarks>
public static class RetentionExecutor
{
    /// <summary>Deletes what the plan deletes, with the re-checks above.</summary>
    /// <param name="plan">The plan, evaluated over <paramref name="snapshot"/>.</param>
    /// <param name="snapshot">The snapshot the plan was made from (its versions are the compare-and-swap's).</param>
    /// <param name="store">The store the snapshot was read from.</param>
    /// <param name="immutability">The immutable tag rules; none when null.</param>
    /// <param name="cancellationToken">Stops before the next deletion; the result then says <see cref="RetentionExecution.Stopped"/>.</param>
    /// <returns>What was deleted and what was kept.</returns>
    public static async ValueTask<RetentionExecution> ExecuteAsync(
        RetentionPlan plan,
        RetentionSnapshot snapshot,
        IRegistryStore store,
        ImmutabilityRules? immutability = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(store);
        immutability ??= ImmutabilityRules.None;
        var planned = plan.DeleteOrder.ToHashSet();
        var views = new Dictionary<RepositoryName, RepositoryView?>();
        RepositoryView? View(RepositoryName repository)
        {
            if (!views.TryGetValue(repository, out var view))
            {
                view = snapshot.TryGet(repository, out var content) ? new RepositoryView(content) : null;
                views.Add(repository, view);
            }

            return view;
        }

        var gone = new HashSet<ArtifactKey>();
        var deleted = ImmutableArray.CreateBuilder<ArtifactKey>();
        var alreadyGone = ImmutableArray.CreateBuilder<ArtifactKey>();
        var skipped = ImmutableArray.CreateBuilder<SkippedArtifact>();
        foreach (var key in ExecutionOrder(plan.DeleteOrder, View))
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return Stopped(store, deleted, alreadyGone, skipped);
            }

            var view = View(key.Repository);
            if (view is null || !view.Content.Index.TryGetValue(key.Digest, out var row))
            {
                skipped.Add(new SkippedArtifact(key, RetentionSkipReason.NotInSnapshot, "the snapshot holds no such artifact"));
                continue;
            }

            if (Check(key, view, planned, gone, immutability) is { } refusal)
            {
                skipped.Add(refusal);
                continue;
            }

            ArtifactDeleteOutcome outcome;
            try
            {
                outcome = await store.DeleteArtifactAsync(key, view.Content.Artifacts[row].Version, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Stopped(store, deleted, alreadyGone, skipped);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                skipped.Add(new SkippedArtifact(key, RetentionSkipReason.Failed, e.Message));
                continue;
            }

            switch (outcome)
            {
                case ArtifactDeleteOutcome.Deleted:
                    deleted.Add(key);
                    gone.Add(key);
                    break;
                case ArtifactDeleteOutcome.NotFound:
                    alreadyGone.Add(key);
                    gone.Add(key);
                    break;
                default:
                    skipped.Add(new SkippedArtifact(key, RetentionSkipReason.Changed, "it changed since the snapshot (tagged, pushed again or listed by a new index)"));
                    break;
            }
        }

        if (store is IDeferredSweepStore deferred)
        {
            // the Distribution layout made each artifact invisible; now, after the grace period and a re-read, it deletes them or
            // puts back what something needs again
            var settlement = await deferred.SettleAsync(NoObserver.Instance, null, cancellationToken).ConfigureAwait(false);
            var final = settlement.DeletedArtifacts.ToHashSet();
            var failed = settlement.FailedArtifacts.ToDictionary(f => f.Key, f => f.Error);
            foreach (var key in deleted.Where(k => !final.Contains(k)))
            {
                skipped.Add(failed.TryGetValue(key, out var error) ? new SkippedArtifact(key, RetentionSkipReason.Failed, error)
                    : settlement.Stopped ? new SkippedArtifact(key, RetentionSkipReason.Changed, "the run stopped before it was deleted: put back")
                    : new SkippedArtifact(key, RetentionSkipReason.Changed, "something needed it again after the grace period (tagged, listed by an index, or pushed again): put back"));
            }

            return new RetentionExecution([.. deleted.Where(final.Contains)], alreadyGone.ToImmutable(), skipped.ToImmutable(), settlement.Stopped);
        }

        return new RetentionExecution(deleted.ToImmutable(), alreadyGone.ToImmutable(), skipped.ToImmutable(), Stopped: false);
    }

    /// <summary>A stopped execution; on a store that defers deletions, everything made invisible is put back first.</summary>
    private static RetentionExecution Stopped(IRegistryStore store, ImmutableArray<ArtifactKey>.Builder deleted, ImmutableArray<ArtifactKey>.Builder alreadyGone,
        ImmutableArray<SkippedArtifact>.Builder skipped)
    {
        if (store is IDeferredSweepStore deferred)
        {
            deferred.Abandon();
            skipped.AddRange(deleted.Select(k => new SkippedArtifact(k, RetentionSkipReason.Changed, "the run stopped before it was deleted: put back")));
            deleted.Clear();
        }

        return new RetentionExecution(deleted.ToImmutable(), alreadyGone.ToImmutable(), skipped.ToImmutable(), Stopped: true);
    }

    private sealed class NoObserver : ISweepObserver
    {
        public static readonly NoObserver Instance = new();

        public void ArtifactDeleted(ArtifactKey key)
        {
        }

        public void BlobDeleted(Digest digest)
        {
        }

        public void LayerLinkDeleted(LayerLink link)
        {
        }
    }

    private static SkippedArtifact? Check(ArtifactKey key, RepositoryView view, HashSet<ArtifactKey> planned, HashSet<ArtifactKey> gone, ImmutabilityRules immutability)
    {
        if (view.Subject(key.Digest) is { } subject && view.Content.Index.ContainsKey(subject) && !gone.Contains(new ArtifactKey(key.Repository, subject)))
        {
            return planned.Contains(new ArtifactKey(key.Repository, subject))
                ? new SkippedArtifact(key, RetentionSkipReason.Dependent, $"its subject {subject} was kept")
                : new SkippedArtifact(key, RetentionSkipReason.SubjectKept, $"it is a hard accessory of {subject}, which is retained");
        }

        foreach (var parent in view.Parents(key.Digest))
        {
            if (!gone.Contains(new ArtifactKey(key.Repository, parent)))
            {
                return new SkippedArtifact(key, RetentionSkipReason.Dependent, $"the index {parent} that lists it was kept");
            }
        }

        if (immutability.IsEmpty)
        {
            return null;
        }

        var seen = new HashSet<Digest>();
        for (Digest? current = key.Digest; current is { } digest && seen.Add(digest); current = view.Subject(digest))
        {
            if (immutability.FindImmutableTag(key.Repository, view.Tags(digest)) is { } hit)
            {
                var whose = digest == key.Digest ? "its tag" : $"the tag of its subject {digest}";
                return new SkippedArtifact(key, RetentionSkipReason.Immutable, $"{whose} {hit.Tag} is immutable under rule '{hit.Rule}'");
            }
        }

        // an accessory with an immutable tag of its own pins its subject: deleting the subject would orphan it
        var pending = new Stack<Digest>(view.Accessories(key.Digest));
        while (pending.TryPop(out var accessory))
        {
            if (seen.Add(accessory))
            {
                if (immutability.FindImmutableTag(key.Repository, view.Tags(accessory)) is { } hit)
                {
                    return new SkippedArtifact(key, RetentionSkipReason.Immutable, $"the tag {hit.Tag} of its accessory {accessory} is immutable under rule '{hit.Rule}'");
                }

                foreach (var next in view.Accessories(accessory))
                {
                    pending.Push(next);
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The plan's artifacts reordered so a subject precedes its hard accessories and an index its children (a topological order
    /// of those edges among the planned artifacts, ties in the plan's order, so it is deterministic).
    /// </summary>
    private static List<ArtifactKey> ExecutionOrder(ImmutableArray<ArtifactKey> deleteOrder, Func<RepositoryName, RepositoryView?> views)
    {
        var position = new Dictionary<ArtifactKey, int>(deleteOrder.Length);
        foreach (var key in deleteOrder)
        {
            position.TryAdd(key, position.Count);
        }

        var keys = position.Keys.ToArray();
        var waiting = new int[keys.Length];
        var next = new List<int>?[keys.Length];
        void Edge(ArtifactKey from, int to)
        {
            if (position.TryGetValue(from, out var f) && f != to)
            {
                (next[f] ??= []).Add(to);
                waiting[to]++;
            }
        }

        for (var i = 0; i < keys.Length; i++)
        {
            var key = keys[i];
            if (views(key.Repository) is not { } view)
            {
                continue;
            }

            if (view.Subject(key.Digest) is { } subject)
            {
                Edge(new ArtifactKey(key.Repository, subject), i);
            }

            foreach (var parent in view.Parents(key.Digest))
            {
                Edge(new ArtifactKey(key.Repository, parent), i);
            }
        }

        var ready = new PriorityQueue<int, int>();
        for (var i = 0; i < keys.Length; i++)
        {
            if (waiting[i] == 0)
            {
                ready.Enqueue(i, i);
            }
        }

        var order = new List<ArtifactKey>(keys.Length);
        while (ready.TryDequeue(out var i, out _))
        {
            order.Add(keys[i]);
            foreach (var j in (IEnumerable<int>?)next[i] ?? [])
            {
                if (--waiting[j] == 0)
                {
                    ready.Enqueue(j, j);
                }
            }
        }

        // A cycle (a malformed registry: an accessory chain or index listing that loops) cannot be ordered: its members come
        // last in the plan's order, and the re-checks keep them.
        order.AddRange(keys.Where((_, i) => waiting[i] > 0));
        return order;
    }

    /// <summary>One repository of the snapshot, indexed for the re-checks: tags, hard links and parents by digest.</summary>
    private sealed class RepositoryView
    {
        private readonly Dictionary<Digest, List<string>> _tags = [];
        private readonly Dictionary<Digest, Digest> _subjects = [];
        private readonly Dictionary<Digest, List<Digest>> _accessories = [];
        private readonly Dictionary<Digest, List<Digest>> _parents = [];

        internal RepositoryView(RetentionSnapshot.RepositoryContent content)
        {
            Content = content;
            foreach (var tag in content.Tags)
            {
                Add(_tags, tag.Digest, tag.Name);
            }

            foreach (var link in content.Links)
            {
                if (link.Strength == ReferenceStrength.Hard && link.Accessory != link.Subject && _subjects.TryAdd(link.Accessory, link.Subject))
                {
                    Add(_accessories, link.Subject, link.Accessory);
                }
            }

            foreach (var artifact in content.Artifacts)
            {
                foreach (var child in artifact.Children.Distinct())
                {
                    if (child != artifact.Digest)
                    {
                        Add(_parents, child, artifact.Digest);
                    }
                }
            }
        }

        internal RetentionSnapshot.RepositoryContent Content { get; }

        internal IReadOnlyList<string> Tags(Digest digest) => _tags.TryGetValue(digest, out var list) ? list : [];

        internal Digest? Subject(Digest accessory) => _subjects.TryGetValue(accessory, out var subject) ? subject : null;

        /// <summary>The hard accessories of a subject that the snapshot holds.</summary>
        internal IEnumerable<Digest> Accessories(Digest subject) =>
            _accessories.TryGetValue(subject, out var list) ? list.Where(Content.Index.ContainsKey) : [];

        internal IReadOnlyList<Digest> Parents(Digest child) => _parents.TryGetValue(child, out var list) ? list : [];

        private static void Add<T>(Dictionary<Digest, List<T>> map, Digest key, T value)
        {
            if (!map.TryGetValue(key, out var list))
            {
                map[key] = list = [];
            }

            list.Add(value);
        }
    }
}
