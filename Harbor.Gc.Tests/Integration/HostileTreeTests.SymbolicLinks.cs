using FluentAssertions.Execution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>Where a symbolic link is put in the stored tree (<c>ROOT/docker/registry/v2</c>), in <c>library/app</c> unless said.</summary>
public enum LinkPlace
{
    /// <summary><c>v2/repositories</c>.</summary>
    Repositories,

    /// <summary><c>repositories/library</c>, the parent folder of every repository.</summary>
    RepositoryParent,

    /// <summary><c>repositories/library/app</c>.</summary>
    Repository,

    /// <summary><c>_manifests</c>.</summary>
    Manifests,

    /// <summary><c>_manifests/revisions</c>.</summary>
    Revisions,

    /// <summary><c>_manifests/revisions/sha256</c>.</summary>
    RevisionsSha256,

    /// <summary>The revision folder of the tagged image <c>v1</c>.</summary>
    RevisionFolder,

    /// <summary>The revision folder of an untagged child of the tagged index <c>library/multi:latest</c>.</summary>
    IndexChildRevisionFolder,

    /// <summary>The revision <c>link</c> file of <c>v1</c>.</summary>
    RevisionLink,

    /// <summary><c>_manifests/tags</c>.</summary>
    Tags,

    /// <summary><c>tags/v1</c>.</summary>
    TagFolder,

    /// <summary><c>tags/latest/index</c> (its history: the untagged old image and <c>v2</c>).</summary>
    TagIndex,

    /// <summary><c>tags/latest/index/sha256/OLD</c>, the entry of the image <c>latest</c> named before.</summary>
    TagIndexEntry,

    /// <summary><c>tags/v1/current</c>.</summary>
    TagCurrent,

    /// <summary><c>tags/v1/current/link</c>.</summary>
    TagCurrentLink,

    /// <summary><c>_layers</c>.</summary>
    Layers,

    /// <summary><c>_layers/sha256</c>.</summary>
    LayersSha256,

    /// <summary>The layer folder of the base layer (shared by every image).</summary>
    LayerFolder,

    /// <summary>The base layer's <c>link</c> file.</summary>
    LayerLink,

    /// <summary><c>_uploads</c>.</summary>
    Uploads,

    /// <summary>The folder of the unfinished upload.</summary>
    UploadFolder,

    /// <summary><c>v2/blobs</c>.</summary>
    Blobs,

    /// <summary><c>blobs/sha256</c>.</summary>
    BlobsSha256,

    /// <summary>The two-letter folder of <c>v1</c>'s config blob.</summary>
    BlobPrefix,

    /// <summary>The blob folder of <c>v1</c>'s config.</summary>
    BlobFolder,

    /// <summary>The <c>data</c> file of <c>v1</c>'s config.</summary>
    BlobData,
}

/// <summary>Which folder above <c>v2</c> is a symbolic link (to the real tree on another disk).</summary>
public enum LinkAboveV2
{
    /// <summary>The root given to <c>--store</c> is a link to the registry's root (<c>/var/lib/registry -> /mnt/disk/registry</c>).</summary>
    Root,

    /// <summary><c>ROOT/docker</c>.</summary>
    Docker,

    /// <summary><c>ROOT/docker/registry</c>.</summary>
    Registry,

    /// <summary><c>ROOT/docker/registry/v2</c>.</summary>
    V2,
}

public partial class HostileTreeTests
{
    [Test]
    [Description("P1: Distribution never writes symbolic links and follows them when it serves, so what a link in the tree reaches may be live. " +
                 "A symbolic link anywhere the store reads under ROOT/docker/registry/v2 (repository folders and their parents, every folder and file " +
                 "inside a repository, blobs/sha256, a two-letter folder, a blob folder, its data) makes every command on the store (gc --dry-run, " +
                 "explain, retention run, gc, gc --apply) exit 2 with a message on stderr naming the link's full path and saying nothing was " +
                 "planned/deleted; nothing in the tree or outside it changes, and the registry still serves everything.")]
    public async Task SymbolicLinkInTheStoredTree_EveryCommandExits2NamingIt_AndNothingInsideOrOutsideTheRootChanges([Values] LinkPlace place)
    {
        // given: the scenarios pushed through the registry and a plan saved while the tree was whole; then the folder or file at
        // PLACE moved out of the root into the sentinel folder, and a symbolic link to it put in its place (as a person saving
        // space would: the registry follows it and serves what it served)
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var plan = await SavePlanAsync();
        var link = PlaceOf(place, scenario);
        HostileFiles.MoveOutAndLink(link, Path.Combine(Outside, "moved", Path.GetFileName(link)));
        await ShouldServeEverythingPushedAsync(scenario); // what the link reaches is served: it is live
        Registry.Stop();
        var root = FolderSnapshot.Take(Registry.Root);
        var outside = FolderSnapshot.Take(Outside);

        // when: every command that reads the store runs on the tree
        using (new AssertionScope())
        {
            foreach (var (name, args) in EveryCommand(plan, scenario))
            {
                var (code, output, errors) = await CliAsync(args);

                // then: each refuses it, naming the link, and changes nothing in the tree or outside it
                code.Should().Be(2, $"{name} must refuse a tree with a symbolic link at {link}; it printed:\n{output}{errors}");
                errors.Should().Contain(link, $"{name}'s message names the link's full path");
                errors.Should().MatchRegex("nothing was (planned|deleted)", $"{name}'s message says nothing was done");
                root.ShouldBeUnchanged($"{name} ran on a tree with a symbolic link at {link}");
                outside.ShouldBeUnchanged($"{name} ran on a tree with a symbolic link at {link} into this folder");
            }
        }

        // and the registry still serves every manifest and blob that was pushed
        await ShouldServeEverythingPushedAsync(scenario);
    }

