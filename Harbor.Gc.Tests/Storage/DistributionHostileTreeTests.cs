using System.Text;
using System.Text.RegularExpressions;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13 §2 at the store's level, for what the CLI cannot reach: a deletion whose path turned into a link between the plan
/// and the sweep of one store (no re-read in between), the exact dating of a blob folder without data, and the maximum duration
/// bounding a read that does not end by itself. The trees are written as the registry writes them (<see cref="DistributionTree"/>);
/// the tests against the real registry are in <c>Integration/HostileTreeTests</c>.
/// </summary>
public class DistributionHostileTreeTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Old = TimeSpan.FromDays(10);

    /// <summary>How long a run that should have stopped may take, in real time, before it counts as hung.</summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(60);

    private DistributionTree _tree = null!;
    private FakeTimeProvider _time = null!;
    private string _outside = null!;

    [SetUp]
    public void SetUp()
    {
        _tree = new DistributionTree(Now);
        _time = new FakeTimeProvider(Now);
        _outside = Directory.CreateTempSubdirectory("harbor-gc-outside").FullName;
        Directory.CreateDirectory(Path.Combine(_outside, "sub", "deeper"));
        File.WriteAllText(Path.Combine(_outside, "notes.txt"), "a sentinel: nothing in this folder may change");
        File.WriteAllText(Path.Combine(_outside, "sub", "deeper", "file.txt"), "nor in its sub-folders");
    }

    [TearDown]
    public void TearDown()
    {
        _tree.Dispose();
        Directory.Delete(_outside, recursive: true);
    }

    private DistributionRegistryStore Store() => new(_tree.Root, _time) { GracePeriod = TimeSpan.Zero }; // the clock is fake: no wait

    /// <summary>
    /// <c>library/app</c>: v1 tagged, and an untagged old image that <c>latest</c> named before it moved to v1 (so
    /// <c>tags/latest/index</c> holds its entry); <c>library/multi</c>: an untagged index and its child. All ten days old.
    /// </summary>
    private (Digest V1, Digest Old, Digest OldOnly, Digest OldIndex, Digest OldChild) Build()
    {
        var t = _tree;
        var v1 = t.Image("library/app", "v1", Old, "v1", "base", "app1");
        var old = t.Image("library/app", "old", Old, null, "base", "old-only");
        t.Tag("library/app", "latest", old.Manifest, Old);
        t.Tag("library/app", "latest", v1.Manifest, Old);
        var child = t.Image("library/multi", "child", Old, null, "child-layer");
        var index = t.Push("library/multi", Support.Manifests.Index([child.Manifest]), Old);
        return (v1.Manifest, old.Manifest, old.Layers[1], index, child.Manifest);
    }

    [Test]
    [Description("P5: every deletion resolves its real path and refuses anything outside the root or through a link. A folder the plan's " +
                 "deletions go through, made a symbolic link to an outside folder between the plan and the sweep: the move out of sight " +
                 "through it is refused, and the re-read after the grace period finds the link and refuses the tree, putting back all it " +
                 "had moved (P1). A symbolic link put inside a revision folder the plan deletes: the final delete refuses it, the revision " +
                 "goes back where the registry serves it, whole, and is reported; the run goes on with the other items. Nothing outside " +
                 "the root changes in either case.")]
    public async Task PathTurnedIntoALinkAfterThePlan_IsNeverDeletedThrough_ItIsReported_AndTheRunGoesOn(
        [Values("tags/latest/index", "_manifests/revisions/sha256", "_layers/sha256", "a link inside the revision folder")] string place)
    {
        // given: a plan that deletes the old image (its revision, its index entry, its layer links) and library/multi's garbage
        var r = Build();
        var store = Store();
        var collector = new GarbageCollector(store, _time);
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.Artifacts.Select(a => a.Key.Digest).Should().Contain([r.Old, r.OldIndex]);
        plan.LayerLinks.Select(l => l.Digest).Should().Contain(r.OldOnly);

        // when: before the sweep, the folder is moved into the sentinel folder with a link in its place (or a link to the sentinel
        // folder is put inside the old image's revision folder), and the plan is executed by the same store
        var repository = _tree.Repo("library/app");
        var link = place switch
        {
            "tags/latest/index" => Path.Combine(_tree.TagFolder("library/app", "latest"), "index"),
            "_manifests/revisions/sha256" => Path.Combine(repository, "_manifests", "revisions", "sha256"),
            "_layers/sha256" => Path.Combine(repository, "_layers", "sha256"),
            _ => Path.Combine(_tree.RevisionFolder("library/app", r.Old), "extra"),
        };
        if (place.StartsWith("a link", StringComparison.Ordinal))
        {
            Directory.CreateSymbolicLink(link, _outside);
        }
        else
        {
            HostileFiles.MoveOutAndLink(link, Path.Combine(_outside, "moved", Path.GetFileName(link)));
        }

        var outside = FolderSnapshot.Take(_outside);
        var inside = _tree.Files();
        if (!place.StartsWith("a link", StringComparison.Ordinal))
        {
            // then: the run refuses the tree, naming the link, and everything it had moved out of sight is back
            var run = () => collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });
            (await run.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain($"'{link}' is a symbolic link");
            outside.ShouldBeUnchanged($"the sweep must not delete through the link at {link}");
            _tree.Files().Should().BeEquivalentTo(inside, "nothing was deleted, and nothing is left out of sight");
            return;
        }

        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

        // then: nothing outside the root changed, the report names the revision, which is back and whole, and the other
        // repository's garbage is gone
        outside.ShouldBeUnchanged($"the sweep must not delete through the link at {link}");
        GcReportWriter.ToJson(result).Should().Contain(_tree.RevisionFolder("library/app", r.Old), "the item that was not deleted is reported with its path");
        result.ArtifactsFailed.Select(f => f.Key.Digest).Should().Contain(r.Old);
        _tree.HasRevision("library/multi", r.OldIndex).Should().BeFalse("the run goes on with the other items");
        _tree.HasRevision("library/multi", r.OldChild).Should().BeFalse("the run goes on with the other items");
        File.Exists(Path.Combine(_tree.RevisionFolder("library/app", r.Old), "link")).Should().BeTrue("the revision was not deleted");
        _tree.HasBlob(r.Old).Should().BeTrue("a revision the registry still serves keeps its manifest's blob");
        _tree.HasBlob(r.OldOnly).Should().BeTrue("a revision the registry still serves keeps its layers");
        File.Exists(Path.Combine(_tree.LayerFolder("library/app", r.OldOnly), "link")).Should().BeTrue("and their layer links");
    }

    [Test]
    [Description("Issue 14: a real run's summary names each item whose final delete failed the way a user writes it (an artifact, " +
                 "which covers its revision and its tag entries, and a layer link as repository@digest, a blob by its digest), followed " +
                 "by the path inside the root that was not deleted and why; never a record's default text (type name, property list, " +
                 "a culture-dependent date). The final delete is made to fail by a symbolic link put inside the item's folder.")]
    public async Task AFailedFinalDelete_IsNamedAsTheUserWritesIt_WithThePathThatWasNotDeleted(
        [Values("revision", "tag index entry", "layer link", "blob")] string kind)
    {
        // given: a plan that deletes the old image (its revision, its entry in tags/latest/index, its layer links, its blobs)
        var r = Build();
        var store = Store();
        var collector = new GarbageCollector(store, _time);
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.LayerLinks.Should().Contain(l => l.Repository.Value == "library/app" && l.Digest == r.OldOnly);
        plan.Blobs.Should().Contain(b => b.Digest == r.OldOnly);

        // when: before the sweep, a symbolic link to an outside folder is put inside the folder of one of those items, so that its
        // final delete (after the grace period) refuses it, and the plan is executed
        var folder = kind switch
        {
            "revision" => _tree.RevisionFolder("library/app", r.Old),
            "tag index entry" => Path.Combine(_tree.TagFolder("library/app", "latest"), "index", "sha256", r.Old.Hex),
            "layer link" => _tree.LayerFolder("library/app", r.OldOnly),
            _ => _tree.BlobFolder(r.OldOnly),
        };
        Directory.CreateSymbolicLink(Path.Combine(folder, "extra"), _outside);
        var outside = FolderSnapshot.Take(_outside);
        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });
        var summary = new StringWriter { NewLine = "\n" };
        ConsoleSummary.Write(summary, result);

        // then: the summary's failure line names the item plainly, then the path that was not deleted and why (the refused link
        // is in the run's quarantine folder, whose name ends in a random id)
        outside.ShouldBeUnchanged("nothing is deleted through the link");
        var (name, quarantineKind) = kind switch
        {
            "revision" => ($"1 artifacts, kept with what goes with them (the next run tries again); first: library/app@{r.Old}", "Revision"),
            "tag index entry" => ($"1 artifacts, kept with what goes with them (the next run tries again); first: library/app@{r.Old}", "TagIndex"),
            "layer link" => ($"1 layer links (the next run tries again); first: library/app@{r.OldOnly}", "Layer"),
            _ => ($"1 blobs (the next run tries again); first: {r.OldOnly}", "Blob"),
        };
        var inRoot = Path.GetRelativePath(_tree.V2, folder);
        var expected = Regex.Escape($"  failed: {name}: {folder}: Refused '{_tree.V2}/_harbor-gc/quarantine/20260301T120000Z-") + "[0-9a-f]{32}" +
                       Regex.Escape($"/{quarantineKind}/{inRoot}/extra': it is a symbolic link; nothing was deleted or moved there.");
        summary.ToString().Split('\n').Should().ContainSingle(line => line.StartsWith("  failed: ", StringComparison.Ordinal))
            .Which.Should().MatchRegex($"^{expected}$", $"the {kind} is named plainly, with the path inside the root that was not deleted");
    }

    [TestCase(60, false)]
    [TestCase(180, true)]
    [Description("P6: a blob folder without its data file is an ordinary blob dated by the folder's modification time: within the time " +
                 "window (2 h) it is not planned; older, it is planned with status none (re-checked like any blob), never 'deleting'.")]
    public async Task BlobFolderWithoutData_IsAnOrdinaryBlob_DatedByTheFolder(int minutesAgo, bool planned)
    {
        // given: a tagged image, and a blob folder whose data is gone, last written MINUTES ago
        Build();
        var blob = _tree.WriteBlob(Encoding.UTF8.GetBytes("pushed, then the push was killed mid-commit"), Old);
        File.Delete(Path.Combine(_tree.BlobFolder(blob), "data"));
        var folderTime = Now.AddMinutes(-minutesAgo);
        Directory.SetLastWriteTimeUtc(_tree.BlobFolder(blob), folderTime.UtcDateTime);

        // when: planned with the default window
        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });

        // then: within the window it is not planned; older, it is planned like any blob, dated by its folder
        if (planned)
        {
            var item = plan.Blobs.Should().ContainSingle(b => b.Digest == blob).Subject;
            item.Status.Should().Be(BlobStatus.None, "a folder without data is re-checked like any blob before it goes");
            item.LastTouchedAt.Should().Be(folderTime);
        }
        else
        {
            plan.Blobs.Should().NotContain(b => b.Digest == blob, "the folder was written within the time window");
        }
    }

    [Test]
    [Description("P4: --max-duration bounds the whole run, reading included: a run still reading when it passes stops, and deletes " +
                 "nothing. The read here does not end by itself (as on a hung mount) and only stops when cancelled.")]
    public async Task MaxDuration_BoundsTheRead_ARunStillReadingWhenItPasses_Stops_AndDeletesNothing()
    {
        // given: a tree with garbage, and a store whose read never ends unless it is cancelled
        Build();
        var store = new ReadThatNeverEnds(Store());
        var before = _tree.Files();
        using var fallback = new CancellationTokenSource();

        // when: a real run with a maximum duration of one minute starts reading, and the clock moves past the minute
        var run = new GarbageCollector(store, _time).RunAsync(new GcOptions { DeleteUntagged = true, MaxDuration = TimeSpan.FromMinutes(1) }, fallback.Token);
        await store.Reading.WaitAsync(HangBound);
        _time.Advance(TimeSpan.FromMinutes(2));
        if (await Task.WhenAny(run, Task.Delay(HangBound, TimeProvider.System)) != run)
        {
            await fallback.CancelAsync();
            await FluentActions.Awaiting(() => run).Should().ThrowAsync<OperationCanceledException>();
            Assert.Fail($"the run was still reading {HangBound.TotalSeconds} s after it passed its maximum duration: the read is not bounded");
        }

        // then: it stopped (a result that says so, or the read's cancellation before any plan), and nothing was deleted
        try
        {
            var result = await run;
            result.Outcome.Should().Be(GcOutcome.Stopped);
            result.StopReason.Should().Be(GcStopReason.MaxDuration);
            (result.ArtifactsDeleted, result.BlobsDeleted).Should().Be((0, 0));
        }
        catch (OperationCanceledException)
        {
            // stopped while reading, before there was a plan: nothing can have been deleted
        }

        _tree.Files().Should().BeEquivalentTo(before, "a run that stopped while reading deletes nothing");
    }

    /// <summary>A store whose snapshot read waits until it is cancelled (a read that hangs); everything else goes to the real store.</summary>
    private sealed class ReadThatNeverEnds(IRegistryStore inner) : IRegistryStore
    {
        private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes once the read has started.</summary>
        public Task Reading => _reading.Task;

        public string Description => inner.Description;

        public async ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
        {
            _reading.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default) =>
            inner.DeleteArtifactAsync(key, expectedVersion, cancellationToken);

        public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => inner.GetBlobAsync(digest, cancellationToken);

        public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default) =>
            inner.TryUpdateBlobStatusAsync(digest, expected, next, lastTouchedAt, cancellationToken);

        public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default) => inner.IsBlobReferencedAsync(digest, cancellationToken);

        public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => inner.DeleteBlobContentAsync(digest, cancellationToken);

        public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default) => inner.DeleteBlobRecordAsync(digest, cancellationToken);

        public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default) => inner.DeleteLayerLinkAsync(link, cancellationToken);

        public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default) => inner.DeleteUploadAsync(upload, cancellationToken);
    }
}
