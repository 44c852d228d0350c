using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using Harbor.Gc.Trust;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>
/// Content trust on pull (DESIGN.md §7), over both stores. Harbor's facts encoded (goharbor/harbor
/// <c>src/server/middleware/contenttrust</c>): a project's <c>enable_content_trust_cosign</c> requires a cosign signature and
/// <c>enable_content_trust</c> a notation one; each enabled kind is checked on its own, so with both enabled both must exist; a
/// signature is an accessory of that type on the pulled artifact itself; the pull of a signature is exempt; a child of a signed
/// index pulled by digest inherits the index's signatures (goharbor/harbor#23540).
/// </summary>
public class RegistryApiContentTrustTests(StoreKind kind) : RegistryApiFixture(kind)
{
    /// <summary>An API over the fixture's store whose policy requires <paramref name="kinds"/> of project <c>library</c>.</summary>
    private RegistryApi Requiring(SignatureKinds kinds, AccessoryClassifier? classifier = null) =>
        new(Store.Inner, classifier: classifier, contentTrust: ContentTrustPolicy.None.Require("library", kinds));

    [Test]
    public async Task GivenCosignRequired_WhenAnUnsignedImageIsPulled_ThenItIsRefusedNamingTheProjectTheKindAndTheDigest_AndNoPullIsRecorded()
    {
        var image = await PushImage("v1");
        var api = Requiring(SignatureKinds.Cosign);

        var pull = async () => await api.PullManifestAsync(Repo, "v1");

        var refusal = (await pull.Should().ThrowAsync<ContentTrustException>()).Which;
        refusal.Project.Should().Be("library");
        refusal.Missing.Should().Be(SignatureKinds.Cosign);
        refusal.Digest.Should().Be(image.Digest);
        refusal.Message.Should().Contain("'library'").And.Contain("no cosign signature").And.Contain(image.Digest.ToString());
        Store.GetArtifact(image.Key)!.PulledAt.Should().BeNull("a refused pull is not a pull");
        Store.GetTags().Single().PulledAt.Should().BeNull();
    }

    [Test]
    public async Task GivenCosignRequired_WhenTheImageHasATagSchemeCosignSignature_ThenThePullServesTheManifestAndIsRecorded()
    {
        var image = await PushImage("v1");
        await PushCosignSignature(image.Digest);
        var api = Requiring(SignatureKinds.Cosign);
        Time.Advance(TimeSpan.FromHours(1));

        var pulled = await api.PullManifestAsync(Repo, "v1");

        pulled.Should().NotBeNull();
        pulled!.Artifact.Digest.Should().Be(image.Digest);
        Digest.Sha256Of(pulled.Content).Should().Be(image.Digest, "the bytes served are the manifest as pushed");
        Store.GetArtifact(image.Key)!.PulledAt.Should().Be(Time.GetUtcNow());
        Store.GetTags().Single(t => t.Name == "v1").PulledAt.Should().Be(Time.GetUtcNow());
        (await api.CheckPullAsync(Repo, "v1")).Outcome.Should().Be(ContentTrustOutcome.Signed);
    }

    [TestCase(MediaTypes.CosignSignatureArtifact)]
    [TestCase(MediaTypes.SigstoreBundle)]
    public async Task GivenCosignRequired_WhenTheImageHasACosignReferrer_ThenThePullIsAllowed(string artifactType)
    {
        var image = await PushImage("v1");
        await PushReferrer(image.Digest, artifactType);

        (await Requiring(SignatureKinds.Cosign).PullManifestAsync(Repo, image.Digest.ToString())).Should().NotBeNull();
    }

    [Test]
    public async Task GivenNotationRequired_WhenOnlyACosignSignatureExists_ThenThePullIsRefusedForTheMissingNotationSignature()
    {
        var image = await PushImage("v1");
        await PushCosignSignature(image.Digest);

        var decision = await Requiring(SignatureKinds.Notation).CheckPullAsync(Repo, "v1");

        decision.Outcome.Should().Be(ContentTrustOutcome.Refused);
        decision.Missing.Should().Be(SignatureKinds.Notation);
        decision.Reason.Should().Contain("no notation signature");
    }

    [Test]
    public async Task GivenBothRequired_AsHarborWithBothSwitchesOn_ThenEachKindMustExist()
    {
        // Given Harbor's project metadata with both switches on: Harbor checks cosign, then notation, and refuses on either
        var policy = ContentTrustPolicy.None.RequireFromHarborMetadata("library", new Dictionary<string, string>
        {
            [ContentTrustPolicy.HarborCosignKey] = "true", [ContentTrustPolicy.HarborContentTrustKey] = "true", ["public"] = "false",
        });
        var api = new RegistryApi(Store.Inner, contentTrust: policy);
        var image = await PushImage("v1");
        await PushReferrer(image.Digest, MediaTypes.NotationSignature);

        // When only notation signed, the pull is refused for cosign
        var onlyNotation = await api.CheckPullAsync(Repo, "v1");
        onlyNotation.Outcome.Should().Be(ContentTrustOutcome.Refused);
        onlyNotation.Missing.Should().Be(SignatureKinds.Cosign);

        // When cosign signs it too, the pull is allowed
        await PushCosignSignature(image.Digest);
        (await api.CheckPullAsync(Repo, "v1")).Outcome.Should().Be(ContentTrustOutcome.Signed);
    }

