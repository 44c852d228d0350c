using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>Tag immutability enforced by <see cref="RegistryApi"/> (DESIGN.md §7), over both stores.</summary>
public class RegistryApiImmutabilityTests(StoreKind kind) : RegistryApiFixture(kind)
{
    private const string Rule = "release tags are immutable (release-*)";

    [SetUp]
    public void AddRule() => Rules.Add("release-*", Rule);

    [Test]
    public async Task PushManifest_MovingAnImmutableTagToAnotherDigest_IsRefusedNamingRuleAndTag_AndStoresNothing()
    {
        // Given release-1.0 on an image, protected by a rule
        var released = await PushImage("release-1.0");
        var config = await NewBlob();
        var content = Image(config, [await NewBlob()]);
        var before = Store.GetArtifacts().Count;

        // When another image is pushed under the same tag
        var act = async () => await PushBytes(content, "release-1.0");

        // Then the push is refused before anything is written, naming the rule and the tag
        (await act.Should().ThrowAsync<ImmutableTagException>()).WithMessage(
            $"Refused to move tag {Repo}:release-1.0 from {released.Digest} to {Digest.Sha256Of(content)}: " +
            $"tag {Repo}:release-1.0 is immutable under rule '{Rule}'.")
            .Which.Should().Match<ImmutableTagException>(e => e.Rule == Rule && e.Tag == "release-1.0" && e.Repository == Repo);
        Store.GetArtifacts().Should().HaveCount(before);
        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(released.Digest);
    }

    [Test]
    public async Task PushManifest_SameDigestAgainUnderAnImmutableTag_IsAllowed()
    {
        var config = await NewBlob();
        var content = Image(config, [await NewBlob()]);
        await PushBytes(content, "release-1.0");

        var again = await PushBytes(content, "release-1.0");

        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(again.Digest);
    }

    [Test]
    public async Task Tag_MovingAnImmutableTag_IsRefused_ButAMutableTagMoves()
    {
        var v1 = await PushImage("release-1.0");
        await Api.TagAsync(Repo, "latest", v1.Digest);
        var v2 = await PushImage();

        var moveImmutable = async () => await Api.TagAsync(Repo, "release-1.0", v2.Digest);
        await Api.TagAsync(Repo, "latest", v2.Digest);

        (await moveImmutable.Should().ThrowAsync<ImmutableTagException>()).Which.Tag.Should().Be("release-1.0");
        Store.GetTags().Select(t => (t.Name, t.Digest)).Should().BeEquivalentTo([("release-1.0", v1.Digest), ("latest", v2.Digest)]);
    }

    [Test]
    public async Task DeleteTag_Immutable_IsRefused()
    {
        await PushImage("release-1.0");

        var act = async () => await Api.DeleteTagAsync(Repo, "release-1.0");

        (await act.Should().ThrowAsync<ImmutableTagException>()).WithMessage(
            $"Refused to delete tag {Repo}:release-1.0: tag {Repo}:release-1.0 is immutable under rule '{Rule}'.");
        Store.GetTags().Should().ContainSingle();
    }

    [Test]
    public async Task DeleteArtifact_CarryingAnImmutableTag_IsRefused_AndNothingIsDeleted()
    {
        // Given an image with a mutable tag and an immutable one, and a signature
        var image = await PushImage("latest");
        await Api.TagAsync(Repo, "release-1.0", image.Digest);
        var signature = await PushReferrer(image.Digest, MediaTypes.NotationSignature);

        // When it is deleted
        var act = async () => await Api.DeleteArtifactAsync(image.Key);

        // Then it is refused because of any one of its tags
        (await act.Should().ThrowAsync<ImmutableTagException>()).WithMessage(
            $"Refused to delete {image.Key}: tag {Repo}:release-1.0 is immutable under rule '{Rule}'.");
        Exists(image).Should().BeTrue();
        Exists(signature).Should().BeTrue();
        Store.GetTags().Should().HaveCount(2);
    }

