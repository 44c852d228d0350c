using System.Globalization;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Postgres;

namespace Harbor.Gc.Collection;

/// <summary>
/// Where Harbor's own GC, run with the plan's delete-untagged setting on the same database, would decide differently from the plan
/// (DESIGN.md §5, "Where we deliberately differ from Harbor"); each difference names the Harbor source it comes from.
/// </summary>
internal static class HarborComparison
{
    private const string DeletedArt = "deletedArt in src/jobservice/job/impl/gc/garbage_collection.go";

    /// <summary>The differences, in a stable order: by kind, then item.</summary>
    /// <param name="graph">The graph the plan was made from.</param>
    /// <param name="marks">The plan's marks.</param>
    /// <param name="bareMarks">Marks the same graph with delete-untagged on and a time window of 0 (called only when needed).</param>
    /// <param name="plan">The plan.</param>
    /// <param name="facts">What Harbor's GC reads of its database.</param>
    public static List<HarborDifference> Compare(RegistryGraph graph, MarkResult marks, Func<MarkResult> bareMarks, CollectionPlan plan, HarborFacts facts)
    {
        var result = new List<HarborDifference>();
        var repositories = new Dictionary<RepositoryName, int>();
        for (var r = 0; r < graph.Repositories.Length; r++)
        {
            repositories[graph.Repositories[r]] = r;
        }

        int Find(ArtifactKey key) =>
            repositories.TryGetValue(key.Repository, out var r) && graph.Digests.TryGet(key.Digest, out var d) && graph.TryGetArtifact(r, d, out var a) ? a : -1;

        var candidates = facts.UntaggedCandidates.OrderBy(k => k.Repository).ThenBy(k => k.Digest).ToList();
        if (plan.DeleteUntagged && plan.TimeWindow > TimeSpan.Zero)
        {
            WithinWindow(graph, marks, bareMarks(), candidates.Select(Find).Where(a => a >= 0), plan.TimeWindow, result);
        }

        if (plan.DeleteUntagged)
        {
            DryRunOverCounts(graph, marks, plan, facts, candidates, result);
        }

        foreach (var artifact in plan.Artifacts.Where(a => facts.OrphanAccessories.Contains(a.Key)))
        {
            // an accessory is never in deletedArt's list (notacc in querySetter, src/pkg/artifact/dao/dao.go), and only a deleted
            // subject takes its accessories with it (deleteDeeply in src/controller/artifact/controller.go)
            result.Add(new HarborDifference(HarborDifferenceKind.HarborKeepsOrphanAccessory, artifact.Key.ToString(), artifact.Size,
                $"Harbor's GC never collects this orphan {artifact.AccessoryType} accessory (its subject {artifact.Subject} is not in Harbor's database): "
                + $"{DeletedArt} lists no accessory (notacc in querySetter, src/pkg/artifact/dao/dao.go), and only a deleted subject takes its accessories "
                + "(deleteDeeply, src/controller/artifact/controller.go); this plan collects it"));
        }

        return result;
    }

    /// <summary>
    /// Untagged artifacts Harbor deletes with no time window (goharbor/harbor#21266), that this plan keeps only because of its window:
    /// live in the plan, dead when the same graph is marked with a window of 0; with what goes with them (children and hard
    /// accessories that the window alone keeps).
    /// </summary>
    private static void WithinWindow(RegistryGraph graph, MarkResult marks, MarkResult bare, IEnumerable<int> candidates, TimeSpan window, List<HarborDifference> result)
    {
        var reported = new BitSet(graph.ArtifactCount);
        var seen = new BitSet(graph.ArtifactCount);
        var found = new List<HarborDifference>();
        foreach (var root in candidates)
        {
            var stack = new Stack<int>();
            stack.Push(root);
            seen.Add(root);
            while (stack.Count > 0)
            {
                var a = stack.Pop();
                if (bare.LiveArtifacts[a])
                {
                    continue; // kept without the window too (tagged, listed by a live index): Harbor keeps it as well
                }

                if (marks.LiveArtifacts[a] && reported.Add(a))
                {
                    var pushed = new DateTimeOffset(graph.ArtifactPushed[a], TimeSpan.Zero).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    var key = graph.KeyOf(a).ToString();
                    found.Add(a == root
                        ? new HarborDifference(HarborDifferenceKind.HarborDeletesWithinWindow, key, graph.ArtifactSize[a],
                            $"Harbor's GC with delete_untagged deletes this artifact: it is untagged, no artifact_reference row lists it as a child and it is "
                            + $"not an accessory, and Harbor has no time window for artifacts ({DeletedArt}: artCtl.List with Tags \"nil\", then artCtl.Delete; "
                            + $"goharbor/harbor#21266: an image's children pushed before its index are deleted by a GC between the two pushes). This plan keeps "
                            + $"it: pushed {pushed}, within the {Duration.Format(window)} time window")
                        {
                            KeptBy = "the time window",
                        }
                        : new HarborDifference(HarborDifferenceKind.HarborDeletesWithinWindow, key, graph.ArtifactSize[a],
                            $"Harbor's GC deletes it with {graph.KeyOf(root)} (deleteDeeply in src/controller/artifact/controller.go takes an artifact's "
                            + $"untagged children and hard accessories); this plan keeps it with that artifact, within the {Duration.Format(window)} time window")
                        {
                            KeptBy = "the time window",
                            GoesWith = graph.KeyOf(root).ToString(),
                        });
                }

                foreach (var child in graph.ChildrenOf(a))
                {
                    if (child >= 0 && seen.Add(child))
                    {
                        stack.Push(child);
                    }
                }

                foreach (var accessory in graph.AccessoriesOf(a))
                {
                    if (seen.Add(accessory))
                    {
                        stack.Push(accessory);
                    }
                }
            }
        }

        result.AddRange(found.OrderBy(d => d.Item, StringComparer.Ordinal));
    }