    [Test]
    public async Task GivenNotationRequired_WhenOnlyTheImagesCosignSignatureIsNotationSigned_ThenTheImageIsNotSigned()
    {
        // Given an image whose cosign signature carries a notation signature of its own (a signature of a signature)
        var image = await PushImage("v1");
        var cosign = await PushReferrer(image.Digest, MediaTypes.CosignSignatureArtifact);
        await PushReferrer(cosign.Digest, MediaTypes.NotationSignature);

        // When the image is pulled, then the notation signature of its signature does not sign it
        var decision = await Requiring(SignatureKinds.Notation).CheckPullAsync(Repo, "v1");
        decision.Outcome.Should().Be(ContentTrustOutcome.Refused);
        decision.Missing.Should().Be(SignatureKinds.Notation);
    }

    [Test]
    public async Task GivenCosignRequired_WhenAChildOfASignedIndexIsPulledByDigest_ThenItIsAllowed_ButNotOfAnUnsignedIndex()
    {
        // Given a signed multi-platform index over two children, and an unsigned index over a third
        var amd64 = await PushImage();
        var arm64 = await PushImage();
        var index = await PushIndex("v1", amd64.Digest, arm64.Digest);
        await PushCosignSignature(index.Digest);
        var loose = await PushImage();
        await PushIndex("v2", loose.Digest);
        var api = Requiring(SignatureKinds.Cosign);

        // When a client pulls the index by tag, then the child by digest, both are allowed
        (await api.PullManifestAsync(Repo, "v1")).Should().NotBeNull();
        var child = await api.CheckPullAsync(Repo, amd64.Digest.ToString());
        child.Outcome.Should().Be(ContentTrustOutcome.SignedByIndex);
        child.SignedIndex.Should().Be(index.Digest);
        (await api.PullManifestAsync(Repo, arm64.Digest.ToString())).Should().NotBeNull();

        // And a child of an unsigned index is refused
        (await api.CheckPullAsync(Repo, loose.Digest.ToString())).Outcome.Should().Be(ContentTrustOutcome.Refused);
    }

    [Test]
    public async Task GivenCosignRequired_WhenAChildOfASignedIndexIsPulledByATagOfItsOwn_ThenItIsRefused()
    {
        // DESIGN.md §7 allows the child pulled by digest (the way clients resolve an index); a tag of its own names it as an image
        var amd64 = await PushImage("v1-amd64");
        var index = await PushIndex("v1", amd64.Digest);
        await PushCosignSignature(index.Digest);

        (await Requiring(SignatureKinds.Cosign).CheckPullAsync(Repo, "v1-amd64")).Outcome.Should().Be(ContentTrustOutcome.Refused);
    }

    [Test]
    public async Task GivenBothRequired_WhenTheChildIsCosignSignedAndItsIndexNotationSigned_ThenTheChildByDigestIsAllowed()
    {
        var child = await PushImage();
        await PushCosignSignature(child.Digest);
        var index = await PushIndex("v1", child.Digest);
        await PushReferrer(index.Digest, MediaTypes.NotationSignature);

        var decision = await Requiring(SignatureKinds.Cosign | SignatureKinds.Notation).CheckPullAsync(Repo, child.Digest.ToString());

        decision.Outcome.Should().Be(ContentTrustOutcome.SignedByIndex);
        decision.SignedIndex.Should().Be(index.Digest);
    }

    [Test]
    public async Task GivenARequirementOnlyForLibrary_WhenAnUnsignedImageOfAnotherProjectIsPulled_ThenItIsAllowed()
    {
        var other = RepositoryName.Parse("open/app");
        var content = Image(await NewBlob(), [await NewBlob()]);
        var image = await Api.PushManifestAsync(other, "v1", content);
        var api = Requiring(SignatureKinds.Cosign | SignatureKinds.Notation);

        var pulled = await api.PullManifestAsync(other, "v1");

        pulled!.Content.Should().Equal(content);
        (await api.CheckPullAsync(other, "v1")).Outcome.Should().Be(ContentTrustOutcome.NotRequired);
        Store.GetArtifact(image.Key)!.PulledAt.Should().NotBeNull();
    }

