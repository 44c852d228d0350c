using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.InMemory;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Storage;

/// <summary>Pushing real manifests: references recorded, accessories detected by subject and by cosign's tag scheme (DESIGN.md §4).</summary>
public class InMemoryRegistryIngestTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private InMemoryRegistryIngest _registry = null!;
    private int _n;

    [SetUp]
    public void SetUp()
    {
        _registry = new InMemoryRegistryIngest(new InMemoryRegistryStore(_time));
        _registry.PushBlob("{}"u8.ToArray(), MediaTypes.OciEmpty); // the empty config every OCI 1.1 referrer uses, uploaded as clients do
    }

    private Digest Blob(string? mediaType = null) => _registry.PushBlob(Encoding.UTF8.GetBytes($"blob {++_n}"), mediaType);

    private Artifact PushImage(string? tag = null, Digest? subject = null, string layerType = MediaTypes.OciLayerGzip) =>
        _registry.PushManifest(Repo, Image(Blob(), [Blob()], layerType: layerType, subject: subject), tag: tag);

    [Test]
    public void PushManifest_WithMissingBlob_IsRefused()
    {
        var act = () => _registry.PushManifest(Repo, Image(D('c'), []));

        act.Should().Throw<MissingBlobException>().Which.Digest.Should().Be(D('c'));
    }

    [Test]
    public void PushManifest_Referrer_RecordsAHardLink_EvenBeforeItsSubjectExists()
    {
        var notYetPushed = D('a');

        var signature = _registry.PushManifest(Repo, Referrer(notYetPushed, MediaTypes.NotationSignature, Blob()));

        _registry.Store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Be(
            new AccessoryLink(Repo, signature.Digest, notYetPushed, AccessoryTypes.NotationSignature, ReferenceStrength.Hard));
    }

    [Test]
    public void Tag_CosignSignatureTag_LinksTheSignatureToItsImage()
    {
        var image = PushImage(tag: "v1");

        var signature = PushImage(tag: $"sha256-{image.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);

        _registry.Store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Match<AccessoryLink>(l =>
            l.Accessory == signature.Digest && l.Subject == image.Digest && l.Type == AccessoryTypes.CosignSignature && l.FromTagScheme);
    }

    [Test]
    public void Tag_CosignResigns_TheOldSignatureManifestLosesItsLink()
    {
        // cosign adds a signature by pushing a new manifest under the same sha256-<hex>.sig tag
        var image = PushImage(tag: "v1");
        var tag = $"sha256-{image.Digest.Hex}.sig";
        var first = PushImage(tag: tag, layerType: MediaTypes.CosignSimpleSigning);

        var second = PushImage(tag: tag, layerType: MediaTypes.CosignSimpleSigning);

        _registry.Store.GetAccessoryLinks().Select(l => l.Accessory).Should().Equal(second.Digest);
        _registry.Store.GetArtifact(first.Key).Should().NotBeNull("it stays, an ordinary untagged artifact, for GC to collect");
    }

    [Test]
    public async Task EndToEnd_PushedGraph_IsCollectedWithHarborsAccessorySemantics()
    {
        // Given: a tagged image with a cosign tag-scheme signature and an SBOM whose signature is a notation referrer;
        //        an untagged image with the same kinds of accessories; a tagged index with untagged children
        var kept = PushImage(tag: "v1");
        var keptSig = PushImage(tag: $"sha256-{kept.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);
        var keptSbom = _registry.PushManifest(Repo, Referrer(kept.Digest, MediaTypes.HarborSbom, Blob()));
        var keptSbomSig = _registry.PushManifest(Repo, Referrer(keptSbom.Digest, MediaTypes.NotationSignature, Blob()));
        var gone = PushImage();
        var goneSig = PushImage(tag: $"sha256-{gone.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);
        var goneSbom = _registry.PushManifest(Repo, Referrer(gone.Digest, MediaTypes.HarborSbom, Blob()));
        var amd64 = PushImage();
        var arm64 = PushImage();
        _registry.PushManifest(Repo, Index([amd64.Digest, arm64.Digest]), tag: "multi");
        _time.Advance(TimeSpan.FromDays(1));

        // When GC runs for real
        var result = await new GarbageCollector(_registry.Store, _time).RunAsync(new GcOptions());

        // Then the untagged image goes with its signature and SBOM (subject first); everything else stays
        var accessories = new[] { goneSig.Digest, goneSbom.Digest }.Order().Select(d => (d, DeletionReason.AccessoryOfDeletedSubject));
        result.Plan.Artifacts.Select(a => (a.Key.Digest, a.Reason)).Should().Equal([(gone.Digest, DeletionReason.Untagged), .. accessories]);
        foreach (var live in new[] { kept, keptSig, keptSbom, keptSbomSig, amd64, arm64 })
        {
            _registry.Store.GetArtifact(live.Key).Should().NotBeNull();
            live.References.Should().OnlyContain(r => _registry.Store.HasBlobContent(r.Digest));
        }

        _registry.Store.GetTags().Select(t => t.Name).Should().BeEquivalentTo(["v1", $"sha256-{kept.Digest.Hex}.sig", "multi"]);
    }
}
