using Harbor.Gc.Graph;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>
/// Applying a saved plan (DESIGN.md §2): of a live plan, made from a fresh snapshot with the saved plan's options, the items the
/// saved plan also lists with the same identity and version. The saved plan only narrows what the live store justifies; none of
/// its fields authorizes a deletion by itself (a saved <c>deleting</c> status is never read: the live status is used).
/// </summary>
/// <remarks>
/// <para>Matching: artifacts by repository, digest and version; blobs by digest, last touch and size; layer links by repository,
/// digest and time; uploads by repository and id with the same start, size and last write. A plan that lists an item twice
/// matches it once.</para>
/// <para>Order and dependencies come from the live plan: an artifact is executed only when every artifact it goes with
/// (<see cref="PlannedArtifact.DependsOn"/>) is, so a kept index keeps its children and a kept subject its hard accessories.
/// What a live-plan artifact that is not executed references (its blobs, its repository's layer links) is not executed either:
/// no artifact the run leaves behind loses a blob or a link. A blob that a repository linked since the saved plan (a mount, or an
/// upload of it again: a layer link the saved plan does not list, or lists with another time; when a plan is made, every link
/// to a blob it collects is one it collects too) is not executed: the client that linked it may push a manifest using it.</para>
/// <para>What the saved plan lists and the run does not execute is kept, with the reason; what the saved plan lists that the store
/// no longer has is gone already (nothing to do, not reported). Garbage that appeared since the saved plan is not in it and waits
/// for the next plan.</para>
/// </remarks>
internal sealed class PlanApplication
{
    private PlanApplication(CollectionPlan saved, CollectionPlan executable)
    {
        Saved = saved;
        Executable = executable;
    }

    /// <summary>The saved plan, as given.</summary>
    public CollectionPlan Saved { get; }

    /// <summary>What the run executes: the live plan's items the saved plan also lists, in the live plan's order.</summary>
    public CollectionPlan Executable { get; }

    /// <summary>Artifacts the saved plan lists that the run keeps, with why.</summary>
    public List<(ArtifactKey Key, string Why)> KeptArtifacts { get; } = [];

    /// <summary>Blobs the saved plan lists that the run keeps, with why.</summary>
    public List<(Digest Digest, string Why)> KeptBlobs { get; } = [];

    /// <summary>Layer links the saved plan lists that the run keeps (as the saved plan listed them), with why.</summary>
    public List<(LayerLink Link, string Why)> KeptLayerLinks { get; } = [];

    /// <summary>Uploads the saved plan lists that the run keeps (as the saved plan listed them), with why.</summary>
    public List<(BlobUpload Upload, string Why)> KeptUploads { get; } = [];

