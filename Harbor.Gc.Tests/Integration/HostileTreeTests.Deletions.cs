using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>A folder of <c>library/app</c> that a deletion of the plan goes through.</summary>
public enum FolderLinkedAfterThePlan
{
    /// <summary><c>tags/latest/index</c>: it holds the index entry of the untagged old image, deleted with it.</summary>
    TagIndex,

    /// <summary><c>_manifests/revisions/sha256</c>: it holds the old image's revision.</summary>
    RevisionsSha256,

    /// <summary><c>_layers/sha256</c>: it holds the layer links of the old image's blobs.</summary>
    LayersSha256,
}

/// <summary>How the untagged old image's revision folder is made impossible to delete.</summary>
public enum Undeletable
{
    /// <summary>Its <c>link</c> file is immutable (<c>chattr +i</c>: not even root can remove it); skipped where not supported.</summary>
    ImmutableLink,

    /// <summary>A FIFO inside it, which the deleter refuses to remove (it removes only what the registry writes).</summary>
    FifoInside,
}

public partial class HostileTreeTests
{
    [Test]
    [Description("P5: every deletion resolves its real path and refuses anything outside the root or through a link. A folder of the " +
                 "plan's deletions made a symbolic link to an outside folder after the plan and before gc --apply: nothing outside the root " +
                 "is deleted, the link (or the item under it) is reported, and the exit code says so (1: a deletion was refused; or 2: the " +
                 "tree is refused by P1).")]
    public async Task FolderMadeALinkOutOfTheRootAfterThePlan_ApplyDeletesNothingOutside_AndReportsIt([Values] FolderLinkedAfterThePlan place)
    {
        // given: the scenarios pushed and a plan saved (it deletes the untagged old image, its index entry and its layer links);
        // then the folder moved out of the root into the sentinel folder, with a symbolic link to it in its place
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var plan = await SavePlanAsync();
        var link = place switch
        {
            FolderLinkedAfterThePlan.TagIndex => Tree.TagIndex(App, "latest"),
            FolderLinkedAfterThePlan.RevisionsSha256 => Tree.Revisions(App),
            _ => Tree.Layers(App),
        };
        HostileFiles.MoveOutAndLink(link, Path.Combine(Outside, "moved", Path.GetFileName(link)));
        var outside = FolderSnapshot.Take(Outside);

        // when: the plan is applied
        var report = ReportPath();
        var (code, output, errors) = await CliAsync("gc", "--apply", plan, "--store", Store, "--report-json", report, "--quiet");

        // then: nothing outside the root changed, and the link is reported
        outside.ShouldBeUnchanged($"the plan's deletions under {link} must not follow the link");
        code.Should().BeOneOf([1, 2], $"a deletion refused (1) or the tree refused (2); it printed:\n{output}{errors}");
        var told = output + errors + (File.Exists(report) ? File.ReadAllText(report) : string.Empty);
        told.Should().Contain(link, "the refusal names the link (or the item under it)");
        await ShouldServeEveryLiveObjectAsync(scenario);
    }

    [Test]
    [Description("P5: a deletion that fails or is refused is reported with its path and the run goes on with the other items (today one " +
                 "revision that cannot be deleted stops every run); the exit code is 1 and the report lists it. As root a permission bit " +
                 "stops nothing, so the revision is made undeletable by chattr +i or by a FIFO inside it.")]
    public async Task RevisionThatCannotBeDeleted_IsReportedWithItsPath_TheRunGoesOn_AndExits1([Values] Undeletable how)
    {
        // given: the scenarios pushed, and the untagged old image's revision folder made impossible to delete
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var old = scenario.Garbage[0].Manifest;
        var revision = Tree.Revision(App, old.Digest);
        if (how == Undeletable.ImmutableLink)
        {
            if (!Files.TrySetImmutable(Tree.RevisionLink(App, old.Digest)))
            {
                Assert.Ignore("chattr +i is not supported here (it needs root and a file system with the immutable flag)");
            }
        }
        else
        {
            Files.Make(Path.Combine(revision, "stray-fifo"), NonRegularFile.Fifo);
        }

        var outside = FolderSnapshot.Take(Outside);

        // when: a real run with window 0, as a child process
        var report = ReportPath();
        var (code, output) = await ChildAsync("gc", "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--report-json", report, "--quiet");

        // then: it exits 1, its report names the revision, and the other repositories' garbage is collected all the same
        code.Should().Be(1, $"a deletion failed; it printed:\n{output}");
        var result = Report.Read(report, output);
        result.Text.Should().Contain(revision, "the report lists the deletion that failed, with its path");
        foreach (var (manifest, _) in scenario.Garbage.Where(g => g.Manifest.Repository == Multi))
        {
            Tree.HasRevision(Multi, manifest.Digest).Should().BeFalse($"{Multi}@{manifest.Digest} is garbage: the run went on and deleted it");
        }

        Directory.Exists(revision).Should().BeTrue();
        outside.ShouldBeUnchanged("nothing outside the root is touched");

        // and the revision that could not be deleted still serves whole, with every live object
        await ShouldServeEveryLiveObjectAsync(scenario, old);
    }
}
