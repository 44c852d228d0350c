using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Graph;

/// <summary>
/// A compact snapshot of a registry: digests interned as ints, artifacts as parallel arrays, edges as flat (CSR) arrays.
/// No per-edge objects and no strings on the marking path. Built by <see cref="GraphBuilder"/>.
/// </summary>
/// <remarks>
/// Node ids: a <em>digest id</em> (every digest seen: blobs, manifests, references, subjects) and an <em>artifact id</em>
/// (one per repository and manifest digest). A manifest's own bytes are a blob referenced by its artifact, so a manifest
/// blob lives while any repository keeps that manifest.
/// </remarks>
internal sealed class RegistryGraph
{
    // digests
    internal required DigestTable Digests { get; init; }

    /// <summary>Per digest id: the blob record index, or -1 when the store has no record of it.</summary>
    internal required int[] DigestToBlob { get; init; }

    // repositories
    internal required RepositoryName[] Repositories { get; init; }

    // blob records
    internal required int BlobCount { get; init; }
    internal required int[] BlobDigest { get; init; }
    internal required long[] BlobSize { get; init; }
    internal required long[] BlobTouched { get; init; }
    internal required BlobStatus[] BlobStatuses { get; init; }

    // artifacts
    internal required int ArtifactCount { get; init; }
    internal required int[] ArtifactRepo { get; init; }
    internal required int[] ArtifactDigest { get; init; }
    internal required long[] ArtifactPushed { get; init; }
    internal required long[] ArtifactVersion { get; init; }
    internal required long[] ArtifactSize { get; init; }
    internal required string[] ArtifactMediaType { get; init; }
    internal required ManifestKind[] ArtifactKind { get; init; }
    internal required ArtifactFlags[] Flags { get; init; }

    /// <summary>Blob references: <c>Refs[RefStart[a] .. RefStart[a + 1]]</c> are artifact a's digest ids (the array may be longer).</summary>
    internal required int[] RefStart { get; init; }
    internal required int[] Refs { get; init; }
    internal required BlobReferenceKind[] RefKinds { get; init; }

    /// <summary>Children: <c>Children[ChildStart[a] .. ChildStart[a + 1]]</c> are artifact ids (-1 when the child is missing).</summary>
    internal required int[] ChildStart { get; init; }
    internal required int[] Children { get; init; }

    /// <summary>Hard accessories: <c>Accessories[AccessoryStart[a] .. AccessoryStart[a + 1]]</c> are artifact ids.</summary>
    internal required int[] AccessoryStart { get; init; }
    internal required int[] Accessories { get; init; }

    /// <summary>Per artifact: its accessory link (index into <see cref="Links"/>), or -1.</summary>
    internal required int[] ArtifactLink { get; init; }

    /// <summary>Per artifact: the artifact id of its subject when it is an accessory and the subject exists, else -1.</summary>
    internal required int[] SubjectArtifact { get; init; }

    internal required AccessoryLink[] Links { get; init; }

    // tags
    internal required Tag[] Tags { get; init; }

    /// <summary>Per tag: the artifact id, or -1 when the tag points at a missing manifest.</summary>
    internal required int[] TagArtifact { get; init; }

    internal required LayerLink[] LayerLinks { get; init; }
    internal required int[] LayerLinkRepo { get; init; }
    internal required int[] LayerLinkDigest { get; init; }

    /// <summary>Unfinished blob uploads, as the store listed them; nothing references them.</summary>
    internal required BlobUpload[] Uploads { get; init; }

    internal required List<PlanWarning> Warnings { get; init; }

    internal required ArtifactIndex ArtifactIndex { get; init; }

    internal long BlobReferenceCount => RefStart[ArtifactCount];

    internal static long ArtifactKeyOf(int repo, int digest) => ((long)repo << 32) | (uint)digest;

    internal bool TryGetArtifact(int repo, int digest, out int artifact) => ArtifactIndex.TryGetValue(ArtifactKeyOf(repo, digest), out artifact);

    internal ArtifactKey KeyOf(int artifact) => new(Repositories[ArtifactRepo[artifact]], Digests[ArtifactDigest[artifact]]);

    internal ReadOnlySpan<int> RefsOf(int artifact) => Refs.AsSpan(RefStart[artifact], RefStart[artifact + 1] - RefStart[artifact]);

    internal ReadOnlySpan<int> ChildrenOf(int artifact) => Children.AsSpan(ChildStart[artifact], ChildStart[artifact + 1] - ChildStart[artifact]);

    internal ReadOnlySpan<int> AccessoriesOf(int artifact) => Accessories.AsSpan(AccessoryStart[artifact], AccessoryStart[artifact + 1] - AccessoryStart[artifact]);

    internal bool IsHardAccessory(int artifact) => (Flags[artifact] & ArtifactFlags.HardAccessory) != 0;

    internal AccessoryLink? LinkOf(int artifact) => ArtifactLink[artifact] is var l and >= 0 ? Links[l] : null;
}
