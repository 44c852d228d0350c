using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>GC over a CNCF Distribution storage tree written as the registry writes it (DESIGN.md §5, Distribution layout).</summary>
public partial class DistributionRegistryStoreTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Old = TimeSpan.FromDays(10);
    private static readonly TimeSpan Fresh = TimeSpan.FromMinutes(10);

    private DistributionTree _tree = null!;
    private FakeTimeProvider _time = null!;

    [SetUp]
    public void SetUp()
    {
        _tree = new DistributionTree(Now);
        _time = new FakeTimeProvider(Now);
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private DistributionRegistryStore Store() => new(_tree.Root, _time);

    private sealed record Registry(
        Digest App, Digest AppSig, Digest Notation, Digest Sbom, Digest SbomSig, Digest Old, Digest OldSig, Digest Fresh,
        Digest Index, Digest[] Children, Digest OldIndex, Digest OldChild, Digest Base, Digest OldOnly, Digest FreshOnly,
        Digest OrphanOld, Digest OrphanFresh);

    /// <summary>The scenarios of issue 3 in one tree.</summary>
    private Registry Build()
    {
        var t = _tree;
        var app = t.Image("library/app", "v1", Old, "v1", "base", "app1");
        var oldImage = t.Image("library/app", "old", Old, null, "base", "old-only");
        var fresh = t.Image("library/app", "fresh", Fresh, null, "fresh-only");

        // cosign tag-scheme signatures: of the tagged image, and of the old untagged one
        Digest Cosign(Digest subject, string payload)
        {
            var config = t.Upload("library/app", "{\"sig\":\"" + payload + "\"}", Old);
            var layer = t.Upload("library/app", payload, Old);
            return t.Push("library/app", Support.Manifests.Image(config, [layer], layerType: MediaTypes.CosignSimpleSigning), Old, $"sha256-{subject.Hex}.sig");
        }

        var appSig = Cosign(app.Manifest, "sig-of-v1");
        var oldSig = Cosign(oldImage.Manifest, "sig-of-old");

        // OCI 1.1 referrers of the tagged image: a notation signature, an SBOM, and a signature of the SBOM
        var notationBlob = t.Upload("library/app", "notation-envelope", Old);
        t.Upload("library/app", "{}", Old);
        var notation = t.Push("library/app", Support.Manifests.Referrer(app.Manifest, MediaTypes.NotationSignature, notationBlob, "application/jose+json"), Old);
        var sbomBlob = t.Upload("library/app", "sbom-doc", Old);
        var sbom = t.Push("library/app", Support.Manifests.Referrer(app.Manifest, "application/spdx+json", sbomBlob), Old);
        var sbomSigBlob = t.Upload("library/app", "sbom-signature", Old);
        var sbomSig = t.Push("library/app", Support.Manifests.Referrer(sbom, MediaTypes.NotationSignature, sbomSigBlob, "application/jose+json"), Old);

        // a tagged index with untagged children, and an old untagged index with its own child
        var amd = t.Image("library/multi", "amd64", Old, null, "base", "multi-amd64");
        var arm = t.Image("library/multi", "arm64", Old, null, "multi-arm64");
        var index = t.Push("library/multi", Support.Manifests.Index([amd.Manifest, arm.Manifest]), Old, "latest");
        var oldChild = t.Image("library/multi", "old-child", Old, null, "old-child-layer");
        var oldIndex = t.Push("library/multi", Support.Manifests.Index([oldChild.Manifest]), Old);

        var orphanOld = t.Upload("library/app", "uploaded, never referenced", Old);
        var orphanFresh = t.Upload("library/app", "uploaded just now", Fresh);
        return new Registry(app.Manifest, appSig, notation, sbom, sbomSig, oldImage.Manifest, oldSig, fresh.Manifest, index, [amd.Manifest, arm.Manifest],
            oldIndex, oldChild.Manifest, app.Layers[0], oldImage.Layers[1], fresh.Layers[0], orphanOld, orphanFresh);
    }

    [Test]
    public async Task Plan_FollowsHarborsRules_OnTheDistributionLayout()
    {
        // given the scenarios of issue 3 in a registry's storage tree
        var r = Build();

        // when planned
        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions());

        // then: the untagged old image goes with its tag-scheme signature; the old untagged index with its child; nothing else
        plan.Artifacts.Select(a => (a.Key.Repository.Value, a.Key.Digest, a.Reason)).Should().BeEquivalentTo(new[]
        {
            ("library/app", r.Old, DeletionReason.Untagged),
            ("library/app", r.OldSig, DeletionReason.AccessoryOfDeletedSubject),
            ("library/multi", r.OldIndex, DeletionReason.Untagged),
            ("library/multi", r.OldChild, DeletionReason.ChildOfDeletedIndex),
        });
        plan.Artifacts.Single(a => a.Key.Digest == r.OldSig).Tags.Should().Equal($"sha256-{r.Old.Hex}.sig");
        var dead = plan.Blobs.Select(b => b.Digest).ToHashSet();
        dead.Should().Contain([r.Old, r.OldSig, r.OldIndex, r.OldChild, r.OldOnly, r.OrphanOld]);
        dead.Should().NotContain([r.Base, r.App, r.AppSig, r.Notation, r.Sbom, r.SbomSig, r.Index, r.Fresh, r.FreshOnly, r.OrphanFresh, .. r.Children],
            "shared layers, accessories of a tagged image, children of a tagged index and fresh blobs are kept");
        plan.Warnings.Should().BeEmpty();
    }

    [Test]
    public async Task RealRun_DeletesExactlyThePlan_FromTheTree_AndEveryLiveManifestKeepsItsBlobs()
    {
        var r = Build();
        var store = Store();
        var collector = new GarbageCollector(store, _time);
        var dry = await collector.RunAsync(new GcOptions { DryRun = true });
        var before = _tree.Files();
        dry.Plan.Artifacts.Should().NotBeEmpty();
        _tree.Files().Should().BeEquivalentTo(before, "a dry run touches nothing");

        var real = await collector.RunAsync(new GcOptions());

        real.Outcome.Should().Be(GcOutcome.Completed);
        real.Plan.Artifacts.Should().BeEquivalentTo(dry.Plan.Artifacts, "a real run executes the dry run's plan");
        real.BlobsDeleted.Should().Be(dry.Plan.Blobs.Count);
        _tree.HasRevision("library/app", r.Old).Should().BeFalse();
        Directory.Exists(_tree.TagFolder("library/app", $"sha256-{r.Old.Hex}.sig")).Should().BeFalse("the dead signature's tag-scheme tag goes with it");
        Directory.Exists(_tree.TagFolder("library/app", $"sha256-{r.App.Hex}.sig")).Should().BeTrue();
        _tree.HasRevision("library/multi", r.OldChild).Should().BeFalse();
        foreach (var blob in dry.Plan.Blobs)
        {
            Directory.Exists(_tree.BlobFolder(blob.Digest)).Should().BeFalse($"{blob.Digest} was planned");
        }

        Directory.Exists(_tree.LayerFolder("library/app", r.OldOnly)).Should().BeFalse("the layer link of a collected blob goes");
        Directory.Exists(_tree.LayerFolder("library/app", r.Base)).Should().BeTrue();
        AssertEveryRevisionHasItsBlobs();
        (await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions())).Artifacts.Should().BeEmpty("a second run finds nothing more");
    }

    [Test]
    public async Task BlobFolderWithoutData_LeftByAKilledRun_IsFinishedByTheNextRun()
    {
        // given a killed run that deleted a dead blob's data but not its folder
        Build();
        var victim = _tree.WriteBlob(Encoding.UTF8.GetBytes("half-deleted"), Old);
        File.Delete(Path.Combine(_tree.BlobFolder(victim), "data"));

        var plan = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

        plan.Plan.Blobs.Should().Contain(b => b.Digest == victim && b.Status == BlobStatus.Deleting);
        Directory.Exists(_tree.BlobFolder(victim)).Should().BeFalse();
    }

    [Test]
    public async Task FoldersThatAreSymbolicLinksOutOfTheTree_AreNeverFollowed_AndNothingBehindThemIsDeleted()
    {
        // given old, unreferenced content outside the tree, linked in as a blob folder, a revision folder and a repository
        var r = Build();
        var outside = Directory.CreateTempSubdirectory("harbor-gc-outside").FullName;
        try
        {
            var blob = Digest.Sha256Of("outside blob"u8);
            var blobOutside = Path.Combine(outside, "blob");
            Directory.CreateDirectory(blobOutside);
            File.WriteAllText(Path.Combine(blobOutside, "data"), "outside blob");
            Directory.CreateDirectory(Path.GetDirectoryName(_tree.BlobFolder(blob))!);
            Directory.CreateSymbolicLink(_tree.BlobFolder(blob), blobOutside);

            var revision = Digest.Sha256Of("outside revision"u8);
            var revisionOutside = Path.Combine(outside, "revision");
            DistributionTree.WriteLink(Path.Combine(revisionOutside, "link"), revision, Old, Now);
            Directory.CreateSymbolicLink(_tree.RevisionFolder("library/app", r.Old)[..^64] + revision.Hex, revisionOutside);

            var repositoryOutside = Path.Combine(outside, "repository");
            DistributionTree.WriteLink(Path.Combine(repositoryOutside, "_manifests", "revisions", "sha256", r.Old.Hex, "link"), r.Old, Old, Now);
            DistributionTree.WriteLink(Path.Combine(repositoryOutside, "_layers", "sha256", r.OldOnly.Hex, "link"), r.OldOnly, Old, Now);
            Directory.CreateDirectory(_tree.Repo("linked"));
            Directory.CreateSymbolicLink(_tree.Repo("linked/elsewhere"), repositoryOutside);
            var before = Directory.GetFiles(outside, "*", SearchOption.AllDirectories).Order().ToArray();

            // when collected for real
            var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

            // then none of it is listed, planned or deleted, and the tree itself is collected as usual
            result.Plan.Blobs.Should().NotContain(b => b.Digest == blob);
            result.Plan.Artifacts.Should().NotContain(a => a.Key.Digest == revision || a.Key.Repository.Value == "linked/elsewhere");
            Directory.GetFiles(outside, "*", SearchOption.AllDirectories).Order().Should().Equal(before);
            result.Plan.Artifacts.Should().Contain(a => a.Key.Digest == r.Old);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Test]
    public async Task Sha512Blobs_InTheirOwnFolders_AreReadKeptWhenReferenced_AndCollectedWhenNot()
    {
        // given (Distribution stores a blob under blobs/sha512 and links it under _layers/sha512 when it was pushed by that
        // digest) a tagged image with a sha512 layer, and an old sha512 blob nothing references
        var live = _tree.UploadSha512("library/app", "layer addressed by sha512", Old);
        var config = _tree.Upload("library/app", "{\"config\":\"sha512 image\"}", Old);
        var image = _tree.Push("library/app", Support.Manifests.Image(config, [live]), Old, "v1");
        var orphan = _tree.UploadSha512("library/app", "old sha512 upload, never referenced", Old);
        live.Algorithm.Should().Be(DigestAlgorithm.Sha512);
        File.Exists(Path.Combine(_tree.V2, "blobs", "sha512", orphan.Hex[..2], orphan.Hex, "data")).Should().BeTrue();

        // when collected for real
        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

        // then the referenced one stays with its layer link, and the orphan goes with its link, nothing else
        result.Plan.Warnings.Should().BeEmpty();
        result.Plan.Blobs.Select(b => b.Digest).Should().Equal(orphan);
        result.Plan.LayerLinks.Select(l => l.Digest).Should().Equal(orphan);
        _tree.HasBlob(live).Should().BeTrue();
        _tree.HasBlob(image).Should().BeTrue();
        File.Exists(Path.Combine(_tree.LayerFolder("library/app", live), "link")).Should().BeTrue();
        _tree.HasBlob(orphan).Should().BeFalse();
        Directory.Exists(_tree.LayerFolder("library/app", orphan)).Should().BeFalse();
    }

    [Test]
    public async Task MalformedTagLink_IsReported_AndKeepsEveryManifestOfItsRepository()
    {
        var r = Build();
        File.WriteAllText(Path.Combine(_tree.TagFolder("library/app", "v1"), "current", "link"), "../../../../etc/passwd");

        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

        result.Plan.Warnings.Should().Contain(w => w.Location.EndsWith(Path.Combine("v1", "current", "link"), StringComparison.Ordinal) &&
                                                   w.Message.Contains("does not hold a digest", StringComparison.Ordinal));
        result.Plan.Artifacts.Should().NotContain(a => a.Key.Repository.Value == "library/app", "a tag that cannot be read might point at any of them");
        _tree.HasRevision("library/app", r.Old).Should().BeTrue();
        _tree.HasBlob(r.OldOnly).Should().BeTrue();
        result.Plan.Artifacts.Should().Contain(a => a.Key.Digest == r.OldIndex, "other repositories are collected as usual");
    }

    [Test]
    public async Task MalformedOrMismatchedRevisionLink_IsReported_AndTheManifestKept()
    {
        var r = Build();
        File.WriteAllText(Path.Combine(_tree.RevisionFolder("library/app", r.Old), "link"), r.Fresh.ToString());

        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

        result.Plan.Warnings.Should().Contain(w => w.Message.Contains($"not the folder's {r.Old}", StringComparison.Ordinal));
        result.Plan.Artifacts.Should().NotContain(a => a.Key.Digest == r.Old);
        _tree.HasRevision("library/app", r.Old).Should().BeTrue();
        _tree.HasBlob(r.OldOnly).Should().BeTrue("a blob of a kept manifest is kept");
    }

    [Test]
    public async Task DanglingTag_IsReported_NotFollowed()
    {
        Build();
        var nowhere = Digest.Sha256Of("not pushed"u8);
        _tree.Tag("library/app", "dangling", nowhere, Old);

        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions());

        plan.Warnings.Should().Contain(w => w.Location == "library/app:dangling" && w.Message.Contains("no revision", StringComparison.Ordinal));
    }

    [Test]
    public async Task PushOrMountAfterThePlan_OfADeadBlob_KeepsIt(
        [Values("push to a new repository", "mount into its repository", "mount into another repository", "link into a folder without one")] string change)
    {
        // given a plan that collects an old layer, and another repository that has no link to it (in one case, a layer folder
        // for it without its link: a link write there later changes no folder's time)
        var r = Build();
        _tree.Image("team/tool", "v1", Old, "v1", "tool-layer");
        if (change.StartsWith("link into", StringComparison.Ordinal))
        {
            Directory.CreateDirectory(_tree.LayerFolder("team/tool", r.OldOnly));
        }

        var store = Store();
        var collector = new GarbageCollector(store, _time);
        var plan = await collector.PlanAsync(new GcOptions());
        plan.Blobs.Should().Contain(b => b.Digest == r.OldOnly);

        // when, before the plan is applied, a new repository pushes a manifest using that layer, or a mount rewrites its layer link
        if (change.StartsWith("push", StringComparison.Ordinal))
        {
            _tree.Push("other/app", Support.Manifests.Image(r.Base, [r.OldOnly]), TimeSpan.Zero, "v9");
        }
        else
        {
            var repository = change == "mount into its repository" ? "library/app" : "team/tool";
            var folder = _tree.LayerFolder(repository, r.OldOnly);
            Directory.CreateDirectory(folder);
            DistributionTree.WriteLink(Path.Combine(folder, "link"), r.OldOnly);
        }

        var result = await collector.ExecuteAsync(plan, new GcOptions());

        // then the layer is kept, and every manifest still has its bytes
        result.BlobsSkipped.Should().Contain(r.OldOnly);
        _tree.HasBlob(r.OldOnly).Should().BeTrue();
    }

    [Test]
    public async Task RealRun_ABlobMountedWithinTheTimeWindow_IsKept_WithItsLink()
    {
        // given an old layer that only an old untagged image uses, mounted ten minutes ago into another repository (a mount
        // writes the repository's layer link; the blob's data file keeps its old time)
        var r = Build();
        _tree.Image("team/tool", "v1", Old, "v1", "tool-layer");
        DistributionTree.WriteLink(Path.Combine(_tree.LayerFolder("team/tool", r.OldOnly), "link"), r.OldOnly, Fresh, Now);
        var collector = new GarbageCollector(Store(), _time);

        // when a real run collects with the default time window
        var result = await collector.RunAsync(new GcOptions());

        // then the old image goes, but the mounted layer stays with its new link: the manifest that follows the mount finds it
        _tree.HasRevision("library/app", r.Old).Should().BeFalse();
        result.Plan.Blobs.Should().NotContain(b => b.Digest == r.OldOnly);
        _tree.HasBlob(r.OldOnly).Should().BeTrue();
        File.Exists(Path.Combine(_tree.LayerFolder("team/tool", r.OldOnly), "link")).Should().BeTrue();
        var explanation = await collector.ExplainAsync(r.OldOnly, null, new GcOptions());
        explanation.Entries.Should().ContainSingle(e => e.Live).Which.Reason.Should().Contain("team/tool linked it within the time window");
    }

    [Test]
    public void MissingRoot_OrRootWithoutTheLayout_IsAClearError()
    {
        var missing = Path.Combine(_tree.Root, "nope");
        var act = () => new DistributionRegistryStore(missing);
        act.Should().Throw<DirectoryNotFoundException>().WithMessage($"*{missing}*does not exist*");

        var empty = Directory.CreateTempSubdirectory("harbor-gc-empty").FullName;
        try
        {
            var act2 = () => new DistributionRegistryStore(empty);
            act2.Should().Throw<DirectoryNotFoundException>().WithMessage("*docker/registry/v2*");
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Test]
    public async Task RepositoryFolderWithAnInvalidName_StopsTheRun_BeforeAnythingIsPlanned()
    {
        Build();
        Directory.CreateDirectory(Path.Combine(_tree.V2, "repositories", "Library", "UPPER", "_manifests"));

        var act = async () => await new GarbageCollector(Store(), _time).RunAsync(new GcOptions());

        (await act.Should().ThrowAsync<InvalidDataException>()).WithMessage("*UPPER*not a valid repository name*");
    }

    private void AssertEveryRevisionHasItsBlobs()
    {
        foreach (var link in Directory.EnumerateFiles(Path.Combine(_tree.V2, "repositories"), "link", SearchOption.AllDirectories)
                     .Where(l => l.Contains($"{Path.DirectorySeparatorChar}revisions{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var manifest = Digest.Parse(File.ReadAllText(link));
            _tree.HasBlob(manifest).Should().BeTrue($"{link} names a manifest whose bytes must be there");
            foreach (var mentioned in Harbor.Gc.Manifests.ArtifactReader.MentionedDigests(File.ReadAllBytes(Path.Combine(_tree.BlobFolder(manifest), "data")), manifest))
            {
                var isChild = Directory.Exists(_tree.RevisionFolder(Path.GetRelativePath(Path.Combine(_tree.V2, "repositories"),
                    link[..link.IndexOf($"{Path.DirectorySeparatorChar}_manifests", StringComparison.Ordinal)]), mentioned));
                (isChild || _tree.HasBlob(mentioned)).Should().BeTrue($"{manifest} references {mentioned}");
            }
        }
    }
}
