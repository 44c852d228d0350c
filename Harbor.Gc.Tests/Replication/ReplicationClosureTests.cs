using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Replication;
using Harbor.Gc.Tests.Registry;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Replication;

/// <summary>
/// The replication closure (DESIGN.md §7) over registries pushed through the registry API, on both stores. Harbor's facts encoded:
/// its replication copies an index's children before pushing the index, lists an artifact's accessories with it, and skips
/// foreign layers.
/// </summary>
public class ReplicationClosureTests(StoreKind kind) : RegistryApiFixture(kind)
{
    private Task<ReplicationPlan> Plan(params ReplicationSelector[] selectors) => Plan(ReplicationOptions.Default, selectors);

    private async Task<ReplicationPlan> Plan(ReplicationOptions options, params ReplicationSelector[] selectors) =>
        await ReplicationClosure.PlanAsync(Store.Inner, selectors, options);

    private static int Position(ReplicationPlan plan, Artifact artifact) => plan.Items.Select(i => i.Key).ToList().IndexOf(artifact.Key);

    [Test]
    public async Task GivenASignedIndex_WhenItsTagIsSelected_ThenChildrenPrecedeItAndSubjectsPrecedeTheirAccessories_EachOnce()
    {
        // Given an index over two children; the index has a cosign tag-scheme signature and an SBOM that is itself signed;
        // one child has a notation signature
        var amd64 = await PushImage();
        var arm64 = await PushImage();
        var index = await PushIndex("v1", amd64.Digest, arm64.Digest);
        var indexSignature = await PushCosignSignature(index.Digest);
        var sbom = await PushReferrer(index.Digest, MediaTypes.HarborSbom);
        var sbomSignature = await PushReferrer(sbom.Digest, MediaTypes.NotationSignature);
        var childSignature = await PushReferrer(amd64.Digest, MediaTypes.NotationSignature);
        await PushImage("unrelated");

        // When v1 is replicated
        var plan = await Plan(ReplicationSelector.Artifact(Repo, "v1"));

        // Then everything that belongs to it is copied once, and nothing else
        plan.Problems.Should().BeEmpty();
        plan.Items.Select(i => i.Key).Should().BeEquivalentTo(
            new[] { amd64, arm64, index, indexSignature, sbom, sbomSignature, childSignature }.Select(a => a.Key));
        plan.Items.Select(i => i.Key).Should().OnlyHaveUniqueItems();
        Position(plan, amd64).Should().BeLessThan(Position(plan, index));
        Position(plan, arm64).Should().BeLessThan(Position(plan, index));
        Position(plan, index).Should().BeLessThan(Position(plan, indexSignature));
        Position(plan, index).Should().BeLessThan(Position(plan, sbom));
        Position(plan, sbom).Should().BeLessThan(Position(plan, sbomSignature));
        Position(plan, amd64).Should().BeLessThan(Position(plan, childSignature));

        // And the index is pushed with its tag, the cosign signature with its tag-scheme tag, the others by digest
        var items = plan.Items.ToDictionary(i => i.Key);
        items[index.Key].Tags.Should().Equal("v1");
        items[index.Key].Reason.Should().Be(ReplicationReason.Selected);
        items[indexSignature.Key].Tags.Should().Equal($"sha256-{index.Digest.Hex}.sig");
        items[indexSignature.Key].Reason.Should().Be(ReplicationReason.Accessory);
        items[indexSignature.Key].AccessoryType.Should().Be(AccessoryTypes.CosignSignature);
        items[indexSignature.Key].Via.Should().Be(index.Key);
        items[amd64.Key].Reason.Should().Be(ReplicationReason.Child);
        items[amd64.Key].Tags.Should().BeEmpty();
        items[sbomSignature.Key].Via.Should().Be(sbom.Key);
    }

    [Test]
    public async Task GivenAChildOfAnIndex_WhenOnlyTheChildIsSelected_ThenItsIndexIsNotCopied_ButItsAccessoriesAre()
    {
        var child = await PushImage();
        var signature = await PushCosignSignature(child.Digest);
        await PushIndex("v1", child.Digest);

        var plan = await Plan(ReplicationSelector.Artifact(Repo, child.Digest.ToString()));

        plan.Items.Select(i => i.Key).Should().Equal(child.Key, signature.Key);
        plan.Items[0].Tags.Should().BeEmpty("selected by digest, it is pushed by digest");
    }

