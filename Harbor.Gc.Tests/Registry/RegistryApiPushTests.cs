using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>Pushing blobs and manifests through <see cref="RegistryApi"/> (DESIGN.md §3, §4), over both stores.</summary>
[TestFixture(StoreKind.InMemory)] // StoreFixture's stores, named again: a fixture's own attributes replace the inherited ones
[TestFixture(StoreKind.LiteDb)]
[TestFixture(StoreKind.Postgres)]
[TestFixture(StoreKind.LiteDbS3, Category = "S3")] // the LiteDB store with its blobs in S3 (issue 17)
public class RegistryApiPushTests(StoreKind kind) : RegistryApiFixture(kind)
{
    [Test]
    public async Task PushManifest_ByTag_RecordsReferencesAndPointsTheTag()
    {
        // Given a config and a layer uploaded
        var config = await NewBlob();
        var layer = await NewBlob();
        var content = Image(config, [layer]);

        // When the manifest is pushed by tag
        var artifact = await Api.PushManifestAsync(Repo, "v1", content);

        // Then the artifact records its own blob, config and layer, and the tag points at it
        artifact.Digest.Should().Be(Digest.Sha256Of(content));
        artifact.References.Select(r => (r.Digest, r.Kind)).Should().Equal(
            (artifact.Digest, BlobReferenceKind.Manifest), (config, BlobReferenceKind.Config), (layer, BlobReferenceKind.Layer));
        Store.GetTags().Should().ContainSingle().Which.Should().Match<Tag>(t => t.Name == "v1" && t.Digest == artifact.Digest);
        Store.HasBlobContent(artifact.Digest).Should().BeTrue("the manifest bytes are stored as its blob");
    }

    [Test]
    public async Task PushManifest_ByDigest_StoresItUntagged()
    {
        var artifact = await PushImage();

        Store.GetArtifact(artifact.Key).Should().NotBeNull();
        Store.GetTags().Should().BeEmpty();
    }

    [Test]
    public async Task PushManifest_ByDigestTheBytesDoNotHashTo_IsRefusedAndStoresNothing()
    {
        var content = Image(await NewBlob(), []);
        var claimed = D('e');

        var act = async () => await Api.PushManifestAsync(Repo, claimed.ToString(), content);

        (await act.Should().ThrowAsync<BlobDigestMismatchException>()).Which.Actual.Should().Be(Digest.Sha256Of(content));
        Store.GetArtifacts().Should().BeEmpty();
    }

    [Test]
    public async Task PushManifest_WithMissingBlobsAndChildren_IsRefusedNamingEachOne_AndStoresNothing()
    {
        // Given an image manifest whose config is uploaded but whose layers are not (Distribution answers MANIFEST_BLOB_UNKNOWN)
        var config = await NewBlob();
        var image = Image(config, [D('a'), D('b')]);
        var imageKey = new ArtifactKey(Repo, Digest.Sha256Of(image));
        var index = Index([D('c')]);
        var indexKey = new ArtifactKey(Repo, Digest.Sha256Of(index));

        // When both are pushed
        var pushImage = async () => await Api.PushManifestAsync(Repo, "v1", image);
        var pushIndex = async () => await Api.PushManifestAsync(Repo, "multi", index);

        // Then each is refused with every missing reference named, and nothing is written
        (await pushImage.Should().ThrowAsync<ManifestReferencesMissingException>()).WithMessage(
            $"Refused to push manifest {imageKey}: it references blobs {D('a')}, {D('b')} not in the store (push them first).");
        (await pushIndex.Should().ThrowAsync<ManifestReferencesMissingException>()).WithMessage(
            $"Refused to push manifest {indexKey}: it references child manifest {D('c')} not in {Repo} (push it first).")
            .Which.MissingChildren.Should().Equal(D('c'));
        Store.GetArtifacts().Should().BeEmpty();
        Store.GetTags().Should().BeEmpty();
        Store.GetBlob(imageKey.Digest).Should().BeNull("a refused manifest's bytes are not stored either");
    }

    [Test]
    public async Task PushManifest_WithAMissingForeignLayer_IsAccepted()
    {
        // Given a Windows-style image whose base layer is non-distributable: registries never store those bytes
        var content = Image(await NewBlob(), [await NewBlob()], extraLayers: "," + Descriptor(D('f'), 5000, MediaTypes.DockerForeignLayer));

        var artifact = await PushBytes(content, "windows");

        artifact.References.Should().ContainSingle(r => r.IsForeign).Which.Digest.Should().Be(D('f'));
    }