    [Test]
    public async Task GivenCosignRequired_WhenTheImageHasOnlyAnSbom_ThenTheSbomIsNoSignature()
    {
        // Harbor's SBOM is a hard accessory, but not a signature; the fixture's soft type is an ordinary artifact
        var image = await PushImage("v1");
        await PushReferrer(image.Digest, MediaTypes.HarborSbom);
        await PushReferrer(image.Digest, SoftType);

        (await Requiring(SignatureKinds.Cosign).CheckPullAsync(Repo, "v1")).Outcome.Should().Be(ContentTrustOutcome.Refused);
    }

    [Test]
    public async Task GivenCosignRequired_WhenACosignTypedReferrerWasRegisteredAsSoft_ThenItDoesNotCount()
    {
        // Given a registry that registered cosign's artifact type as a soft accessory (an ordinary artifact pointing at the image)
        var soft = AccessoryClassifier.Default.With(MediaTypes.CosignSignatureArtifact, AccessoryTypes.CosignSignature, ReferenceStrength.Soft);
        var pushing = new RegistryApi(Store.Inner, classifier: soft);
        var image = await PushImage("v1");
        await pushing.PushManifestAsync(Repo, "sig", Referrer(image.Digest, MediaTypes.CosignSignatureArtifact, await NewBlob()));

        // Then only a hard accessory signs the image
        (await Requiring(SignatureKinds.Cosign).CheckPullAsync(Repo, "v1")).Outcome.Should().Be(ContentTrustOutcome.Refused);
    }

    [Test]
    public async Task GivenCosignRequired_WhenTheSignatureItselfIsPulled_ThenItIsAllowed_AsHarborExemptsIt()
    {
        var image = await PushImage("v1");
        var signature = await PushCosignSignature(image.Digest);

        var decision = await Requiring(SignatureKinds.Cosign).CheckPullAsync(Repo, $"sha256-{image.Digest.Hex}.sig");

        decision.Outcome.Should().Be(ContentTrustOutcome.IsSignature);
        decision.Digest.Should().Be(signature.Digest);
    }

    [Test]
    public async Task GivenCosignRequired_WhenATagMovesToAnUnsignedImage_ThenThePullByTagChecksTheNewDigest()
    {
        var signed = await PushImage("latest");
        await PushCosignSignature(signed.Digest);
        var api = Requiring(SignatureKinds.Cosign);
        (await api.CheckPullAsync(Repo, "latest")).Outcome.Should().Be(ContentTrustOutcome.Signed);

        var unsigned = await PushImage("latest");

        var decision = await api.CheckPullAsync(Repo, "latest");
        decision.Outcome.Should().Be(ContentTrustOutcome.Refused);
        decision.Digest.Should().Be(unsigned.Digest);
    }

    [Test]
    public async Task GivenNoPolicy_PullManifest_ServesAndRecordsLikeRecordPull_AndAnUnknownReferenceIsNull()
    {
        var image = await PushImage("v1");
        Time.Advance(TimeSpan.FromMinutes(5));

        var pulled = await Api.PullManifestAsync(Repo, "v1");

        pulled!.Artifact.Key.Should().Be(image.Key);
        Store.GetArtifact(image.Key)!.PulledAt.Should().Be(Time.GetUtcNow());
        Store.GetTags().Single().PulledAt.Should().Be(Time.GetUtcNow());
        (await Api.PullManifestAsync(Repo, "nope")).Should().BeNull();
        (await Api.PullManifestAsync(Repo, D('a').ToString())).Should().BeNull();
        (await Api.CheckPullAsync(Repo, "nope")).Outcome.Should().Be(ContentTrustOutcome.NotFound);
        Api.ContentTrust.Projects.Should().BeEmpty();
    }

    [Test]
    public void HarborMetadata_MapsTheTwoSwitches_AndRejectsAValueThatIsNotABoolean()
    {
        ContentTrustPolicy.None.RequireFromHarborMetadata("a", new Dictionary<string, string> { ["enable_content_trust"] = "true" })
            .RequiredFor("a").Should().Be(SignatureKinds.Notation);
        ContentTrustPolicy.None.RequireFromHarborMetadata("a", new Dictionary<string, string> { ["enable_content_trust_cosign"] = "true", ["enable_content_trust"] = "false" })
            .RequiredFor("a").Should().Be(SignatureKinds.Cosign);
        ContentTrustPolicy.None.RequireFromHarborMetadata("a", new Dictionary<string, string>()).Projects.Should().BeEmpty();

        var bad = () => ContentTrustPolicy.None.RequireFromHarborMetadata("a", new Dictionary<string, string> { ["enable_content_trust_cosign"] = "yes" });
        bad.Should().Throw<FormatException>().WithMessage("*'a'*enable_content_trust_cosign*'yes'*");
        var slash = () => ContentTrustPolicy.None.Require("a/b", SignatureKinds.Cosign);
        slash.Should().Throw<ArgumentException>().WithMessage("*'a/b'*");
        (SignatureKinds.Cosign | SignatureKinds.Notation).Describe().Should().Be("cosign and notation");
    }
}
