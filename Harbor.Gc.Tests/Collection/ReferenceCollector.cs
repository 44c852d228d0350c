using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>
/// A small, obviously-correct reading of DESIGN.md §5, written apart from the engine (sets and recursion, no graph arrays),
/// to check the engine's plans against.
/// </summary>
internal sealed class ReferenceCollector(TestStore store, DateTimeOffset now, TimeSpan window, bool deleteUntagged)
{
    private readonly DateTimeOffset _cutoff = now - window;

    public HashSet<ArtifactKey> Live { get; } = [];

    public Dictionary<ArtifactKey, DeletionReason> DeadArtifacts { get; } = [];

    public HashSet<Digest> DeadBlobs { get; } = [];

    public HashSet<(RepositoryName, Digest)> DeadLayerLinks { get; } = [];

    public HashSet<Digest> LiveBlobs { get; } = [];

    public ReferenceCollector Run()
    {
        var artifacts = store.GetArtifacts().ToDictionary(a => a.Key);
        var links = store.GetAccessoryLinks().Where(l => artifacts.ContainsKey(new ArtifactKey(l.Repository, l.Accessory))).ToList();
        var hard = links.Where(l => l.Strength == ReferenceStrength.Hard).ToDictionary(l => new ArtifactKey(l.Repository, l.Accessory));
        var tagged = store.GetTags().Select(t => new ArtifactKey(t.Repository, t.Digest)).ToHashSet();

        void MakeLive(ArtifactKey key)
        {
            if (!artifacts.TryGetValue(key, out var artifact) || !Live.Add(key))
            {
                return;
            }

            foreach (var child in artifact.Children)
            {
                MakeLive(new ArtifactKey(key.Repository, child));
            }

            foreach (var accessory in hard.Values.Where(l => l.Repository == key.Repository && l.Subject == key.Digest))
            {
                MakeLive(new ArtifactKey(accessory.Repository, accessory.Accessory));
            }
        }

        foreach (var (key, artifact) in artifacts)
        {
            var isRoot = !deleteUntagged || artifact.PushedAt >= _cutoff || artifact.Kind == ManifestKind.Unknown || (tagged.Contains(key) && !hard.ContainsKey(key));
            if (isRoot)
            {
                MakeLive(key);
            }
        }

        foreach (var key in Live)
        {
            LiveBlobs.UnionWith(artifacts[key].References.Select(r => r.Digest));
        }

        foreach (var (key, artifact) in artifacts.Where(a => !Live.Contains(a.Key)))
        {
            DeadArtifacts[key] =
                hard.TryGetValue(key, out var link) ? (artifacts.ContainsKey(new ArtifactKey(key.Repository, link.Subject)) ? DeletionReason.AccessoryOfDeletedSubject : DeletionReason.OrphanAccessory)
                : artifacts.Values.Any(p => p.Repository == key.Repository && !Live.Contains(p.Key) && p.Children.Contains(key.Digest)) ? DeletionReason.ChildOfDeletedIndex
                : DeletionReason.Untagged;
        }

        // a repository that linked a blob within the window (an upload or a mount) touched it
        var linkedWithinWindow = store.GetLayerLinks().Where(l => l.CreatedAt >= _cutoff).Select(l => l.Digest).ToHashSet();
        foreach (var blob in store.GetBlobs())
        {
            var committed = blob.Status is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed;
            if (!LiveBlobs.Contains(blob.Digest) && ((blob.LastTouchedAt < _cutoff && !linkedWithinWindow.Contains(blob.Digest)) || committed))
            {
                DeadBlobs.Add(blob.Digest);
            }
        }

        foreach (var link in store.GetLayerLinks())
        {
            var usedInRepo = Live.Where(k => k.Repository == link.Repository).Any(k => artifacts[k].References.Any(r => r.Digest == link.Digest));
            if (link.CreatedAt < _cutoff && !usedInRepo)
            {
                DeadLayerLinks.Add((link.Repository, link.Digest));
            }
        }

        return this;
    }
}
