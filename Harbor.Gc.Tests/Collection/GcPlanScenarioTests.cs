using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>The mark-and-plan rules of DESIGN.md §4–§5, each as a Harbor scenario: given a registry, when GC plans, then …</summary>
public class GcPlanScenarioTests(StoreKind kind) : StoreFixture(kind)
{
    private static IEnumerable<Digest> PlannedArtifacts(CollectionPlan plan) => plan.Artifacts.Select(a => a.Key.Digest);

    private static IEnumerable<Digest> PlannedBlobs(CollectionPlan plan) => plan.Blobs.Select(b => b.Digest);

    [Test]
    public async Task Plan_UntaggedImage_IsCollectedWithItsBlobs()
    {
        // Given an untagged image older than the window (Harbor: "delete untagged artifacts")
        var r = NewRegistry();
        var layer = r.Blob();
        var image = r.Image("library/app", [layer]);
        r.Age();

        var plan = await r.PlanAsync();

        // Then the artifact goes as untagged, with its manifest blob, config and layer
        plan.Artifacts.Should().ContainSingle().Which.Reason.Should().Be(DeletionReason.Untagged);
        PlannedBlobs(plan).Should().BeEquivalentTo(image.References.Select(x => x.Digest));
        plan.Summary.Bytes.Should().Be(image.References.Sum(x => x.Size));
    }

    [Test]
    public async Task Plan_TaggedImage_IsKept()
    {
        var r = NewRegistry();
        r.Image("library/app", [r.Blob()], tag: "v1");
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().BeEmpty();
        plan.Blobs.Should().BeEmpty("every blob is referenced by the tagged image");
    }

    [Test]
    public async Task Plan_UntaggedChildOfTaggedIndex_IsKept()
    {
        // Given a tagged multi-arch index whose platform manifests are untagged (as every multi-arch push leaves them)
        var r = NewRegistry();
        var amd64 = r.Image("library/app", [r.Blob()]);
        var arm64 = r.Image("library/app", [r.Blob()]);
        r.Index("library/app", [amd64, arm64], tag: "latest");
        r.Age();

        var plan = await r.PlanAsync();

        // Then the index keeps its children (CNCF Distribution before 3.0 deleted them with --delete-untagged)
        plan.Artifacts.Should().BeEmpty();
        plan.Blobs.Should().BeEmpty();
    }

    [Test]
    public async Task Plan_UntaggedIndex_IsCollectedWithItsUntaggedChildren_ButNotTaggedOnes()
    {
        var r = NewRegistry();
        var untaggedChild = r.Image("library/app", [r.Blob()]);
        var taggedChild = r.Image("library/app", [r.Blob()], tag: "amd64");
        var index = r.Index("library/app", [untaggedChild, taggedChild]);
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Select(a => (a.Key.Digest, a.Reason)).Should().BeEquivalentTo(new[]
        {
            (index.Digest, DeletionReason.Untagged),
            (untaggedChild.Digest, DeletionReason.ChildOfDeletedIndex),
        });
        plan.Artifacts[0].Key.Digest.Should().Be(index.Digest, "an index is deleted before its children, so a stopped run never leaves it dangling");
        plan.Artifacts[1].DependsOn.Should().ContainSingle().Which.Digest.Should().Be(index.Digest);
    }

    [Test]
    public async Task Plan_ChildSharedWithALiveIndex_IsKept()
    {
        var r = NewRegistry();
        var shared = r.Image("library/app", [r.Blob()]);
        var deadIndex = r.Index("library/app", [shared]);
        r.Index("library/app", [shared], tag: "v2");
        r.Age();

        var plan = await r.PlanAsync();

        PlannedArtifacts(plan).Should().Equal([deadIndex.Digest], "the child is still listed by the tagged index");
    }