    [Test]
    [Description("P1: symbolic links above v2 are allowed (the root itself, docker, registry or v2 a link to the real tree, as " +
                 "/var/lib/registry -> /mnt/disk/registry): resolved once when the store opens, the run collects as usual, and its deletions " +
                 "stay inside the real tree.")]
    public async Task SymbolicLinkAboveV2_IsResolvedOnce_TheRunCollectsAsUsual_AndDeletesOnlyInsideTheRealTree([Values] LinkAboveV2 which)
    {
        // given: the scenarios pushed, and the folder above v2 moved to another "disk" with a link in its place (the registry follows
        // it); a neighbour folder on that disk holds files of its own
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var disk = Path.Combine(_work, "disk");
        Directory.CreateDirectory(Path.Combine(disk, "neighbour", "folder"));
        File.WriteAllText(Path.Combine(disk, "neighbour", "folder", "file.txt"), "another program's file on the same disk");
        var store = Registry.Root;
        switch (which)
        {
            case LinkAboveV2.Root:
                store = Path.Combine(_work, "var-lib-registry");
                Directory.CreateSymbolicLink(store, Registry.Root);
                break;
            case LinkAboveV2.Docker:
                HostileFiles.MoveOutAndLink(Path.Combine(Registry.Root, "docker"), Path.Combine(disk, "docker"));
                break;
            case LinkAboveV2.Registry:
                HostileFiles.MoveOutAndLink(Path.Combine(Registry.Root, "docker", "registry"), Path.Combine(disk, "registry"));
                break;
            case LinkAboveV2.V2:
                HostileFiles.MoveOutAndLink(Tree.V2, Path.Combine(disk, "v2"));
                break;
        }

        var neighbour = FolderSnapshot.Take(Path.Combine(disk, "neighbour"));
        var outside = FolderSnapshot.Take(Outside);

        // when: a real run with window 0
        var report = ReportPath();
        var (code, output, errors) = await CliAsync("gc", "--delete-untagged", "true", "--store", $"distribution:{store}", "--time-window", "0", "--report-json", report, "--quiet");

        // then: it collects exactly the scenario's garbage, as on a tree without links
        code.Should().Be(0, $"a link above v2 is allowed:\n{output}{errors}");
        var result = Report.Read(report, output + errors);
        result.Artifacts.Should().BeEquivalentTo(scenario.Garbage.Select(g => (g.Manifest.Repository, g.Manifest.Digest)));
        result.Blobs.Select(b => b.Digest).Should().BeEquivalentTo(scenario.DeadBlobs);
        foreach (var blob in scenario.DeadBlobs)
        {
            Tree.HasBlob(blob).Should().BeFalse($"{blob} was collected, in the real tree");
        }

        neighbour.ShouldBeUnchanged("the run deletes inside the real tree only");
        outside.ShouldBeUnchanged("the run deletes inside the real tree only");
        await ShouldServeEveryLiveObjectAsync(scenario);
    }

    /// <summary>The path of <paramref name="place"/> in the scenario's tree.</summary>
    private string PlaceOf(LinkPlace place, IssueThreeScenario scenario)
    {
        var t = Tree;
        var v1 = scenario.Live[0];
        var amd64 = scenario.Live[8];
        var old = scenario.Garbage[0].Manifest;
        var baseLayer = v1.Blobs[1];
        var config = v1.Blobs[0];
        return place switch
        {
            LinkPlace.Repositories => t.Repositories,
            LinkPlace.RepositoryParent => Path.Combine(t.Repositories, "library"),
            LinkPlace.Repository => t.Repository(App),
            LinkPlace.Manifests => t.Manifests(App),
            LinkPlace.Revisions => Path.GetDirectoryName(t.Revisions(App))!,
            LinkPlace.RevisionsSha256 => t.Revisions(App),
            LinkPlace.RevisionFolder => t.Revision(App, v1.Digest),
            LinkPlace.IndexChildRevisionFolder => t.Revision(Multi, amd64.Digest),
            LinkPlace.RevisionLink => t.RevisionLink(App, v1.Digest),
            LinkPlace.Tags => t.Tags(App),
            LinkPlace.TagFolder => t.Tag(App, "v1"),
            LinkPlace.TagIndex => t.TagIndex(App, "latest"),
            LinkPlace.TagIndexEntry => Path.Combine(t.TagIndex(App, "latest"), "sha256", old.Digest.Hex),
            LinkPlace.TagCurrent => Path.Combine(t.Tag(App, "v1"), "current"),
            LinkPlace.TagCurrentLink => t.TagLink(App, "v1"),
            LinkPlace.Layers => Path.GetDirectoryName(t.Layers(App))!,
            LinkPlace.LayersSha256 => t.Layers(App),
            LinkPlace.LayerFolder => t.Layer(App, baseLayer),
            LinkPlace.LayerLink => t.LayerLink(App, baseLayer),
            LinkPlace.Uploads => t.Uploads(App),
            LinkPlace.UploadFolder => t.Upload(App, UploadId),
            LinkPlace.Blobs => t.Blobs,
            LinkPlace.BlobsSha256 => Path.Combine(t.Blobs, "sha256"),
            LinkPlace.BlobPrefix => Path.GetDirectoryName(t.BlobFolder(config))!,
            LinkPlace.BlobFolder => t.BlobFolder(config),
            LinkPlace.BlobData => t.BlobData(config),
            _ => throw new ArgumentOutOfRangeException(nameof(place)),
        };
    }
}
