using FluentAssertions.Execution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>A link file the store reads, in <c>library/app</c>.</summary>
public enum LinkFilePlace
{
    /// <summary><c>tags/v1/current/link</c>: the tag of a live image with accessories.</summary>
    TagLink,

    /// <summary>The revision <c>link</c> of the untagged old image (garbage when its link can be read).</summary>
    RevisionLink,

    /// <summary>The <c>_layers</c> link of a layer only the untagged old image uses (garbage when its link can be read).</summary>
    LayerLink,
}

public partial class HostileTreeTests
{
    [Test]
    [Description("P2: only regular files are opened. A FIFO, socket or folder where a link file is expected never hangs the run and is " +
                 "unreadable, with a warning naming its path: an unreadable tag keeps every manifest of its repository (and so their " +
                 "accessories and blobs); an unreadable revision link keeps that manifest (as unknown) and its blobs; an unreadable layer " +
                 "link is left alone and its blob kept. Other repositories are collected as usual.")]
    public async Task NonRegularFileWhereALinkIsExpected_NeverHangs_IsUnreadable_AndKeepsWhatItMightName(
        [Values] LinkFilePlace place, [Values] NonRegularFile kind)
    {
        // given: the scenarios pushed, and the link file at PLACE replaced by a FIFO, a socket or a folder
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var old = scenario.Garbage[0].Manifest;
        var oldOnlyLayer = old.Blobs[2];
        var path = place switch
        {
            LinkFilePlace.TagLink => Tree.TagLink(App, "v1"),
            LinkFilePlace.RevisionLink => Tree.RevisionLink(App, old.Digest),
            _ => Tree.LayerLink(App, oldOnlyLayer),
        };
        var appRevisions = Tree.RevisionDigests(App);
        var saved = Files.Replace(path, kind);
        var outside = FolderSnapshot.Take(Outside);

        // when: a real run with window 0, as a child process (a FIFO opened for reading blocks for ever)
        var report = ReportPath();
        var (code, output) = await ChildAsync("gc", "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--report-json", report, "--quiet");

        // then: it finished, warned about the path, and kept what the unreadable file might name (every failure listed at once)
        List<PushedManifest> alsoKept = place switch
        {
            LinkFilePlace.TagLink => [.. scenario.Garbage.Select(g => g.Manifest).Where(m => m.Repository == App)],
            LinkFilePlace.RevisionLink => [old],
            _ => [],
        };
        using (new AssertionScope())
        {
            code.Should().Be(0, output);
            var result = Report.Read(report, output);
            result.Warns(path).Should().BeTrue($"a warning names {path}; the warnings were:\n{string.Join("\n", result.Warnings)}");
            result.Artifacts.Should().Contain((Multi, scenario.Garbage[3].Manifest.Digest), "other repositories are collected as usual");
            switch (place)
            {
                case LinkFilePlace.TagLink:
                    result.Artifacts.Should().NotContain(a => a.Repository == App, "a tag that cannot be read might name any manifest of its repository");
                    foreach (var revision in appRevisions)
                    {
                        Tree.HasRevision(App, revision).Should().BeTrue($"{App}@{revision} is kept with every manifest of the repository");
                    }

                    foreach (var blob in scenario.Live.Concat(alsoKept).Where(m => m.Repository == App).SelectMany(m => m.AllBlobs).Distinct())
                    {
                        Tree.HasBlob(blob).Should().BeTrue($"{blob} belongs to a manifest of {App}, which are all kept");
                    }

                    break;
                case LinkFilePlace.RevisionLink:
                    result.Artifacts.Should().NotContain((App, old.Digest), "a revision whose link cannot be read is kept");
                    Tree.HasRevision(App, old.Digest).Should().BeTrue();
                    foreach (var blob in old.AllBlobs)
                    {
                        Tree.HasBlob(blob).Should().BeTrue($"{blob} belongs to the kept manifest {old.Digest}");
                    }

                    break;
                case LinkFilePlace.LayerLink:
                    Path.Exists(path).Should().BeTrue("an unreadable layer link is left alone");
                    Tree.HasBlob(oldOnlyLayer).Should().BeTrue("the blob of an unreadable layer link is kept");
                    result.Blobs.Should().NotContain(b => b.Digest == oldOnlyLayer);
                    break;
            }

            outside.ShouldBeUnchanged("nothing outside the root is touched");
        }

        // and once the damaged file is put back as the registry wrote it, the registry serves every live object and what was kept
        saved.Restore();
        await ShouldServeEveryLiveObjectAsync(scenario, [.. alsoKept]);
        if (place == LinkFilePlace.LayerLink)
        {
            await ShouldServeBlobAsync(App, oldOnlyLayer, " (its layer link could not be read)");
        }
    }

    [Test]
    [Description("P2: an upload's startedat that is a FIFO, socket or folder never hangs the run and is unreadable, with a warning naming " +
                 "its path; the upload is dated by its last write, as one with a malformed startedat is: planned once that is older than " +
                 "the time window, kept while it is within it.")]
    public async Task NonRegularStartedAt_NeverHangs_AndTheUploadIsDatedByItsLastWrite([Values] NonRegularFile kind)
    {
        // given: the scenarios pushed, and two more unfinished uploads whose startedat is a FIFO, socket or folder: one last written
        // three hours ago, one just now
        var scenario = await PushScenarioAsync();
        var stale = await StartUploadAsync(App, "bytes sent three hours ago");
        var fresh = await StartUploadAsync(App, "bytes sent just now");
        Registry.Stop();
        var threeHoursAgo = TimeProvider.System.GetUtcNow().AddHours(-3).UtcDateTime;
        foreach (var id in new[] { stale, fresh })
        {
            Files.Replace(Path.Combine(Tree.Upload(App, id), "startedat"), kind);
        }

        File.SetLastWriteTimeUtc(Path.Combine(Tree.Upload(App, stale), "data"), threeHoursAgo);
        Directory.SetLastWriteTimeUtc(Tree.Upload(App, stale), threeHoursAgo);
        var root = FolderSnapshot.Take(Registry.Root);

        // when: a dry run with the default window (2 h), as a child process
        var report = ReportPath();
        var (code, output) = await ChildAsync("gc", "--delete-untagged", "true", "--store", Store, "--dry-run", "--report-json", report, "--quiet");

        // then: the stale upload is planned, the fresh one is not, and each startedat is named by a warning
        code.Should().Be(0, output);
        var result = Report.Read(report, output);
        result.Uploads.Should().Contain(stale, "an upload without a readable startedat is dated by its last write, three hours ago")
            .And.NotContain(fresh, "its last write is within the window");
        foreach (var id in new[] { stale, fresh })
        {
            var startedAt = Path.Combine(Tree.Upload(App, id), "startedat");
            result.Warns(startedAt).Should().BeTrue($"a warning names {startedAt}; the warnings were:\n{string.Join("\n", result.Warnings)}");
        }

        root.ShouldBeUnchanged("a dry run changes nothing");
        await ShouldServeEveryLiveObjectAsync(scenario);
    }
}
