using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// The scenarios of issue 3, pushed through a real registry's HTTP API, with what Harbor's semantics (DESIGN.md §4–5) keep and
/// collect, written from the pushes' own digests:
/// <list type="bullet">
/// <item><c>library/app</c>: <c>v1</c> and <c>v2</c> share a base layer; an old image was <c>latest</c> until <c>latest</c> moved
/// to <c>v2</c>, which leaves it untagged → collected (<c>untagged</c>).</item>
/// <item>cosign tag-scheme signatures (<c>sha256-HEX.sig</c>) of <c>v1</c> (kept) and of the old image (collected with it);
/// a notation OCI 1.1 referrer of each (same); an SBOM of <c>v1</c> and a notation signature of that SBOM (kept: nested
/// accessories follow <c>v1</c>).</item>
/// <item><c>library/other:v1</c> mounts the base layer and a layer of the old image from <c>library/app</c>
/// (<c>POST ?mount=&amp;from=</c>): both stay, since blobs are global and a live image references them.</item>
/// <item><c>library/multi</c>: index <c>latest</c> with two untagged children (kept), one of them mounting the base layer; an
/// untagged index with its own untagged child (collected: <c>untagged</c> and <c>child-of-deleted-index</c>).</item>
/// <item>a blob uploaded into <c>library/app</c> and one into <c>library/multi</c>, never referenced → collected.</item>
/// </list>
/// </summary>
internal sealed record IssueThreeScenario(
    IReadOnlyList<PushedManifest> Live,
    IReadOnlyList<(PushedManifest Manifest, string Reason)> Garbage,
    IReadOnlyDictionary<string, string[]> Tags,
    IReadOnlyList<(string Repository, Digest Digest)> Unreferenced,
    IReadOnlyList<Digest> SharedWithLive,
    IReadOnlyList<Digest> OnlyInGarbage)
{
    public const string App = "library/app";
    public const string Other = "library/other";
    public const string Multi = "library/multi";

    public static IReadOnlyList<string> Repositories { get; } = [App, Other, Multi];

    /// <summary>The blobs a GC must delete: those of the garbage manifests that no live manifest references, and the unreferenced ones.</summary>
    public IReadOnlySet<Digest> DeadBlobs =>
        Garbage.SelectMany(g => g.Manifest.AllBlobs).Concat(Unreferenced.Select(u => u.Digest)).Except(Live.SelectMany(l => l.AllBlobs)).ToHashSet();

    public static async Task<IssueThreeScenario> PushAsync(OciPusher push)
    {
        var v1 = await push.ImageAsync(App, "v1", """{"os":"linux","v":"1"}""", ["base-layer", "app-v1-layer"]);
        var v2 = await push.ImageAsync(App, "v2", """{"os":"linux","v":"2"}""", ["base-layer", "app-v2-layer"]);
        var old = await push.ImageAsync(App, "latest", """{"os":"linux","v":"0"}""", ["base-layer", "app-v0-only-layer", "app-v0-layer-also-in-other"]);
        await push.TagAsync(v2, "latest"); // the tag moves on: the old image is left untagged, as a re-pushed tag leaves it

        var v1Cosign = await push.CosignSignatureAsync(v1, "cosign-signature-of-v1");
        var oldCosign = await push.CosignSignatureAsync(old, "cosign-signature-of-old");
        var v1Notation = await push.ReferrerAsync(v1, MediaTypes.NotationSignature, "notation-envelope-of-v1");
        var oldNotation = await push.ReferrerAsync(old, MediaTypes.NotationSignature, "notation-envelope-of-old");
        var sbom = await push.ReferrerAsync(v1, "application/spdx+json", """{"spdxVersion":"SPDX-2.3","name":"v1"}""");
        var sbomSignature = await push.ReferrerAsync(sbom, MediaTypes.NotationSignature, "notation-envelope-of-the-sbom");
        var appOrphan = await push.BlobAsync(App, "uploaded to library/app, never referenced");

        var other = await push.ImageAsync(Other, "v1", """{"os":"linux","repo":"other"}""",
            [new Layer("base-layer", App), new Layer("app-v0-layer-also-in-other", App), "other-layer"]);

        var amd64 = await push.ImageAsync(Multi, null, """{"architecture":"amd64"}""", [new Layer("base-layer", App), "multi-amd64-layer"]);
        var arm64 = await push.ImageAsync(Multi, null, """{"architecture":"arm64"}""", ["multi-arm64-layer"]);
        var index = await push.IndexAsync(Multi, "latest", amd64, arm64);
        var oldChild = await push.ImageAsync(Multi, null, """{"architecture":"s390x"}""", ["multi-old-child-layer"]);
        var oldIndex = await push.IndexAsync(Multi, null, oldChild);
        var multiOrphan = await push.BlobAsync(Multi, "uploaded to library/multi, never referenced");

        return new IssueThreeScenario(
            Live: [v1, v2, v1Cosign, v1Notation, sbom, sbomSignature, other, index, amd64, arm64],
            Garbage:
            [
                (old, "untagged"),
                (oldCosign, "accessory-of-deleted-subject"),
                (oldNotation, "accessory-of-deleted-subject"),
                (oldIndex, "untagged"),
                (oldChild, "child-of-deleted-index"),
            ],
            Tags: new Dictionary<string, string[]>
            {
                [App] = ["v1", "v2", "latest", $"sha256-{v1.Digest.Hex}.sig"],
                [Other] = ["v1"],
                [Multi] = ["latest"],
            },
            Unreferenced: [(App, appOrphan), (Multi, multiOrphan)],
            SharedWithLive: [v1.Blobs[1], old.Blobs[3], v1Notation.Blobs[0]], // base layer, the layer other:v1 mounted, the empty config of referrers
            OnlyInGarbage: [old.Digest, old.Blobs[0], old.Blobs[2], oldCosign.Digest, oldCosign.Blobs[1], oldNotation.Blobs[1], oldIndex.Digest, oldChild.Blobs[1]]);
    }
}
