using System.Text.RegularExpressions;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Distribution's own collector and ours, on one tree of plain images. With untagged collection on and no time window, both
/// must pick the same blobs and the same manifests. Indexes and accessories are left out on purpose: with
/// <c>--delete-untagged</c>, Distribution 2.8's <c>MarkAndSweep</c> (registry/storage/garbagecollect.go) keeps only manifests a
/// tag currently names and the blobs they list, so it deletes a tagged index's untagged children (on the sample tree it prints
/// them as "manifest eligible for deletion") and every signature or SBOM pushed by digest, which Harbor's rules keep.
/// </summary>
[Category("Integration")]
public partial class GarbageCollectComparisonTests : RegistryIntegrationTest
{
    // docker-registry 2.8.2 (registry/storage/garbagecollect.go, MarkAndSweep) prints one "manifest eligible for deletion: DIGEST"
    // line per untagged manifest while it marks, then one "blob eligible for deletion: DIGEST" line per unmarked blob.
    [GeneratedRegex(@"^blob eligible for deletion: (sha256:[0-9a-f]{64})$", RegexOptions.Multiline)]
    private static partial Regex BlobLine();

    [GeneratedRegex(@"^manifest eligible for deletion: (sha256:[0-9a-f]{64})$", RegexOptions.Multiline)]
    private static partial Regex ManifestLine();

    [Test]
    public async Task DryRuns_OnPlainImages_DistributionAndHarborGcPickTheSameBlobsAndManifests()
    {
        // given: three repositories of plain images; a layer shared by all, untagged images pushed by digest or left behind by a
        // moved tag, layers mounted across repositories, one manifest untagged in team/a but tagged in team/b, unreferenced blobs
        const string a = "team/a", b = "team/b", c = "team/c";
        var a1 = await Push.ImageAsync(a, "v1", """{"a":1}""", ["base-layer", "a1-layer"]);
        var aOld = await Push.ImageAsync(a, null, """{"a":"old"}""", ["base-layer", "a-old-only-layer", "x-layer-also-in-tagged-b", "y-layer-also-in-untagged-b"]);
        var a2 = await Push.ImageAsync(a, "latest", """{"a":2}""", ["a2-layer"]);
        var a3 = await Push.ImageAsync(a, "latest", """{"a":3}""", ["base-layer", "a3-layer"]);
        var aOrphan = await Push.BlobAsync(a, "uploaded to team/a, never referenced");
        var b1 = await Push.ImageAsync(b, "v1", """{"b":1}""", [new Layer("base-layer", a), new Layer("x-layer-also-in-tagged-b", a), "b1-layer"]);
        var bOld = await Push.ImageAsync(b, null, """{"b":"old"}""", [new Layer("y-layer-also-in-untagged-b", a), "b-old-only-layer"]);
        var a2InB = await Push.CopyAsync(a2, b, "copied");
        var cOrphan = await Push.BlobAsync(c, "uploaded to team/c, never referenced");

        var tagged = new[] { a1, a3, b1, a2InB };
        var pushed = new[] { a1, aOld, a2, a3, b1, bOld, a2InB };
        var deadBlobs = pushed.SelectMany(m => m.AllBlobs).Append(aOrphan).Append(cOrphan).Except(tagged.SelectMany(m => m.AllBlobs)).ToHashSet();
        deadBlobs.Should().Contain([aOld.Digest, aOld.Blobs[2], aOld.Blobs[4], bOld.Digest, bOld.Blobs[2], aOrphan, cOrphan])
            .And.NotContain([a1.Blobs[1], aOld.Blobs[3], a2.Digest, a2.Blobs[1]], "the scenario shares these with tagged images");

        // when: with the registry stopped, both dry runs
        Registry.Stop();
        var distribution = await Registry.GarbageCollectAsync(dryRun: true, deleteUntagged: true);
        var ours = await HarborGcAsync("--dry-run", "--time-window", "0");

        // then: the same blobs, which are exactly the scenario's dead blobs
        var theirBlobs = BlobLine().Matches(distribution).Select(m => Digest.Parse(m.Groups[1].Value)).ToList();
        theirBlobs.Should().NotBeEmpty(distribution).And.OnlyHaveUniqueItems();
        theirBlobs.Should().BeEquivalentTo(deadBlobs, distribution);
        ours.Blobs.Should().BeEquivalentTo(theirBlobs);

        // and the same untagged manifests: Distribution names digests only, we name (repository, digest) and say why
        var theirManifests = ManifestLine().Matches(distribution).Select(m => Digest.Parse(m.Groups[1].Value)).ToList();
        theirManifests.Should().BeEquivalentTo(new[] { aOld.Digest, a2.Digest, bOld.Digest }, distribution);
        ours.Artifacts.Should().BeEquivalentTo(new[] { (a, aOld.Digest, "untagged"), (a, a2.Digest, "untagged"), (b, bOld.Digest, "untagged") });
    }
}