    /// <summary>
    /// Harbor's dry run (<c>uselessBlobs</c> in garbage_collection.go): for every artifact <c>deletedArt</c> simulates deleting (each
    /// untagged candidate and everything <c>Walk</c> reaches from it), every blob <c>GetByArt</c> lists, appended without checking
    /// whether a kept artifact uses it, without the time window and without removing repeats, then summed as "could free up".
    /// </summary>
    private static void DryRunOverCounts(RegistryGraph graph, MarkResult marks, CollectionPlan plan, HarborFacts facts, List<ArtifactKey> candidates,
        List<HarborDifference> result)
    {
        var walked = new HashSet<ArtifactKey>();
        var queue = new Queue<ArtifactKey>();
        foreach (var candidate in candidates)
        {
            if (walked.Add(candidate))
            {
                queue.Enqueue(candidate);
            }
        }

        while (queue.Count > 0)
        {
            var key = queue.Dequeue();
            foreach (var next in facts.WalkEdges.GetValueOrDefault(key) ?? [])
            {
                if (walked.Add(next))
                {
                    queue.Enqueue(next);
                }
            }
        }

        // trashedArts is a map by digest: one GetByArt per digest, each blob once per digest that lists it
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var digest in walked.Select(k => k.Digest.ToString()).Distinct(StringComparer.Ordinal))
        {
            foreach (var blob in facts.ArtifactBlobs.GetValueOrDefault(digest) ?? [])
            {
                counts[blob] = counts.GetValueOrDefault(blob) + 1;
            }
        }

        var planned = plan.Blobs.Select(b => b.Digest.ToString()).ToHashSet(StringComparer.Ordinal);
        foreach (var (blob, count) in counts.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var deleted = planned.Contains(blob);
            var over = count - (deleted ? 1 : 0);
            if (over <= 0 || !facts.Blobs.TryGetValue(blob, out var row))
            {
                continue; // counted as often as this plan frees it; or no blob row, which Harbor's join reads as an empty blob of size 0
            }

            var size = row.ContentType == MediaTypes.DockerForeignLayer ? 0 : row.Size; // mark: "do not count the foreign layer size"
            string? keptBy = null;
            if (!deleted)
            {
                keptBy = Digest.TryParse(blob, out var parsed) && graph.Digests.TryGet(parsed, out var d)
                    ? marks.DigestKeptBy[d] >= 0 ? graph.KeyOf(marks.DigestKeptBy[d]).ToString()
                    : graph.DigestToBlob[d] < 0 ? "not in the registry's storage"
                    : "the time window"
                    : "not in the registry's storage";
            }

            var why = deleted
                ? $"Harbor's dry run counts this blob {count} times (once per simulated-deleted artifact whose artifact_blob rows list it: uselessBlobs in "
                  + "src/jobservice/job/impl/gc/garbage_collection.go appends GetByArt's blobs without removing repeats); this plan frees it once"
                : $"Harbor's dry run counts this blob as freed {count} time{(count == 1 ? string.Empty : "s")} (uselessBlobs in src/jobservice/job/impl/gc/"
                  + "garbage_collection.go appends every blob of each simulated-deleted untagged artifact, from artifact_blob, without checking whether a kept "
                  + $"artifact uses it and without the time window); this plan keeps it: {(keptBy!.Contains('@', StringComparison.Ordinal) ? "referenced by the kept artifact " : "kept by ")}{keptBy}";
            result.Add(new HarborDifference(HarborDifferenceKind.HarborDryRunOverCounts, blob, over * size, why) { Count = over, KeptBy = keptBy });
        }
    }
}