    [Test]
    public async Task PushManifest_Index_AfterItsChildren_RecordsThem()
    {
        var amd64 = await PushImage();
        var arm64 = await PushImage();

        var index = await PushIndex("multi", amd64.Digest, arm64.Digest);

        index.Children.Should().Equal(amd64.Digest, arm64.Digest);
    }

    [Test]
    public async Task PushManifest_WithSubject_IsLinkedAsAHardAccessory_EvenBeforeItsSubjectExists()
    {
        var notYetPushed = D('a');

        var signature = await PushReferrer(notYetPushed, MediaTypes.NotationSignature);

        Store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Be(
            new AccessoryLink(Repo, signature.Digest, notYetPushed, AccessoryTypes.NotationSignature, ReferenceStrength.Hard));
    }

    [Test]
    public async Task PushManifest_ByCosignTagSchemeTag_LinksTheSignatureToItsImage()
    {
        var image = await PushImage("v1");

        var signature = await PushCosignSignature(image.Digest);

        Store.GetAccessoryLinks().Should().ContainSingle().Which.Should().Be(
            new AccessoryLink(Repo, signature.Digest, image.Digest, AccessoryTypes.CosignSignature, ReferenceStrength.Hard, FromTagScheme: true));
    }

    [Test]
    public async Task Tag_CosignTagMovedToANewSignature_UnlinksTheOldOne()
    {
        // Given an image signed by cosign's tag scheme; when cosign signs again, it pushes a new manifest under the same tag
        var image = await PushImage("v1");
        var first = await PushCosignSignature(image.Digest);
        var second = await PushCosignSignature(image.Digest);

        // Then only the new signature is linked; the old one is an ordinary untagged artifact
        Store.GetAccessoryLinks().Should().ContainSingle().Which.Accessory.Should().Be(second.Digest);
        Exists(first).Should().BeTrue();
    }

    [Test]
    public async Task PushManifest_ReferencingABlobInStatusDelete_TakesItBack()
    {
        // Given a layer a sweep has marked for deletion (status delete, not yet deleting)
        var layer = await NewBlob();
        Store.TryUpdateBlobStatus(layer, BlobStatusSet.None, BlobStatus.Delete).Should().BeTrue();
        var marked = Store.GetBlob(layer)!;
        Time.Advance(TimeSpan.FromMinutes(1));

        // When a manifest referencing it is pushed
        await PushBytes(Image(await NewBlob(), [layer]));

        // Then the blob is back to none and touched, so the sweep's compare-and-swap on it fails
        var blob = Store.GetBlob(layer)!;
        blob.Status.Should().Be(BlobStatus.None);
        blob.LastTouchedAt.Should().BeAfter(marked.LastTouchedAt);
        (await Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, marked.LastTouchedAt))
            .Should().BeFalse("the sweep sees the blob was taken back");
    }

    [Test]
    public async Task PushManifest_ReferencingABlobBeingDeleted_FailsRetryably_AndStoresNothing()
    {
        // Given a layer a sweep is deleting right now
        var layer = await NewBlob();
        Store.TryUpdateBlobStatus(layer, BlobStatusSet.None, BlobStatus.Delete).Should().BeTrue();
        Store.TryUpdateBlobStatus(layer, BlobStatusSet.Delete, BlobStatus.Deleting).Should().BeTrue();
        var content = Image(await NewBlob(), [layer]);

        // When a manifest referencing it is pushed
        var act = async () => await PushBytes(content, "v1");

        // Then the push fails with the retryable error, never succeeds with a blob that may vanish
        (await act.Should().ThrowAsync<BlobBeingDeletedException>()).Which.Digest.Should().Be(layer);
        BlobBeingDeletedException.IsRetryable.Should().BeTrue();
        Store.GetArtifacts().Should().BeEmpty();
        Store.GetTags().Should().BeEmpty();
    }

    [Test]
    public async Task PushBlob_WithBytesThatDoNotHashToTheDigest_IsRefused()
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes("not what was claimed"));

        var act = async () => await Api.PushBlobAsync(D('a'), stream);

        await act.Should().ThrowAsync<BlobDigestMismatchException>();
        Store.GetBlob(D('a')).Should().BeNull();
    }

    [Test]
    public async Task PushManifest_WithAnInvalidTag_IsRefused()
    {
        var content = Image(await NewBlob(), []);

        var act = async () => await PushBytes(content, "-bad");

        await act.Should().ThrowAsync<InvalidNameException>();
        Store.GetArtifacts().Should().BeEmpty();
    }
}