    /// <summary>Intersects <paramref name="saved"/> with <paramref name="live"/>, made from <paramref name="graph"/>.</summary>
    /// <param name="saved">The saved plan.</param>
    /// <param name="live">The live plan, made now with the saved plan's options.</param>
    /// <param name="graph">The snapshot <paramref name="live"/> was made from, to tell a kept item (still in the store) from a gone one.</param>
    /// <returns>What to execute, and what is kept.</returns>
    public static PlanApplication Create(CollectionPlan saved, CollectionPlan live, RegistryGraph graph)
    {
        var lookup = new GraphLookup(graph);

        // artifacts, in the live plan's stage order: a parent is decided before what goes with it
        var savedArtifacts = saved.Artifacts.Select(a => (a.Key, a.Version)).ToHashSet();
        var executed = new HashSet<ArtifactKey>();
        var artifacts = new List<PlannedArtifact>();
        var notExecuted = new List<PlannedArtifact>();
        var dependencyKept = new Dictionary<ArtifactKey, ArtifactKey>();
        foreach (var artifact in live.Artifacts)
        {
            if (!savedArtifacts.Contains((artifact.Key, artifact.Version)))
            {
                notExecuted.Add(artifact);
                continue;
            }

            var keptParent = artifact.DependsOn.Where(p => !executed.Contains(p)).Select(p => (ArtifactKey?)p).FirstOrDefault();
            if (keptParent is { } parent)
            {
                dependencyKept[artifact.Key] = parent;
                notExecuted.Add(artifact);
                continue;
            }

            executed.Add(artifact.Key);
            artifacts.Add(artifact);
        }

        // what the artifacts left behind reference stays: their blobs, and their repository's links to them
        var heldBlobs = new HashSet<Digest>();
        var heldLinks = new HashSet<(RepositoryName, Digest)>();
        foreach (var artifact in notExecuted)
        {
            foreach (var digest in lookup.ReferencesOf(artifact.Key))
            {
                heldBlobs.Add(digest);
                heldLinks.Add((artifact.Key.Repository, digest));
            }
        }

        // a blob linked since the plan (a mount, or an upload again) was touched: when the plan was made, every link to a blob
        // it collects was old and unused, so the plan listed it too; a link it does not list, or lists with another time, is new
        var savedLinks = saved.LayerLinks.ToHashSet();
        var savedBlobs = saved.Blobs.Select(b => b.Digest).ToHashSet();
        var linkedSince = new HashSet<Digest>();
        foreach (var link in graph.LayerLinks)
        {
            if (savedBlobs.Contains(link.Digest) && !savedLinks.Contains(link))
            {
                linkedSince.Add(link.Digest);
            }
        }

        var savedUploads = saved.Uploads.ToHashSet();
        var application = new PlanApplication(saved, new CollectionPlan
        {
            Store = live.Store,
            CreatedAt = live.CreatedAt,
            DeleteUntagged = live.DeleteUntagged,
            TimeWindow = live.TimeWindow,
            Artifacts = artifacts,
            Blobs = Blobs(saved, live, heldBlobs, linkedSince),
            LayerLinks = [.. live.LayerLinks.Where(l => savedLinks.Contains(l) && !heldLinks.Contains((l.Repository, l.Digest)))],
            Uploads = [.. live.Uploads.Where(savedUploads.Contains)],
            Warnings = live.Warnings,
            Statistics = live.Statistics,
        });
        application.FindKept(live, lookup, executed, dependencyKept, heldBlobs, linkedSince, heldLinks);
        return application;
    }

    private static List<PlannedBlob> Blobs(CollectionPlan saved, CollectionPlan live, HashSet<Digest> held, HashSet<Digest> linkedSince)
    {
        // a blob an earlier run committed to deleting (deleting, deleted, deleteFailed) is finished whatever the saved plan says: no
        // push can take it back, its bytes may be gone, and pushes that need it are refused until a run finishes it
        var listed = saved.Blobs.Select(b => (b.Digest, b.LastTouchedAt, b.Size)).ToHashSet();
        return [.. live.Blobs.Where(b => IsCommitted(b.Status) ||
            (listed.Contains((b.Digest, b.LastTouchedAt, b.Size)) && !held.Contains(b.Digest) && !linkedSince.Contains(b.Digest)))];
    }

    private static bool IsCommitted(BlobStatus status) => status is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed;

