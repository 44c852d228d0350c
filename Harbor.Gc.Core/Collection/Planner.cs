using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>
/// Turns a marked graph into a <see cref="CollectionPlan"/>: dead artifacts with reasons, in execution order; dead blobs; dead
/// layer links; stale uploads.
/// </summary>
internal static class Planner
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public static CollectionPlan Plan(RegistryGraph graph, MarkResult marks, string store, DateTimeOffset now, bool deleteUntagged, TimeSpan window, CancellationToken cancellationToken)
    {
        // artifacts and blobs are planned on two cores; they only read the graph
        var blobsTask = Task.Run(() => PlanBlobs(graph, marks), cancellationToken);
        var (artifacts, manifestCount) = PlanArtifacts(graph, marks);
        var (blobs, bytes, liveBlobs, blobWarnings) = blobsTask.GetAwaiter().GetResult();
        cancellationToken.ThrowIfCancellationRequested();
        var layerLinks = PlanLayerLinks(graph, marks);
        var uploads = PlanUploads(graph, marks.Cutoff);
        var warnings = new List<PlanWarning>(graph.Warnings);
        warnings.AddRange(blobWarnings);
        return new CollectionPlan
        {
            Store = store,
            CreatedAt = now,
            DeleteUntagged = deleteUntagged,
            TimeWindow = window,
            Artifacts = artifacts,
            Blobs = blobs,
            LayerLinks = layerLinks,
            Uploads = uploads,
            Warnings = warnings,
            Summary = new PlanSummary(artifacts.Count, manifestCount, blobs.Length, bytes) { Uploads = uploads.Count, UploadBytes = uploads.Sum(u => u.Size) },
            Statistics = new GraphStatistics(graph.Repositories.Length, graph.ArtifactCount, marks.LiveArtifacts.Count(), graph.BlobCount, liveBlobs,
                graph.Tags.Length, graph.BlobReferenceCount),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private static (List<PlannedArtifact> Artifacts, int Manifests) PlanArtifacts(RegistryGraph graph, MarkResult marks)
    {
        var n = graph.ArtifactCount;
        var live = marks.LiveArtifacts;
        var deadCount = n - live.Count();
        if (deadCount == 0)
        {
            return ([], 0);
        }

        // dependencies: a dead child depends on the dead indexes listing it; a dead hard accessory on its dead subject. Edges as
        // flat (parent, dependent) pairs, then both directions as compressed rows: no list or dictionary per artifact
        var edgeParent = new List<int>();
        var edgeDependent = new List<int>();
        for (var a = 0; a < n; a++)
        {
            if (live[a])
            {
                continue;
            }

            foreach (var child in graph.ChildrenOf(a))
            {
                if (child >= 0 && !live[child])
                {
                    edgeParent.Add(a);
                    edgeDependent.Add(child);
                }
            }

            if (graph.IsHardAccessory(a) && graph.SubjectArtifact[a] is var subject and >= 0)
            {
                edgeParent.Add(subject);
                edgeDependent.Add(a);
            }
        }

        var (dependentStart, dependents) = Rows(n, edgeParent, edgeDependent);
        var (parentStart, parents) = Rows(n, edgeDependent, edgeParent);

        // tags of dead artifacts, as rows too
        var tagOwners = new List<int>();
        var tagIndexes = new List<int>();
        for (var t = 0; t < graph.Tags.Length; t++)
        {
            var a = graph.TagArtifact[t];
            if (a >= 0 && !live[a])
            {
                tagOwners.Add(a);
                tagIndexes.Add(t);
            }
        }

        var (tagStart, tagsOf) = Rows(n, tagOwners, tagIndexes);

        // stages (Kahn): parents first
        var stage = new int[n];
        var pending = new int[n];
        var queue = new Queue<int>();
        for (var a = 0; a < n; a++)
        {
            if (live[a])
            {
                continue;
            }

            pending[a] = parentStart[a + 1] - parentStart[a];
            if (pending[a] == 0)
            {
                queue.Enqueue(a);
            }
        }

        while (queue.Count > 0)
        {
            var a = queue.Dequeue();
            for (var e = dependentStart[a]; e < dependentStart[a + 1]; e++)
            {
                var d = dependents[e];
                stage[d] = Math.Max(stage[d], stage[a] + 1);
                if (--pending[d] == 0)
                {
                    queue.Enqueue(d);
                }
            }
        }

        for (var a = 0; a < n; a++)
        {
            if (pending[a] > 0)
            {
                stage[a] = int.MaxValue; // a cycle cannot happen with content addressing; if a store reports one, it runs last
            }
        }

        // order: stage, then repository name, then digest; sorted on packed keys (the digest by its 8-byte prefix, with the
        // astronomically rare equal prefixes ordered in full afterwards). Each digest is looked up once: its slot gives the
        // prefix now and the digest later. Distinct digests are counted on the way (an artifact in two repositories is one
        // manifest)
        var repoRank = RepositoryRanks(graph);
        var digests = graph.Digests;
        var sortKeys = new OrderKey[deadCount];
        var manifests = new Graph.BitSet(digests.Count);
        var manifestCount = 0;
        var k = 0;
        for (var a = 0; a < n; a++)
        {
            if (live[a])
            {
                continue;
            }

            var digest = graph.ArtifactDigest[a];
            if (manifests.Add(digest))
            {
                manifestCount++;
            }

            var slot = digests.SlotOf(digest);
            var s = stage[a] == int.MaxValue ? (uint)deadCount : (uint)stage[a];
            sortKeys[k++] = new OrderKey(((ulong)s << 32) | (uint)repoRank[graph.ArtifactRepo[a]], digests.PrefixAt(slot, digest), a, slot);
        }

        sortKeys.AsSpan().Sort(default(OrderKeyComparer));
        for (var i = 1; i < sortKeys.Length; i++)
        {
            if (sortKeys[i].Group == sortKeys[i - 1].Group && sortKeys[i].Prefix == sortKeys[i - 1].Prefix)
            {
                var start = i - 1;
                while (i < sortKeys.Length && sortKeys[i].Group == sortKeys[start].Group && sortKeys[i].Prefix == sortKeys[start].Prefix)
                {
                    i++;
                }

                sortKeys.AsSpan(start, i - start).Sort((x, y) => digests[graph.ArtifactDigest[x.Artifact]].CompareTo(digests[graph.ArtifactDigest[y.Artifact]]));
            }
        }

        var result = new List<PlannedArtifact>(deadCount);
        foreach (var key in sortKeys)
        {
            var a = key.Artifact;
            var link = graph.LinkOf(a);
            var hard = graph.IsHardAccessory(a);
            var parentCount = parentStart[a + 1] - parentStart[a];
            var reason = hard
                ? graph.SubjectArtifact[a] >= 0 ? DeletionReason.AccessoryOfDeletedSubject : DeletionReason.OrphanAccessory
                : parentCount > 0 ? DeletionReason.ChildOfDeletedIndex
                : (graph.Flags[a] & ArtifactFlags.Trashed) != 0 ? DeletionReason.DeletedInHarbor
                : DeletionReason.Untagged;
            var tagCount = tagStart[a + 1] - tagStart[a];
            var names = ImmutableArray<string>.Empty;
            if (tagCount > 0)
            {
                var array = new string[tagCount];
                for (var t = 0; t < tagCount; t++)
                {
                    array[t] = graph.Tags[tagsOf[tagStart[a] + t]].Name;
                }

                Array.Sort(array, StringComparer.Ordinal);
                names = ImmutableCollectionsMarshal.AsImmutableArray(array);
            }

            var dependsOn = ImmutableArray<ArtifactKey>.Empty;
            if (parentCount > 0)
            {
                var array = new ArtifactKey[parentCount];
                for (var e = 0; e < parentCount; e++)
                {
                    array[e] = graph.KeyOf(parents[parentStart[a] + e]);
                }

                dependsOn = ImmutableCollectionsMarshal.AsImmutableArray(array);
            }

            var artifactKey = new ArtifactKey(graph.Repositories[graph.ArtifactRepo[a]], digests.At(key.Slot, graph.ArtifactDigest[a]));
            result.Add(new PlannedArtifact(artifactKey, graph.ArtifactMediaType[a], graph.ArtifactSize[a], names, reason,
                link?.Type, link?.Subject, graph.ArtifactVersion[a])
            {
                DependsOn = dependsOn,
                Stage = stage[a] == int.MaxValue ? deadCount : stage[a],
            });
        }

        return (result, manifestCount);
    }

    /// <summary>
    /// Groups pairs by their first element into compressed rows: the values of <c>i</c> are <c>values[start[i]..start[i + 1]]</c>,
    /// in the order the pairs came.
    /// </summary>
    private static (int[] Start, int[] Values) Rows(int n, List<int> owners, List<int> values)
    {
        var start = new int[n + 1];
        foreach (var owner in owners)
        {
            start[owner + 1]++;
        }

        for (var i = 0; i < n; i++)
        {
            start[i + 1] += start[i];
        }

        var fill = new int[n];
        var rows = new int[values.Count];
        for (var i = 0; i < owners.Count; i++)
        {
            var owner = owners[i];
            rows[start[owner] + fill[owner]++] = values[i];
        }

        return (start, rows);
    }

    private static int[] RepositoryRanks(RegistryGraph graph)
    {
        var byName = Enumerable.Range(0, graph.Repositories.Length).ToArray();
        Array.Sort(byName, (x, y) => graph.Repositories[x].CompareTo(graph.Repositories[y]));
        var rank = new int[byName.Length];
        for (var i = 0; i < byName.Length; i++)
        {
            rank[byName[i]] = i;
        }

        return rank;
    }

    /// <summary>After sorting by the 8-byte digest prefix, orders the (astronomically rare) runs of equal prefixes in full.</summary>
    internal static void SortTies<T>(ulong[] keys, T[] items, Func<T, Digest> digestOf)
    {
        for (var i = 1; i < keys.Length; i++)
        {
            if (keys[i] != keys[i - 1])
            {
                continue;
            }

            var start = i - 1;
            while (i < keys.Length && keys[i] == keys[start])
            {
                i++;
            }

            Array.Sort(items, start, i - start, Comparer<T>.Create((x, y) => digestOf(x).CompareTo(digestOf(y))));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private static BlobPlan PlanBlobs(RegistryGraph graph, MarkResult marks)
    {
        // one pass over the blob records: the dead, the live, and live blobs an earlier run already began to delete
        var live = marks.LiveDigests;
        var statuses = graph.BlobStatuses;
        var blobDigest = graph.BlobDigest;
        var deadDigests = new BitSet(graph.Digests.Count);
        var deadCount = 0;
        var oneRecordEach = true;
        var liveCount = 0;
        var bytes = 0L;
        List<PlanWarning>? warnings = null;
        for (var b = 0; b < graph.BlobCount; b++)
        {
            var committed = IsCommittedToDeletion(statuses[b]);
            if (live[blobDigest[b]])
            {
                liveCount++;
                if (committed)
                {
                    (warnings ??= []).Add(new PlanWarning(graph.Digests[blobDigest[b]].ToString(),
                        $"a live artifact references this blob, but its status is {statuses[b]}: its bytes may be gone"));
                }
            }
            else if (IsDeadBlob(graph, marks, b))
            {
                deadCount++;
                bytes += graph.BlobSize[b];
                oneRecordEach &= deadDigests.Add(blobDigest[b]);
            }
        }

        // the dead blobs in digest order (by the 8-byte prefix; equal prefixes are ordered in full below), each with its digest's
        // table slot, so each record is built with one look-up
        var digests = graph.Digests;
        ulong[] keys;
        int[] slots;
        int[] order; // the blob of each place
        if (oneRecordEach)
        {
            // from one pass over the digest table, each digest's record through the digest's blob
            (var ids, keys, slots) = digests.InPrefixOrder(deadDigests, deadCount);
            order = new int[ids.Length];
            for (var i = 0; i < order.Length; i++)
            {
                order[i] = graph.DigestToBlob[ids[i]];
            }
        }
        else
        {
            // a store that listed a blob twice: each record planned, sorted
            order = new int[deadCount];
            keys = new ulong[deadCount];
            for (int b = 0, i = 0; b < graph.BlobCount; b++)
            {
                if (IsDeadBlob(graph, marks, b))
                {
                    order[i] = b;
                    keys[i++] = digests.PrefixOf(blobDigest[b]);
                }
            }

            Array.Sort(keys, order);
            slots = [.. order.Select(b => digests.SlotOf(blobDigest[b]))];
        }

        var owners = new BlobOwners(graph, marks, deadDigests, deadCount);
        var result = new PlannedBlob[deadCount];
        for (var i = 0; i < result.Length; i++)
        {
            var b = order[i];
            result[i] = new PlannedBlob(digests.At(slots[i], blobDigest[b]), graph.BlobSize[b], new DateTimeOffset(graph.BlobTouched[b], TimeSpan.Zero), statuses[b])
            {
                Repositories = owners.Of(blobDigest[b]),
            };
        }

        SortTies(keys, result, static x => x.Digest);
        return new BlobPlan(result, bytes, liveCount, warnings ?? []);
    }

    /// <summary>
    /// The repositories of the dead artifacts that reference each dead blob (<see cref="PlannedBlob.Repositories"/>, for the
    /// per-repository report): one pass over the dead artifacts' references notes, per digest, its one repository or that it
    /// has several; only digests with several (few: a layer shared across dead repositories) get a second pass that lists them.
    /// The one-repository answer, by far the most common, is one shared array per repository.
    /// </summary>
    private sealed class BlobOwners
    {
        private const int Several = -1; // an owner entry: 0 none, r + 1 repository r alone, Several more than one

        private readonly RegistryGraph _graph;
        private readonly int[] _owner;
        private readonly Dictionary<int, ImmutableArray<RepositoryName>> _several = [];
        private readonly ImmutableArray<RepositoryName>[] _single;

        /// <param name="graph">The graph.</param>
        /// <param name="marks">What is live.</param>
        /// <param name="deadDigests">The dead blobs' digests: only they are asked about (a live base layer is never listed).</param>
        /// <param name="deadCount">The number of dead blobs.</param>
        public BlobOwners(RegistryGraph graph, MarkResult marks, BitSet deadDigests, int deadCount)
        {
            _graph = graph;
            _single = new ImmutableArray<RepositoryName>[graph.Repositories.Length];
            _owner = deadCount == 0 ? [] : new int[graph.Digests.Count];
            if (deadCount == 0)
            {
                return;
            }

            var live = marks.LiveArtifacts;
            var anySeveral = false;
            for (var a = 0; a < graph.ArtifactCount; a++)
            {
                if (live[a])
                {
                    continue;
                }

                var repository = graph.ArtifactRepo[a] + 1;
                foreach (var d in graph.RefsOf(a))
                {
                    if (d < 0 || !deadDigests[d])
                    {
                        continue;
                    }

                    var owner = _owner[d];
                    if (owner == 0)
                    {
                        _owner[d] = repository;
                    }
                    else if (owner != repository && owner != Several)
                    {
                        _owner[d] = Several;
                        anySeveral = true;
                    }
                }
            }

            if (anySeveral)
            {
                ListSeveral(marks);
            }
        }

        public ImmutableArray<RepositoryName> Of(int digest)
        {
            var owner = digest < _owner.Length ? _owner[digest] : 0;
            if (owner == 0)
            {
                return [];
            }

            if (owner == Several)
            {
                return _several[digest];
            }

            ref var single = ref _single[owner - 1];
            return single.IsDefault ? single = [_graph.Repositories[owner - 1]] : single;
        }

        private void ListSeveral(MarkResult marks)
        {
            var names = new Dictionary<int, SortedSet<RepositoryName>>();
            var live = marks.LiveArtifacts;
            for (var a = 0; a < _graph.ArtifactCount; a++)
            {
                if (live[a])
                {
                    continue;
                }

                foreach (var d in _graph.RefsOf(a))
                {
                    if (d >= 0 && _owner[d] == Several)
                    {
                        if (!names.TryGetValue(d, out var set))
                        {
                            names[d] = set = [];
                        }

                        set.Add(_graph.Repositories[_graph.ArtifactRepo[a]]);
                    }
                }
            }

            foreach (var (digest, set) in names)
            {
                _several[digest] = [.. set];
            }
        }
    }

    private sealed record BlobPlan(PlannedBlob[] Blobs, long Bytes, int LiveBlobs, List<PlanWarning> Warnings);

    /// <summary>
    /// A blob is dead when no live artifact references it and it was not touched within the time window, or when an earlier run
    /// already committed to deleting it (<see cref="BlobStatus.Deleting"/> or later): those are finished, never stranded.
    /// </summary>
    internal static bool IsDeadBlob(RegistryGraph graph, MarkResult marks, int blob) =>
        !marks.LiveDigests[graph.BlobDigest[blob]] &&
        ((graph.BlobTouched[blob] < marks.Cutoff && !marks.LinkedWithinWindow[graph.BlobDigest[blob]]) || IsCommittedToDeletion(graph.BlobStatuses[blob]));

    /// <summary>Whether an earlier run already began deleting a blob in this status (its bytes may be gone).</summary>
    private static bool IsCommittedToDeletion(BlobStatus status) => status is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed;

    private static List<LayerLink> PlanLayerLinks(RegistryGraph graph, MarkResult marks)
    {
        if (graph.LayerLinks.Length == 0)
        {
            return [];
        }

        var linkedRepos = new HashSet<int>(graph.LayerLinkRepo);
        var liveInRepo = new HashSet<long>();
        for (var a = 0; a < graph.ArtifactCount; a++)
        {
            if (marks.LiveArtifacts[a] && linkedRepos.Contains(graph.ArtifactRepo[a]))
            {
                foreach (var d in graph.RefsOf(a))
                {
                    liveInRepo.Add(RegistryGraph.ArtifactKeyOf(graph.ArtifactRepo[a], d));
                }
            }
        }

        var result = new List<LayerLink>();
        for (var i = 0; i < graph.LayerLinks.Length; i++)
        {
            if (graph.LayerLinks[i].CreatedAt.UtcTicks < marks.Cutoff &&
                !liveInRepo.Contains(RegistryGraph.ArtifactKeyOf(graph.LayerLinkRepo[i], graph.LayerLinkDigest[i])))
            {
                result.Add(graph.LayerLinks[i]);
            }
        }

        result.Sort((x, y) =>
        {
            var c = x.Repository.CompareTo(y.Repository);
            return c != 0 ? c : x.Digest.CompareTo(y.Digest);
        });
        return result;
    }

    /// <summary>
    /// An upload is stale when it started before the cutoff and was last written before it: an old upload still receiving
    /// chunks is live. One whose start the store could not read is dated by its last write alone (the store reported why).
    /// </summary>
    internal static bool IsStaleUpload(BlobUpload upload, long cutoff) =>
        upload.LastWrittenAt.UtcTicks < cutoff && (upload.StartedAt is not { } started || started.UtcTicks < cutoff);

    private static List<BlobUpload> PlanUploads(RegistryGraph graph, long cutoff)
    {
        var result = graph.Uploads.Where(u => IsStaleUpload(u, cutoff)).ToList();
        result.Sort((x, y) =>
        {
            var c = Nullable.Compare(x.Repository, y.Repository);
            return c != 0 ? c : string.CompareOrdinal(x.Id, y.Id);
        });
        return result;
    }

    private readonly record struct OrderKey(ulong Group, ulong Prefix, int Artifact, int Slot);

    private readonly struct OrderKeyComparer : IComparer<OrderKey>
    {
        public int Compare(OrderKey x, OrderKey y)
        {
            var c = x.Group.CompareTo(y.Group);
            return c != 0 ? c : x.Prefix.CompareTo(y.Prefix);
        }
    }
}