    [Test]
    public async Task DeleteArtifact_HardAccessoryOfAnImmutableArtifact_IsRefused_EvenTwoLevelsDown()
    {
        // Given a released image with an SBOM and a signature of that SBOM
        var image = await PushImage("release-1.0");
        var sbom = await PushReferrer(image.Digest, MediaTypes.HarborSbom);
        var sbomSignature = await PushReferrer(sbom.Digest, MediaTypes.NotationSignature);

        // When the SBOM's signature is deleted on its own
        var act = async () => await Api.DeleteArtifactAsync(sbomSignature.Key);

        // Then it is refused: a hard accessory is immutable when its subject is, recursively
        (await act.Should().ThrowAsync<ImmutableTagException>()).WithMessage(
            $"Refused to delete {sbomSignature.Key}: tag {Repo}:release-1.0 is immutable under rule '{Rule}'.");
        Exists(sbomSignature).Should().BeTrue();
    }

    [Test]
    public async Task DeleteArtifact_SoftAccessoryOfAnImmutableArtifact_IsAllowed()
    {
        var image = await PushImage("release-1.0");
        var soft = await PushReferrer(image.Digest, SoftType);

        await Api.DeleteArtifactAsync(soft.Key);

        Exists(soft).Should().BeFalse("a soft accessory is an ordinary artifact: its subject's immutability does not cover it");
    }

    [Test]
    public async Task CosignTagSchemeTags_AreNeverMatched_EvenByARuleMatchingEveryTag()
    {
        // Given a rule matching every tag (goharbor/harbor#18014: in Harbor such a rule matches the .sig tag) and an untagged,
        // cosign-signed image
        Rules.Add("*", "everything is immutable");
        var image = await PushImage();
        var first = await PushCosignSignature(image.Digest);

        // When cosign re-signs (moving the .sig tag), then the signature and the image are deleted
        var second = await PushCosignSignature(image.Digest);
        await Api.DeleteArtifactAsync(second.Key);
        await Api.DeleteArtifactAsync(image.Key);

        // Then nothing was refused: the tag-scheme tag is the accessory's name, never a user tag, and the rule was never asked
        Exists(image).Should().BeFalse();
        Exists(first).Should().BeTrue("the first signature lost its tag-scheme link when the tag moved, and was not deleted");
        Rules.Asked.Should().NotContain(a => a.Tag.EndsWith(".sig", StringComparison.Ordinal));
    }

    [Test]
    public async Task DeleteTag_CosignTagOfASignatureOfAnImmutableImage_IsRefused()
    {
        // Given a released image signed by cosign's tag scheme: deleting the .sig tag would unlink the signature, leaving it to GC
        var image = await PushImage("release-1.0");
        var signature = await PushCosignSignature(image.Digest);
        var sigTag = $"sha256-{image.Digest.Hex}.sig";

        // When the .sig tag is deleted
        var act = async () => await Api.DeleteTagAsync(Repo, sigTag);

        // Then it is refused in the name of the subject's immutable tag, and the signature stays linked
        (await act.Should().ThrowAsync<ImmutableTagException>()).WithMessage(
            $"Refused to delete tag {Repo}:{sigTag}: tag {Repo}:release-1.0 is immutable under rule '{Rule}'.");
        Store.GetAccessoryLinks().Should().ContainSingle().Which.Accessory.Should().Be(signature.Digest);
    }

    [Test]
    public async Task DeleteTag_CosignTagOfASignatureOfAMutableImage_UnlinksTheSignature()
    {
        var image = await PushImage("v1");
        var signature = await PushCosignSignature(image.Digest);

        (await Api.DeleteTagAsync(Repo, $"sha256-{image.Digest.Hex}.sig")).Should().BeTrue();

        Store.GetAccessoryLinks().Should().BeEmpty("without its tag-scheme tag the signature is an ordinary untagged artifact");
        Exists(signature).Should().BeTrue();
    }
}
