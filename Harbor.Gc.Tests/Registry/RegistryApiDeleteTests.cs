using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>Deleting tags and artifacts through <see cref="RegistryApi"/>, with the cascade of DESIGN.md §7, over both stores.</summary>
public class RegistryApiDeleteTests(StoreKind kind) : RegistryApiFixture(kind)
{
    [Test]
    public async Task DeleteTag_RemovesTheTag_AndKeepsTheArtifact()
    {
        var image = await PushImage("v1");

        (await Api.DeleteTagAsync(Repo, "v1")).Should().BeTrue();

        Store.GetTags().Should().BeEmpty();
        Exists(image).Should().BeTrue("deleting a tag leaves the manifest (untagged) for GC to judge");
        (await Api.DeleteTagAsync(Repo, "v1")).Should().BeFalse("the tag is gone");
    }

    [Test]
    public async Task Tag_MovesTheTagToAnotherArtifact()
    {
        var v1 = await PushImage("latest");
        var v2 = await PushImage();

        await Api.TagAsync(Repo, "latest", v2.Digest);

        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(v2.Digest);
        Exists(v1).Should().BeTrue();
    }

    [Test]
    public async Task DeleteArtifact_ListedByAnIndex_IsRefusedNamingTheIndex()
    {
        // Given a child of a multi-arch index (Harbor refuses to delete a child an index references)
        var child = await PushImage();
        var index = await PushIndex("multi", child.Digest);

        // When the child is deleted
        var act = async () => await Api.DeleteArtifactAsync(child.Key);

        // Then it is refused, and nothing is deleted
        (await act.Should().ThrowAsync<ArtifactInUseException>()).WithMessage(
            $"Refused to delete {child.Key}: the index {Repo}@{index.Digest} references it; delete the index first.");
        Exists(child).Should().BeTrue();
        Exists(index).Should().BeTrue();
    }

    [Test]
    public async Task DeleteArtifact_DeletesItsTags_AndItsHardAccessoriesRecursively()
    {
        // Given an image with an SBOM referrer, a notation signature of that SBOM, and a cosign tag-scheme signature
        var image = await PushImage("v1");
        await Api.TagAsync(Repo, "stable", image.Digest);
        var sbom = await PushReferrer(image.Digest, MediaTypes.HarborSbom);
        var sbomSignature = await PushReferrer(sbom.Digest, MediaTypes.NotationSignature);
        var cosign = await PushCosignSignature(image.Digest);
        var other = await PushImage("other");

        // When the image is deleted
        var deletion = await Api.DeleteArtifactAsync(image.Key);

        // Then the image goes first, then its accessories and theirs; its tags and the cosign tag go too; the other image stays
        deletion.Deleted.First().Should().Be(image.Key, "the subject goes first: a crash leaves orphan accessories for GC, never a dangling reference");
        deletion.Deleted.Should().BeEquivalentTo([image.Key, sbom.Key, sbomSignature.Key, cosign.Key]);
        deletion.Kept.Should().BeEmpty();
        Store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo([other.Key]);
        Store.GetTags().Select(t => t.Name).Should().Equal("other");
        Store.GetAccessoryLinks().Should().BeEmpty();
    }

    [Test]
    public async Task DeleteArtifact_DetachesSoftAccessories_AndKeepsThem()
    {
        // Given an image with a soft accessory (a type an embedding registry registered as soft)
        var image = await PushImage("v1");
        var soft = await PushReferrer(image.Digest, SoftType);
        Store.GetAccessoryLinks().Should().ContainSingle().Which.Strength.Should().Be(ReferenceStrength.Soft);

        // When the image is deleted
        await Api.DeleteArtifactAsync(image.Key);

        // Then the soft accessory is an ordinary artifact now
        Exists(soft).Should().BeTrue();
        Store.GetAccessoryLinks().Should().BeEmpty();
    }

    [Test]
    public async Task DeleteArtifact_Index_DeletesOnlyChildrenNoOneElseUsesAndThatCarryNoTag()
    {
        // Given an index of three children: one only it lists, one another index also lists, and one that carries a tag
        var own = await PushImage();
        var shared = await PushImage();
        var tagged = await PushImage("arm64-only");
        var ownSignature = await PushReferrer(own.Digest, MediaTypes.CosignSignatureArtifact);
        var index = await PushIndex("multi", own.Digest, shared.Digest, tagged.Digest);
        var otherIndex = await PushIndex("multi-legacy", shared.Digest);

        // When the index is deleted
        var deletion = await Api.DeleteArtifactAsync(index.Key);

        // Then its own child (and that child's signature) go; the shared and the tagged children stay
        deletion.Deleted.Should().BeEquivalentTo([index.Key, own.Key, ownSignature.Key]);
        Store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo([shared.Key, tagged.Key, otherIndex.Key]);
    }

    [Test]
    public async Task DeleteArtifact_NestedIndexes_DeletesTheWholeUnsharedTree()
    {
        var leaf = await PushImage();
        var inner = await PushIndex(null, leaf.Digest);
        var outer = await PushIndex("nested", inner.Digest);

        var deletion = await Api.DeleteArtifactAsync(outer.Key);

        deletion.Deleted.Should().Equal(outer.Key, inner.Key, leaf.Key);
        Store.GetArtifacts().Should().BeEmpty();
    }

    [Test]
    public async Task DeleteArtifact_ThatDoesNotExist_IsRefused()
    {
        var act = async () => await Api.DeleteArtifactAsync(new ArtifactKey(Repo, D('a')));

        await act.Should().ThrowAsync<KeyNotFoundException>().WithMessage($"There is no manifest {Repo}@{D('a')}.");
    }

    [Test]
    public async Task DeleteArtifact_OfAnAccessoryAlone_LeavesItsSubject()
    {
        var image = await PushImage("v1");
        var signature = await PushReferrer(image.Digest, MediaTypes.NotationSignature);

        await Api.DeleteArtifactAsync(signature.Key);

        Exists(image).Should().BeTrue();
        Exists(signature).Should().BeFalse();
        Store.GetAccessoryLinks().Should().BeEmpty();
    }
}
