using System.Runtime.CompilerServices;
using Harbor.Gc.Graph;

namespace Harbor.Gc.Collection;

/// <summary>
/// The mark phase (DESIGN.md §5): roots, then the live closure over index children and hard accessories, then every blob a
/// live artifact references.
/// </summary>
/// <remarks>
/// Roots: every artifact that is not a hard accessory and has a tag; with delete-untagged off, every artifact; every artifact
/// pushed within the time window (a multi-arch push's children before their index, an accessory before its subject); and
/// every unknown manifest (never deleted for being unparsable). An artifact its store's catalog deleted (<see cref="Model.Artifact.Trashed"/>:
/// a Harbor installation's manifest whose database row is gone) is not kept for being untagged when delete-untagged is off: it is
/// garbage to Harbor whatever that option says, and only the time window or a live artifact that references it keeps it. A hard accessory is never a root by its tags: a cosign
/// tag-scheme tag is the accessory's name, not a user's tag, and a signature must not outlive its image.
/// </remarks>
internal static class Marker
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public static MarkResult Mark(RegistryGraph graph, bool deleteUntagged, long cutoffTicks, CancellationToken cancellationToken)
    {
        var n = graph.ArtifactCount;
        var live = new BitSet(n);
        var liveDigests = new BitSet(graph.Digests.Count);
        var keptBy = new int[n];
        var digestKeptBy = new int[graph.Digests.Count];
        var rootKinds = new RootKind[n];
        Array.Fill(keptBy, MarkResult.Unmarked);
        Array.Fill(digestKeptBy, MarkResult.Unmarked);

        var stack = new int[Math.Max(n, 1)];
        var top = 0;
        var flags = graph.Flags;
        var pushed = graph.ArtifactPushed;
        for (var a = 0; a < n; a++)
        {
            var f = flags[a];
            var kind = (f & ArtifactFlags.Unknown) != 0 ? RootKind.Unknown
                : (f & (ArtifactFlags.Tagged | ArtifactFlags.HardAccessory)) == ArtifactFlags.Tagged ? RootKind.Tagged
                : pushed[a] >= cutoffTicks ? RootKind.Fresh
                : !deleteUntagged && (f & ArtifactFlags.Trashed) == 0 ? RootKind.KeepUntagged
                : RootKind.NotRoot;
            if (kind != RootKind.NotRoot)
            {
                rootKinds[a] = kind;
                live.Add(a);
                keptBy[a] = MarkResult.Root;
                stack[top++] = a;
            }
        }

        var refs = graph.Refs;
        var refStart = graph.RefStart;
        var children = graph.Children;
        var childStart = graph.ChildStart;
        var accessories = graph.Accessories;
        var accessoryStart = graph.AccessoryStart;
        var visited = 0;
        while (top > 0)
        {
            var a = stack[--top];
            if ((++visited & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            for (var r = refStart[a]; r < refStart[a + 1]; r++)
            {
                var d = refs[r];
                if (liveDigests.Add(d))
                {
                    digestKeptBy[d] = a;
                }
            }

            for (var c = childStart[a]; c < childStart[a + 1]; c++)
            {
                var child = children[c];
                if (child >= 0 && live.Add(child))
                {
                    keptBy[child] = a;
                    stack[top++] = child;
                }
            }

            for (var s = accessoryStart[a]; s < accessoryStart[a + 1]; s++)
            {
                var accessory = accessories[s];
                if (live.Add(accessory))
                {
                    keptBy[accessory] = a;
                    stack[top++] = accessory;
                }
            }
        }

        // a layer link written within the window touches its blob: a mount or an upload changes no blob data file
        var linkedWithinWindow = new BitSet(graph.Digests.Count);
        for (var i = 0; i < graph.LayerLinks.Length; i++)
        {
            if (graph.LayerLinks[i].CreatedAt.UtcTicks >= cutoffTicks)
            {
                linkedWithinWindow.Add(graph.LayerLinkDigest[i]);
            }
        }

        return new MarkResult
        {
            LiveArtifacts = live,
            LiveDigests = liveDigests,
            LinkedWithinWindow = linkedWithinWindow,
            ArtifactKeptBy = keptBy,
            DigestKeptBy = digestKeptBy,
            RootKinds = rootKinds,
            Cutoff = cutoffTicks,
        };
    }
}