    /// <summary>Lists, once each, what the saved plan names that the run does not execute and the store still has, with why.</summary>
    private void FindKept(CollectionPlan live, GraphLookup lookup, HashSet<ArtifactKey> executed, Dictionary<ArtifactKey, ArtifactKey> dependencyKept,
        HashSet<Digest> heldBlobs, HashSet<Digest> linkedSince, HashSet<(RepositoryName, Digest)> heldLinks)
    {
        var liveArtifacts = live.Artifacts.Select(a => a.Key).ToHashSet();
        foreach (var key in Saved.Artifacts.Select(a => a.Key).Distinct())
        {
            if (executed.Contains(key))
            {
                continue;
            }

            var why = dependencyKept.TryGetValue(key, out var parent) ? $"it goes with {parent}, which is kept"
                : liveArtifacts.Contains(key) ? "it changed since the plan (tagged and untagged, pushed again, or its tags moved)"
                : lookup.HasArtifact(key) ? "it is live now (tagged, listed by a live index, or the accessory of a live artifact)"
                : null; // deleted since the plan: nothing to do
            if (why is not null)
            {
                KeptArtifacts.Add((key, why));
            }
        }

        var executedBlobs = Executable.Blobs.Select(b => b.Digest).ToHashSet();
        var liveBlobs = live.Blobs.Select(b => b.Digest).ToHashSet();
        foreach (var digest in Saved.Blobs.Select(b => b.Digest).Distinct())
        {
            if (executedBlobs.Contains(digest))
            {
                continue;
            }

            var why = heldBlobs.Contains(digest) && liveBlobs.Contains(digest) ? "an artifact this run keeps references it"
                : linkedSince.Contains(digest) && liveBlobs.Contains(digest) ? "a repository linked it since the plan (a mount, or an upload again)"
                : liveBlobs.Contains(digest) ? "it was touched since the plan (pushed or uploaded again)"
                : lookup.HasBlob(digest) ? "it is live now (a live artifact references it, or it was touched within the time window)"
                : null;
            if (why is not null)
            {
                KeptBlobs.Add((digest, why));
            }
        }

        var executedLinks = Executable.LayerLinks.Select(l => (l.Repository, l.Digest)).ToHashSet();
        var liveLinks = live.LayerLinks.Select(l => (l.Repository, l.Digest)).ToHashSet();
        foreach (var link in Saved.LayerLinks.DistinctBy(l => (l.Repository, l.Digest)))
        {
            var key = (link.Repository, link.Digest);
            if (executedLinks.Contains(key))
            {
                continue;
            }

            var why = heldLinks.Contains(key) && liveLinks.Contains(key) ? "an artifact this run keeps references its blob"
                : liveLinks.Contains(key) ? "it was written again since the plan (a push or a mount)"
                : lookup.HasLayerLink(key) ? "it is live now (an artifact of its repository references its blob, or it is within the time window)"
                : null;
            if (why is not null)
            {
                KeptLayerLinks.Add((link, why));
            }
        }

        var executedUploads = Executable.Uploads.Select(u => (u.Repository, u.Id)).ToHashSet();
        var liveUploads = live.Uploads.Select(u => (u.Repository, u.Id)).ToHashSet();
        foreach (var upload in Saved.Uploads.DistinctBy(u => (u.Repository, u.Id)))
        {
            var key = (upload.Repository, upload.Id);
            if (executedUploads.Contains(key))
            {
                continue;
            }

            var why = liveUploads.Contains(key) ? "it changed since the plan (it received bytes, or was started again)"
                : lookup.HasUpload(key) ? "it is live now (written to within the time window)"
                : null;
            if (why is not null)
            {
                KeptUploads.Add((upload, why));
            }
        }
    }

    /// <summary>Look-ups by name in a snapshot's graph.</summary>
    private sealed class GraphLookup(RegistryGraph graph)
    {
        private readonly Dictionary<RepositoryName, int> _repositories = graph.Repositories.Select((r, i) => (r, i)).ToDictionary(e => e.r, e => e.i);
        private HashSet<(RepositoryName, Digest)>? _layerLinks;
        private HashSet<(RepositoryName?, string)>? _uploads;

        public bool HasArtifact(ArtifactKey key) => TryGetArtifact(key, out _);

        public bool HasBlob(Digest digest) => graph.Digests.TryGet(digest, out var d) && graph.DigestToBlob[d] >= 0;

        public bool HasLayerLink((RepositoryName, Digest) link) =>
            (_layerLinks ??= graph.LayerLinks.Select(l => (l.Repository, l.Digest)).ToHashSet()).Contains(link);

        public bool HasUpload((RepositoryName?, string) upload) => (_uploads ??= graph.Uploads.Select(u => (u.Repository, u.Id)).ToHashSet()).Contains(upload);

        /// <summary>The digests an artifact references (manifest, config, layers); none when the graph does not have it.</summary>
        public IEnumerable<Digest> ReferencesOf(ArtifactKey key)
        {
            if (!TryGetArtifact(key, out var artifact))
            {
                return [];
            }

            var digests = new List<Digest>();
            foreach (var d in graph.RefsOf(artifact))
            {
                digests.Add(graph.Digests[d]);
            }

            return digests;
        }

        private bool TryGetArtifact(ArtifactKey key, out int artifact)
        {
            artifact = -1;
            return _repositories.TryGetValue(key.Repository, out var r) && graph.Digests.TryGet(key.Digest, out var d) && graph.TryGetArtifact(r, d, out artifact);
        }
    }
}
