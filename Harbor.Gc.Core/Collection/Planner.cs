using System.Collections.Immutable;
using System.Runtime.CompilerServices;
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
        var artifacts = PlanArtifacts(graph, marks);
        var (blobs, bytes) = blobsTask.GetAwaiter().GetResult();
        cancellationToken.ThrowIfCancellationRequested();
        var manifests = new Graph.BitSet(graph.Digests.Count);
        var manifestCount = 0;
        foreach (var a in artifacts)
        {
            if (graph.Digests.TryGet(a.Key.Digest, out var d) && manifests.Add(d))
            {
                manifestCount++;
            }
        }
        var layerLinks = PlanLayerLinks(graph, marks);
        var uploads = PlanUploads(graph, marks.Cutoff);
        var warnings = new List<PlanWarning>(graph.Warnings);
        for (var b = 0; b < graph.BlobCount; b++)
        {
            if (graph.BlobStatuses[b] is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed && marks.LiveDigests[graph.BlobDigest[b]])
            {
                warnings.Add(new PlanWarning(graph.Digests[graph.BlobDigest[b]].ToString(),
                    $"a live artifact references this blob, but its status is {graph.BlobStatuses[b]}: its bytes may be gone"));
            }
        }

        var liveBlobs = 0;
        for (var b = 0; b < graph.BlobCount; b++)
        {
            if (marks.LiveDigests[graph.BlobDigest[b]])
            {
                liveBlobs++;
            }
        }

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
    private static List<PlannedArtifact> PlanArtifacts(RegistryGraph graph, MarkResult marks)
    {
        var n = graph.ArtifactCount;
        var live = marks.LiveArtifacts;
        var deadCount = n - live.Count();
        if (deadCount == 0)
        {
            return [];
        }

        // dependencies: a dead child depends on the dead indexes listing it; a dead hard accessory on its dead subject
        var dependents = new Dictionary<int, List<int>>();
        var dependsOn = new Dictionary<int, List<int>>();
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
                    AddEdge(a, child);
                }
            }

            if (graph.IsHardAccessory(a) && graph.SubjectArtifact[a] is var subject and >= 0)
            {
                AddEdge(subject, a);
            }
        }

        // tags of dead artifacts
        var tags = new Dictionary<int, List<string>>();
        for (var t = 0; t < graph.Tags.Length; t++)
        {
            var a = graph.TagArtifact[t];
            if (a >= 0 && !live[a])
            {
                if (!tags.TryGetValue(a, out var names))
                {
                    tags[a] = names = [];
                }

                names.Add(graph.Tags[t].Name);
            }
        }

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

            pending[a] = dependsOn.TryGetValue(a, out var p) ? p.Count : 0;
            if (pending[a] == 0)
            {
                queue.Enqueue(a);
            }
        }

        while (queue.Count > 0)
        {
            var a = queue.Dequeue();
            if (!dependents.TryGetValue(a, out var list))
            {
                continue;
            }

            foreach (var d in list)
            {
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

        var repoRank = RepositoryRanks(graph);
        var order = new int[deadCount];
        var k = 0;
        for (var a = 0; a < n; a++)
        {
            if (!live[a])
            {
                order[k++] = a;
            }
        }

        // order: stage, then repository name, then digest; sorted on packed keys (the digest by its 8-byte prefix, with the
        // astronomically rare equal prefixes ordered in full afterwards)
        var digests = graph.Digests;
        var sortKeys = new OrderKey[deadCount];
        for (var i = 0; i < order.Length; i++)
        {
            var a = order[i];
            var s = stage[a] == int.MaxValue ? (uint)deadCount : (uint)stage[a];
            sortKeys[i] = new OrderKey(((ulong)s << 32) | (uint)repoRank[graph.ArtifactRepo[a]], digests.PrefixOf(graph.ArtifactDigest[a]), a);
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

        for (var i = 0; i < order.Length; i++)
        {
            order[i] = sortKeys[i].Artifact;
        }

        var result = new List<PlannedArtifact>(deadCount);
        foreach (var a in order)
        {
            var link = graph.LinkOf(a);
            var hard = graph.IsHardAccessory(a);
            var reason = hard
                ? graph.SubjectArtifact[a] >= 0 ? DeletionReason.AccessoryOfDeletedSubject : DeletionReason.OrphanAccessory
                : dependsOn.ContainsKey(a) ? DeletionReason.ChildOfDeletedIndex
                : DeletionReason.Untagged;
            var names = tags.TryGetValue(a, out var tagList) ? [.. tagList.Order(StringComparer.Ordinal)] : ImmutableArray<string>.Empty;
            var parents = dependsOn.TryGetValue(a, out var p) ? [.. p.Select(graph.KeyOf)] : ImmutableArray<ArtifactKey>.Empty;
            result.Add(new PlannedArtifact(graph.KeyOf(a), graph.ArtifactMediaType[a], graph.ArtifactSize[a], names, reason,
                link?.Type, link?.Subject, graph.ArtifactVersion[a])
            {
                DependsOn = parents,
                Stage = stage[a] == int.MaxValue ? deadCount : stage[a],
            });
        }

        return result;

        void AddEdge(int parent, int dependent)
        {
            if (!dependents.TryGetValue(parent, out var list))
            {
                dependents[parent] = list = [];
            }

            list.Add(dependent);
            if (!dependsOn.TryGetValue(dependent, out var parents))
            {
                dependsOn[dependent] = parents = [];
            }

            parents.Add(parent);
        }
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
    private static (PlannedBlob[] Blobs, long Bytes) PlanBlobs(RegistryGraph graph, MarkResult marks)
    {
        var dead = new List<int>();
        for (var b = 0; b < graph.BlobCount; b++)
        {
            if (IsDeadBlob(graph, marks, b))
            {
                dead.Add(b);
            }
        }

        // sort blob indexes by the digest's 8-byte prefix, then build the records in that order
        var order = dead.ToArray();
        var keys = new ulong[order.Length];
        var bytes = 0L;
        for (var i = 0; i < order.Length; i++)
        {
            bytes += graph.BlobSize[order[i]];
            keys[i] = graph.Digests.PrefixOf(graph.BlobDigest[order[i]]);
        }

        Array.Sort(keys, order);
        var result = new PlannedBlob[order.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var b = order[i];
            result[i] = new PlannedBlob(graph.Digests[graph.BlobDigest[b]], graph.BlobSize[b], new DateTimeOffset(graph.BlobTouched[b], TimeSpan.Zero), graph.BlobStatuses[b]);
        }

        SortTies(keys, result, static x => x.Digest);
        return (result, bytes);
    }

    /// <summary>
    /// A blob is dead when no live artifact references it and it was not touched within the time window, or when an earlier run
    /// already committed to deleting it (<see cref="BlobStatus.Deleting"/> or later): those are finished, never stranded.
    /// </summary>
    internal static bool IsDeadBlob(RegistryGraph graph, MarkResult marks, int blob) =>
        !marks.LiveDigests[graph.BlobDigest[blob]] &&
        (graph.BlobTouched[blob] < marks.Cutoff || graph.BlobStatuses[blob] is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed);

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
            var c = x.Repository.CompareTo(y.Repository);
            return c != 0 ? c : string.CompareOrdinal(x.Id, y.Id);
        });
        return result;
    }

    private readonly record struct OrderKey(ulong Group, ulong Prefix, int Artifact);

    private readonly struct OrderKeyComparer : IComparer<OrderKey>
    {
        public int Compare(OrderKey x, OrderKey y)
        {
            var c = x.Group.CompareTo(y.Group);
            return c != 0 ? c : x.Prefix.CompareTo(y.Prefix);
        }
    }
}
