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

    private DistributionRegistryStore Store() => new(_tree.Root, _time) { GracePeriod = TimeSpan.Zero }; // the clock is fake: no wait

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
        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });

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
        var dry = await collector.RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
        var before = _tree.Files();
        dry.Plan.Artifacts.Should().NotBeEmpty();
        _tree.Files().Should().BeEquivalentTo(before, "a dry run touches nothing");

        var real = await collector.RunAsync(new GcOptions { DeleteUntagged = true });

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
        (await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true })).Artifacts.Should().BeEmpty("a second run finds nothing more");
    }

    [TestCase(10, true, Description = "its folder was made 10 days ago: old, planned like any unreferenced blob")]
    [TestCase(0, false, Description = "its folder was made just now (a push caught between making the folder and moving the data in): inside the window")]
    public async Task BlobFolderWithoutData_IsAnOrdinaryBlob_DatedByItsFolder_AndCoveredByTheTimeWindow(int daysOld, bool planned)
    {
        // given a blob folder without its data file (a push killed, or caught, between the folder and the data; issue 13 §2)
        Build();
        var blob = _tree.WriteBlob(Encoding.UTF8.GetBytes("no data yet"), TimeSpan.FromDays(daysOld));
        File.Delete(Path.Combine(_tree.BlobFolder(blob), "data"));
        Directory.SetLastWriteTimeUtc(_tree.BlobFolder(blob), (Now - TimeSpan.FromDays(daysOld)).UtcDateTime);

        // when collected for real
        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then it is planned (as an ordinary blob, never as one an earlier run committed to deleting) only when its folder is old
        result.Plan.Blobs.Where(b => b.Digest == blob).Should().HaveCount(planned ? 1 : 0);
        result.Plan.Blobs.Should().NotContain(b => b.Digest == blob && b.Status != BlobStatus.None);
        Directory.Exists(_tree.BlobFolder(blob)).Should().Be(!planned);
    }

    /// <summary>Where a symbolic link can be put in the layout; each refuses the whole tree.</summary>
    private static IEnumerable<TestCaseData> LinkPlaces()
    {
        yield return new TestCaseData("a blob folder").SetDescription("blobs/sha256/ab/<hex> -> outside");
        yield return new TestCaseData("a blob's data").SetDescription("blobs/sha256/ab/<hex>/data -> outside file");
        yield return new TestCaseData("a two-letter blob folder").SetDescription("blobs/sha256/ab -> outside");
        yield return new TestCaseData("a repository folder").SetDescription("repositories/linked/elsewhere -> outside");
        yield return new TestCaseData("a revision folder").SetDescription("_manifests/revisions/sha256/<hex> -> outside");
        yield return new TestCaseData("the revisions' sha256 folder").SetDescription("_manifests/revisions/sha256 -> outside");
        yield return new TestCaseData("a revision's link file").SetDescription("_manifests/revisions/sha256/<hex>/link -> outside file");
        yield return new TestCaseData("the tags folder").SetDescription("_manifests/tags -> outside");
        yield return new TestCaseData("a tag folder").SetDescription("_manifests/tags/v1 -> outside");
        yield return new TestCaseData("a tag's index folder").SetDescription("_manifests/tags/v1/index -> outside");
        yield return new TestCaseData("a tag's current link").SetDescription("_manifests/tags/v1/current/link -> outside file");
        yield return new TestCaseData("the layers' sha256 folder").SetDescription("_layers/sha256 -> outside");
        yield return new TestCaseData("a layer link").SetDescription("_layers/sha256/<hex>/link -> outside file");
        yield return new TestCaseData("the uploads folder").SetDescription("_uploads -> outside");
        yield return new TestCaseData("an upload folder").SetDescription("_uploads/<uuid> -> outside");
    }

    [TestCaseSource(nameof(LinkPlaces))]
    public async Task SymbolicLinkAnywhereInTheLayout_RefusesTheTree_NamingTheLink_AndNothingInsideOrOutsideChanges(string place)
    {
        // given a symbolic link in the layout that reaches outside it (Distribution writes none, and follows them when it serves:
        // what one reaches may be live; issue 13 §2)
        var r = Build();
        var outside = Directory.CreateTempSubdirectory("harbor-gc-outside").FullName;
        try
        {
            var target = Path.Combine(outside, "target");
            DistributionTree.WriteLink(Path.Combine(target, "sha256", r.Old.Hex, "link"), r.Old, Old, Now);
            DistributionTree.WriteLink(Path.Combine(target, "link"), r.Old, Old, Now);
            File.WriteAllText(Path.Combine(target, "data"), "precious");
            var file = Path.Combine(outside, "file");
            File.WriteAllText(file, r.Old.ToString());
            var app = _tree.Repo("library/app");
            var link = place switch
            {
                "a blob folder" => _tree.BlobFolder(Digest.Sha256Of("outside"u8)),
                "a blob's data" => Path.Combine(_tree.BlobFolder(Digest.Sha256Of("outside data"u8)), "data"),
                "a two-letter blob folder" => Path.Combine(_tree.V2, "blobs", "sha256", "zz"),
                "a repository folder" => _tree.Repo("linked/elsewhere"),
                "a revision folder" => _tree.RevisionFolder("library/app", Digest.Sha256Of("outside revision"u8)),
                "the revisions' sha256 folder" => Path.Combine(app, "_manifests", "revisions", "sha256"),
                "a revision's link file" => Path.Combine(_tree.RevisionFolder("library/app", r.Old), "link"),
                "the tags folder" => Path.Combine(app, "_manifests", "tags"),
                "a tag folder" => _tree.TagFolder("library/app", "v1"),
                "a tag's index folder" => Path.Combine(_tree.TagFolder("library/app", "v1"), "index"),
                "a tag's current link" => Path.Combine(_tree.TagFolder("library/app", "v1"), "current", "link"),
                "the layers' sha256 folder" => Path.Combine(app, "_layers", "sha256"),
                "a layer link" => Path.Combine(_tree.LayerFolder("library/app", r.OldOnly), "link"),
                "the uploads folder" => Path.Combine(app, "_uploads"),
                _ => _tree.UploadFolder("library/app", Guid.NewGuid().ToString("D")),
            };
            if (File.Exists(link))
            {
                File.Delete(link);
            }
            else if (Directory.Exists(link))
            {
                Directory.Delete(link, recursive: true);
            }

            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            if (place.Contains("link file", StringComparison.Ordinal) || place is "a blob's data" or "a tag's current link" or "a layer link")
            {
                File.CreateSymbolicLink(link, file);
            }
            else
            {
                Directory.CreateSymbolicLink(link, target);
            }

            var inside = _tree.Files();
            var outsideBefore = Directory.GetFiles(outside, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllText(f))).ToArray();

            // when a dry run, a real run and an explain read the tree
            var dry = () => new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });
            var real = () => new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });
            var explain = () => new GarbageCollector(Store(), _time).ExplainAsync(r.Old, null, new GcOptions { DeleteUntagged = true });

            // then each refuses, naming the link, and nothing changed in the tree or outside it
            (await dry.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain($"'{link}' is a symbolic link").And.Contain("nothing was planned or deleted");
            (await real.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain($"'{link}' is a symbolic link");
            await explain.Should().ThrowAsync<InvalidDataException>();
            _tree.Files().Should().Equal(inside);
            Directory.GetFiles(outside, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllText(f))).Should().Equal(outsideBefore);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Test]
    public async Task LinksAboveTheLayout_AreFollowedOnce_AndTheRunDeletesInsideTheRealTree()
    {
        // given the registry's root reached through a symbolic link (/var/lib/registry -> /mnt/disk/registry, say)
        var r = Build();
        var alias = Path.Combine(Path.GetTempPath(), "harbor-gc-alias-" + Guid.NewGuid().ToString("N"));
        Directory.CreateSymbolicLink(alias, _tree.Root);
        try
        {
            // when collected for real through the link
            var result = await new GarbageCollector(new DistributionRegistryStore(alias, _time) { GracePeriod = TimeSpan.Zero }, _time).RunAsync(new GcOptions { DeleteUntagged = true });

            // then the run works as on the real path
            result.ArtifactsDeleted.Should().BeGreaterThan(0);
            _tree.HasRevision("library/app", r.Old).Should().BeFalse();
            _tree.HasRevision("library/app", r.App).Should().BeTrue();
        }
        finally
        {
            Directory.Delete(alias);
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
        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

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

        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

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

        var result = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

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

        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });

        plan.Warnings.Should().Contain(w => w.Location == Path.Combine(_tree.TagFolder("library/app", "dangling"), "current", "link") && w.Message.Contains("no revision", StringComparison.Ordinal),
            "every warning names its path (issue 13)");
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
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
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

        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

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
        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true });

        // then the old image goes, but the mounted layer stays with its new link: the manifest that follows the mount finds it
        _tree.HasRevision("library/app", r.Old).Should().BeFalse();
        result.Plan.Blobs.Should().NotContain(b => b.Digest == r.OldOnly);
        _tree.HasBlob(r.OldOnly).Should().BeTrue();
        File.Exists(Path.Combine(_tree.LayerFolder("team/tool", r.OldOnly), "link")).Should().BeTrue();
        var explanation = await collector.ExplainAsync(r.OldOnly, null, new GcOptions { DeleteUntagged = true });
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

        var act = async () => await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

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