    [Test]
    public async Task GivenASoftAccessory_ThenItIsLeftOutByDefault_AndCopiedWhenAsked()
    {
        // A soft accessory is an ordinary artifact pointing at its subject (§4); Harbor copies every accessory, but ships only
        // hard types, so the default copies what Harbor copies and IncludeSoftAccessories copies registered soft types too
        var image = await PushImage("v1");
        var hard = await PushReferrer(image.Digest, MediaTypes.HarborSbom);
        var soft = await PushReferrer(image.Digest, SoftType);

        var byDefault = await Plan(ReplicationSelector.Artifact(Repo, "v1"));
        var withSoft = await Plan(new ReplicationOptions { IncludeSoftAccessories = true }, ReplicationSelector.Artifact(Repo, "v1"));

        byDefault.Items.Select(i => i.Key).Should().Equal(image.Key, hard.Key);
        withSoft.Items.Select(i => i.Key).Should().HaveCount(3).And.Contain(soft.Key).And.StartWith(image.Key);
    }

    [Test]
    public async Task Blobs_AreTheConfigAndLayers_WithForeignLayersFlaggedAsNotCopied()
    {
        var config = await NewBlob();
        var layer = await NewBlob();
        var foreign = Digest.Sha256Of("foreign"u8);
        var content = Support.Manifests.Image(config, [layer], extraLayers: "," + Support.Manifests.Descriptor(foreign, 77, MediaTypes.DockerForeignLayer));
        var image = await Api.PushManifestAsync(Repo, "v1", content);
        var signature = await PushCosignSignature(image.Digest);

        var plan = await Plan(ReplicationSelector.Artifact(Repo, "v1"));

        var blobs = plan.Items[0].Blobs;
        blobs.Select(b => (b.Digest, b.Kind, b.IsCopied)).Should().Equal(
            (config, BlobReferenceKind.Config, true), (layer, BlobReferenceKind.Layer, true), (foreign, BlobReferenceKind.Layer, false));
        plan.BlobsToCopy.Select(b => b.Digest).Should().StartWith([config, layer]).And.NotContain(foreign)
            .And.Contain(Store.GetArtifact(signature.Key)!.References.Where(r => r.Kind == BlobReferenceKind.Layer).Select(r => r.Digest));
    }

    [Test]
    public async Task MatchingSelectors_SelectByUserTags_NeverByCosignTagSchemeTags()
    {
        // Given two tagged images, one signed by tag scheme, and an untagged image
        var v1 = await PushImage("v1");
        var v2 = await PushImage("release-2");
        var signature = await PushCosignSignature(v1.Digest);
        await PushImage();

        // When every tag of library/** is selected
        var all = await Plan(ReplicationSelector.Matching("library/**"));

        // Then the signature comes as v1's accessory, not as a selected artifact with a tag; the untagged image stays
        all.Items.Select(i => i.Key).Should().BeEquivalentTo(new[] { v1.Key, v2.Key, signature.Key });
        all.Items.Single(i => i.Key == signature.Key).Reason.Should().Be(ReplicationReason.Accessory);
        (await Plan(ReplicationSelector.Matching("library/*", "release-*"))).Items.Select(i => i.Key).Should().Equal(v2.Key);
        (await Plan(ReplicationSelector.Matching("other/**"))).Problems.Should().ContainSingle().Which.Should().Contain("other/**");
    }

    [Test]
    public async Task AnUnknownReference_IsAProblemNamingTheSelector_AndAnIndexWithAMissingChildIsReported()
    {
        var plan = await Plan(ReplicationSelector.Artifact(Repo, "nope"));
        plan.Items.Should().BeEmpty();
        plan.Problems.Should().ContainSingle().Which.Should().Contain("library/app:nope");

        var bad = () => ReplicationSelector.Matching("library/{a", "**");
        bad.Should().Throw<FormatException>().WithMessage("*library/{a*");

        // An index whose child is gone from the store (written directly, as a broken store could hold it)
        var child = await PushImage();
        var index = await PushIndex("v1", child.Digest);
        await Store.Inner.DeleteArtifactAsync(child.Key, Store.GetArtifact(child.Key)!.Version);
        var broken = await Plan(ReplicationSelector.Artifact(Repo, "v1"));
        broken.Items.Select(i => i.Key).Should().Equal(index.Key);
        broken.Problems.Should().ContainSingle().Which.Should().Contain(child.Digest.ToString());
    }

    [Test]
    public async Task ThePlanIsDeterministic_SiblingsInDigestOrder()
    {
        var children = new List<Artifact>();
        for (var i = 0; i < 5; i++)
        {
            children.Add(await PushImage());
        }

        await PushIndex("v1", [.. children.Select(c => c.Digest).Reverse()]);

        var plan = await Plan(ReplicationSelector.Artifact(Repo, "v1"));

        plan.Items.Take(5).Select(i => i.Key.Digest).Should().BeInAscendingOrder();
        (await Plan(ReplicationSelector.Artifact(Repo, "v1"))).Items.Should().Equal(plan.Items, (a, b) => a.Key == b.Key);
    }
}
