using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.InMemory;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Storage;

/// <summary>Pushing real manifests: references recorded, accessories detected by subject and by cosign's tag scheme (DESIGN.md §4).</summary>
public class RegistryIngestTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private RegistryIngest _registry = null!;
    private InMemoryRegistryStore _store = null!;
    private int _n;

    [SetUp]
    public async Task SetUp()
    {
        _store = new InMemoryRegistryStore(_time);
        _registry = new RegistryIngest(_store);
        await _registry.PushBlobAsync("{}"u8.ToArray(), MediaTypes.OciEmpty); // the empty config every OCI 1.1 referrer uses, uploaded as clients do
    }

    private ValueTask<Digest> Blob(string? mediaType = null) => _registry.PushBlobAsync(Encoding.UTF8.GetBytes($"blob {++_n}"), mediaType);

    private async Task<Artifact> PushImage(string? tag = null, Digest? subject = null, string layerType = MediaTypes.OciLayerGzip) =>
        await _registry.PushManifestAsync(Repo, Image(await Blob(), [await Blob()], layerType: layerType, subject: subject), tag: tag);

    [Test]
    public async Task PushManifest_WithMissingBlob_IsRefused()
    {
        var act = async () => await _registry.PushManifestAsync(Repo, Image(D('c'), []));

        (await act.Should().ThrowAsync<Harbor.Gc.Registry.ManifestReferencesMissingException>()).Which.MissingBlobs.Should().Equal(D('c'));
    }

    [Test]
    public async Task PushManifest_Referrer_RecordsAHardLink_EvenBeforeItsSubjectExists()
    {
        var notYetPushed = D('a');

        var signature = await _registry.PushManifestAsync(Repo, Referrer(notYetPushed, MediaTypes.NotationSignature, await Blob()));

        _store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Be(
            new AccessoryLink(Repo, signature.Digest, notYetPushed, AccessoryTypes.NotationSignature, ReferenceStrength.Hard));
    }

    [Test]
    public async Task Tag_CosignSignatureTag_LinksTheSignatureToItsImage()
    {
        var image = await PushImage(tag: "v1");

        var signature = await PushImage(tag: $"sha256-{image.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);

        _store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Match<AccessoryLink>(l =>
            l.Accessory == signature.Digest && l.Subject == image.Digest && l.Type == AccessoryTypes.CosignSignature && l.FromTagScheme);
    }

    [Test]
    public async Task Tag_CosignResigns_TheOldSignatureManifestLosesItsLink()
    {
        // cosign adds a signature by pushing a new manifest under the same sha256-<hex>.sig tag
        var image = await PushImage(tag: "v1");
        var tag = $"sha256-{image.Digest.Hex}.sig";
        var first = await PushImage(tag: tag, layerType: MediaTypes.CosignSimpleSigning);

        var second = await PushImage(tag: tag, layerType: MediaTypes.CosignSimpleSigning);

        _store.GetAccessoryLinks().Select(l => l.Accessory).Should().Equal(second.Digest);
        _store.GetArtifact(first.Key).Should().NotBeNull("it stays, an ordinary untagged artifact, for GC to collect");
    }

    [Test]
    public async Task EndToEnd_PushedGraph_IsCollectedWithHarborsAccessorySemantics()
    {
        // Given: a tagged image with a cosign tag-scheme signature and an SBOM whose signature is a notation referrer;
        //        an untagged image with the same kinds of accessories; a tagged index with untagged children
        var kept = await PushImage(tag: "v1");
        var keptSig = await PushImage(tag: $"sha256-{kept.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);
        var keptSbom = await _registry.PushManifestAsync(Repo, Referrer(kept.Digest, MediaTypes.HarborSbom, await Blob()));
        var keptSbomSig = await _registry.PushManifestAsync(Repo, Referrer(keptSbom.Digest, MediaTypes.NotationSignature, await Blob()));
        var gone = await PushImage();
        var goneSig = await PushImage(tag: $"sha256-{gone.Digest.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);
        var goneSbom = await _registry.PushManifestAsync(Repo, Referrer(gone.Digest, MediaTypes.HarborSbom, await Blob()));
        var amd64 = await PushImage();
        var arm64 = await PushImage();
        await _registry.PushManifestAsync(Repo, Index([amd64.Digest, arm64.Digest]), tag: "multi");
        _time.Advance(TimeSpan.FromDays(1));

        // When GC runs for real
        var result = await new GarbageCollector(_registry.Store, _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // Then the untagged image goes with its signature and SBOM (subject first); everything else stays
        var accessories = new[] { goneSig.Digest, goneSbom.Digest }.Order().Select(d => (d, DeletionReason.AccessoryOfDeletedSubject));
        result.Plan.Artifacts.Select(a => (a.Key.Digest, a.Reason)).Should().Equal([(gone.Digest, DeletionReason.Untagged), .. accessories]);
        foreach (var live in new[] { kept, keptSig, keptSbom, keptSbomSig, amd64, arm64 })
        {
            _store.GetArtifact(live.Key).Should().NotBeNull();
            live.References.Should().OnlyContain(r => _store.HasBlobContent(r.Digest));
        }

        _store.GetTags().Select(t => t.Name).Should().BeEquivalentTo(["v1", $"sha256-{kept.Digest.Hex}.sig", "multi"]);
    }
}