    [Test]
    public async Task Plan_SignatureOfTaggedImage_IsKeptThoughUntagged()
    {
        // Given a cosign signature (a hard accessory) of a tagged image: Harbor never treats it as untagged garbage
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()], tag: "v1");
        var signature = r.Accessory(image);
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().BeEmpty();
        plan.Blobs.Should().BeEmpty("the signature's blobs are live with it");
        r.Store.GetArtifact(signature.Key).Should().NotBeNull();
    }

    [TestCase(false, Description = "the image was never tagged")]
    [TestCase(true, Description = "the image's only tag was deleted")]
    public async Task Plan_SignatureOfUntaggedImage_IsCollectedWithIt(bool tagDeleted)
    {
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()], tag: tagDeleted ? "v1" : null);
        var signature = r.Accessory(image, AccessoryTypes.NotationSignature);
        if (tagDeleted)
        {
            r.Store.DeleteTag(image.Repository, "v1");
        }

        r.Age();

        var plan = await r.PlanAsync();

        var planned = plan.Artifacts.Single(a => a.Key.Digest == signature.Digest);
        planned.Reason.Should().Be(DeletionReason.AccessoryOfDeletedSubject);
        planned.AccessoryType.Should().Be(AccessoryTypes.NotationSignature);
        planned.Subject.Should().Be(image.Digest);
        PlannedArtifacts(plan).Should().StartWith(image.Digest, "the subject goes first: a stopped run leaves an orphan accessory, which is garbage");
        PlannedBlobs(plan).Should().Contain(signature.References.Select(x => x.Digest));
    }

    [Test]
    public async Task Plan_SignatureOfSbomOfImage_FollowsTheImage()
    {
        // Given image ← SBOM ← signature of the SBOM (nested hard accessories)
        var r = NewRegistry();
        var kept = r.Image("library/app", [r.Blob()], tag: "v1");
        var keptSbom = r.Accessory(kept, AccessoryTypes.HarborSbom);
        var keptSbomSignature = r.Accessory(keptSbom);
        var dead = r.Image("library/app", [r.Blob()]);
        var deadSbom = r.Accessory(dead, AccessoryTypes.HarborSbom);
        var deadSbomSignature = r.Accessory(deadSbom);
        r.Age();

        var plan = await r.PlanAsync();

        // Then the chain of the tagged image lives and the chain of the untagged one goes, subject first
        PlannedArtifacts(plan).Should().Equal(dead.Digest, deadSbom.Digest, deadSbomSignature.Digest);
        PlannedArtifacts(plan).Should().NotContain([keptSbom.Digest, keptSbomSignature.Digest]);
        plan.Artifacts.Select(a => a.Stage).Should().Equal(0, 1, 2);
    }

    [Test]
    public async Task Plan_TaggedHardAccessory_DoesNotOutliveItsSubject()
    {
        // A tag on a hard accessory (e.g. cosign's sha256-<hex>.sig) is the accessory's name, not a user's tag
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()]);
        r.Accessory(image, tag: $"sha256-{image.Digest.Hex}.sig");
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().HaveCount(2);
        plan.Artifacts[1].Tags.Should().Equal($"sha256-{image.Digest.Hex}.sig");
    }

    [Test]
    public async Task Plan_SoftAccessory_SurvivesItsSubject()
    {
        // Given a soft accessory (an ordinary artifact that points at its subject), tagged, of an untagged image
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()]);
        var soft = r.Accessory(image, "custom.report", ReferenceStrength.Soft, tag: "report");
        var untaggedSoft = r.Accessory(image, "custom.report", ReferenceStrength.Soft);
        r.Age();

        var plan = await r.PlanAsync();

        // Then the subject goes, the tagged soft accessory stays, the untagged one goes only for being untagged
        PlannedArtifacts(plan).Should().BeEquivalentTo([image.Digest, untaggedSoft.Digest]);
        plan.Artifacts.Single(a => a.Key.Digest == untaggedSoft.Digest).Reason.Should().Be(DeletionReason.Untagged);
        PlannedArtifacts(plan).Should().NotContain(soft.Digest);
    }

    [Test]
    public async Task Plan_OrphanAccessory_IsKeptInsideTheWindow_AndCollectedAfter()
    {
        // Harbor never collects a signature whose image is gone (it leaks); zot does. We do, after the window.
        var r = NewRegistry();
        var missingSubject = Digest.Sha256Of("never pushed"u8);
        var orphan = r.AccessoryOf("library/app", missingSubject);

        (await r.PlanAsync()).Artifacts.Should().BeEmpty("the subject may still be on its way");

        r.Age();
        var plan = await r.PlanAsync();
        plan.Artifacts.Should().ContainSingle().Which.Should().Match<PlannedArtifact>(a =>
            a.Key.Digest == orphan.Digest && a.Reason == DeletionReason.OrphanAccessory && a.Subject == missingSubject);
    }

    [Test]
    public async Task Plan_AccessoryPushedBeforeItsSubject_AttachesWhenTheSubjectArrives()
    {
        var r = NewRegistry();
        var layer = r.Blob();
        var expected = r.Image("library/app", [layer]);
        var signature = r.AccessoryOf("library/app", expected.Digest);
        r.Tag(expected, "v1");
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().BeEmpty();
        PlannedBlobs(plan).Should().NotContain(signature.References.Select(x => x.Digest));
    }

    [Test]
    public async Task Plan_LayerSharedByDeadAndLiveImage_IsKept()
    {
        var r = NewRegistry();
        var shared = r.Blob();
        var dead = r.Image("library/app", [shared, r.Blob()]);
        r.Image("library/app", [shared], tag: "v2");
        r.Image("other/app", [shared], tag: "v1");
        var onlyInOther = r.Image("other/app", [shared]);
        r.Age();

        var plan = await r.PlanAsync();

        PlannedArtifacts(plan).Should().BeEquivalentTo([dead.Digest, onlyInOther.Digest]);
        PlannedBlobs(plan).Should().NotContain(shared, "a live image in some repository references it");
        PlannedBlobs(plan).Should().Contain(dead.References[^1].Digest, "the dead image's own layer is referenced by nothing live");
    }

    [Test]
    public async Task Plan_SameManifestInTwoRepositories_KeepsTheManifestBlobWhileEitherLives()
    {
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()], tag: "v1");
        r.Store.PutArtifact(image with { Repository = ScenarioRegistry.Repo("mirror/app") });
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().ContainSingle().Which.Key.Repository.Value.Should().Be("mirror/app");
        plan.Blobs.Should().BeEmpty("library/app still uses the manifest blob and its layers");
    }

    [Test]
    public async Task Plan_UnreferencedUpload_IsCollectedAfterTheWindow_AndKeptInside()
    {
        var r = NewRegistry();
        var upload = r.Blob();

        (await r.PlanAsync()).Blobs.Should().BeEmpty("a push may be about to reference it");

        r.Age();
        PlannedBlobs(await r.PlanAsync()).Should().Equal(upload);
    }

    [Test]
    public async Task Plan_FreshUntaggedChildren_AreKeptBeforeTheirIndexArrives()
    {
        // goharbor/harbor#21266: a GC between a multi-arch push's children and its index deleted the children
        var r = NewRegistry();
        r.Image("library/app", [r.Blob()]);
        r.Image("library/app", [r.Blob()]);
        r.Age(TimeSpan.FromMinutes(30));

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().BeEmpty();
        plan.Blobs.Should().BeEmpty();
    }

    [Test]
    public async Task Plan_DeleteUntaggedOff_DeletesNoArtifact_ButStillUnreferencedBlobs()
    {
        var r = NewRegistry();
        var image = r.Image("library/app", [r.Blob()]);
        r.Accessory(image);
        r.AccessoryOf("library/app", Digest.Sha256Of("gone"u8));
        var upload = r.Blob();
        r.Age();

        var plan = await r.PlanAsync(deleteUntagged: false);

        plan.Artifacts.Should().BeEmpty();
        PlannedBlobs(plan).Should().Equal(upload);
    }

    [Test]
    public async Task Plan_ForeignLayers_AreNeverCountedAsFreedBytes()
    {
        var r = NewRegistry();
        var foreign = new BlobReference(Digest.Sha256Of("windows base layer"u8), 5_000_000_000, MediaTypes.DockerForeignLayer, BlobReferenceKind.Layer, IsForeign: true);
        var image = r.Image("windows/app", [r.Blob()], foreignLayers: [foreign]);
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().ContainSingle();
        PlannedBlobs(plan).Should().NotContain(foreign.Digest);
        plan.Summary.Bytes.Should().Be(image.References.Where(x => !x.IsForeign).Sum(x => x.Size));
    }

    [Test]
    public async Task Plan_UnknownManifest_IsKeptWithEveryBlobItMentions()
    {
        var r = NewRegistry();
        var layer = r.Blob();
        var unknown = r.Image("library/app", [layer]) with { Kind = ManifestKind.Unknown, ParseProblem = "media type 'x' is not a manifest kind" };
        r.Store.PutArtifact(unknown);
        r.Age();

        var plan = await r.PlanAsync();

        plan.Artifacts.Should().BeEmpty("an unparsable manifest is never deleted for being unparsable");
        PlannedBlobs(plan).Should().NotContain(layer);
        plan.Warnings.Should().Contain(w => w.Message.Contains("unknown or unparsable manifest", StringComparison.Ordinal));
    }
}
