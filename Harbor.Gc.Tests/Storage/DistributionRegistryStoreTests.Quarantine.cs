using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The quarantine of a real run on the Distribution layout (issue 13 §1, DESIGN.md §5): what a run deletes is first moved out of the
/// registry's sight, and only after the grace period, with the tree read again, deleted or put back. Each test changes the tree
/// the way a registry request in flight at the move would (it checked the item, then writes), while the run waits.
/// </summary>
public partial class DistributionRegistryStoreTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Runs a real GC with a one-minute grace period on the fake clock; <paramref name="duringGrace"/> runs once the run waits (with
    /// everything it deletes out of sight), and then the clock moves past the grace period. <paramref name="whileSettling"/>, when
    /// given, runs before each call the store makes to its storage driver once settling has begun (the wait makes none: the first
    /// is the re-read of the tree after it), with the call's name and arguments. <paramref name="grace"/> replaces the grace period;
    /// with 0 the run settles at once, and the clock is not moved.
    /// </summary>
    private async Task<GcResult> RunWithRequestsInFlightAsync(
        Action duringGrace, CancellationToken cancellationToken = default, TimeSpan? maxDuration = null, Action<string, object?[]>? whileSettling = null, TimeSpan? grace = null)
    {
        grace ??= Grace;
        var settling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new GcOptions
        {
            DeleteUntagged = true,
            MaxDuration = maxDuration,
            Progress = new InlineProgress(p =>
            {
                if (p.Phase == GcPhase.Settling && p.Done == 0)
                {
                    settling.TrySetResult();
                }
            }),
        };
        var store = whileSettling is null
            ? new DistributionRegistryStore(_tree.Root, _time) { GracePeriod = grace.Value }
            : new DistributionRegistryStore(
                HookedStore.Create(FileSystemStorageDriver.Open(_tree.V2), (method, args) =>
                {
                    if (settling.Task.IsCompleted)
                    {
                        whileSettling(method, args);
                    }
                }),
                _tree.Root,
                _time) { GracePeriod = grace.Value };
        var run = Task.Run(() => new GarbageCollector(store, _time).RunAsync(options, cancellationToken), CancellationToken.None);
        await Task.WhenAny(settling.Task, run).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
        if (!run.IsCompleted)
        {
            duringGrace();
        }

        // move the fake clock until the run's wait is over (its timer may be registered a moment after the phase is reported)
        for (var i = 0; i < 600 && grace > TimeSpan.Zero && !run.IsCompleted; i++)
        {
            _time.Advance(grace.Value);
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System));
        }

        return await run.WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
    }

    private string QuarantineFolder => Path.Combine(_tree.V2, "_harbor-gc", "quarantine");

    [Test]
    public async Task QuietRun_DeletesEverythingItQuarantined_AndLeavesNoQuarantineOrLock()
    {
        // given the issue-3 tree, and nothing happening during the run
        var r = Build();
        var plan = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });

        // when collected for real with a grace period
        var result = await RunWithRequestsInFlightAsync(() => Directory.Exists(QuarantineFolder).Should().BeTrue("the deletions wait out of sight"));

        // then every planned item is gone, nothing was put back, and the run left nothing of its own in the tree
        result.ArtifactsDeleted.Should().Be(plan.Artifacts.Count);
        result.BlobsDeleted.Should().Be(plan.Blobs.Count);
        result.LayerLinksDeleted.Should().Be(plan.LayerLinks.Count);
        result.ArtifactsSkipped.Should().BeEmpty();
        result.BlobsSkipped.Should().BeEmpty();
        _tree.HasRevision("library/app", r.Old).Should().BeFalse();
        _tree.HasBlob(r.OldOnly).Should().BeFalse();
        Directory.Exists(Path.Combine(_tree.V2, "_harbor-gc")).Should().BeFalse();
        _tree.Files().Should().NotContain(f => f.Contains("_harbor-gc", StringComparison.Ordinal));
    }

    [Test]
    public async Task ReTagDuringTheGracePeriod_PutsBackTheRevision_ItsBlobs_ItsLayerLinks_AndItsSignature()
    {
        // given an old untagged image (with its own layer and a cosign tag-scheme signature) that the run deletes
        var r = Build();

        // when, while the run waits, a client re-tags it: it found the layers present, and the registry writes the revision link
        // again (its folder was moved away) and the new tag
        var result = await RunWithRequestsInFlightAsync(() =>
        {
            DistributionTree.WriteLink(Path.Combine(_tree.RevisionFolder("library/app", r.Old), "link"), r.Old);
            _tree.Tag("library/app", "retagged", r.Old, TimeSpan.Zero);
        });

        // then the image pulls whole: revision, tag, manifest blob, config and layers, their layer links, and its signature
        _tree.HasRevision("library/app", r.Old).Should().BeTrue();
        foreach (var blob in Manifest(r.Old).References.Select(x => x.Digest))
        {
            _tree.HasBlob(blob).Should().BeTrue($"{blob} is referenced by the re-tagged image");
            File.Exists(Path.Combine(_tree.LayerFolder("library/app", blob), "link")).Should().Be(blob != r.Old, $"{blob}'s layer link in library/app");
        }

        _tree.HasRevision("library/app", r.OldSig).Should().BeTrue("a hard accessory comes back with its subject");
        File.Exists(Path.Combine(_tree.TagFolder("library/app", $"sha256-{r.Old.Hex}.sig"), "current", "link")).Should().BeTrue();
        result.ArtifactsSkipped.Should().Contain(new ArtifactKey(RepositoryName.Parse("library/app"), r.OldSig));
        result.BlobsSkipped.Should().Contain(r.OldOnly);

        // and what nothing needed again is deleted as planned
        _tree.HasRevision("library/multi", r.OldIndex).Should().BeFalse();
        _tree.HasBlob(r.OrphanOld).Should().BeFalse();
        Directory.Exists(QuarantineFolder).Should().BeFalse();
    }

    [Test]
    public async Task WriteThatLandsInTheQuarantinedCopy_PutsTheItemBack()
    {
        // given the signature of the old image, which the run deletes with its tag-scheme tag
        var r = Build();
        var tag = $"sha256-{r.Old.Hex}.sig";

        // when a registry request that opened the tag's link before the move writes it after: the write lands in the moved copy
        var result = await RunWithRequestsInFlightAsync(() =>
        {
            var moved = Directory.GetDirectories(QuarantineFolder, tag, SearchOption.AllDirectories).Single();
            DistributionTree.WriteLink(Path.Combine(moved, "current", "link"), r.OldSig);
            File.SetLastWriteTimeUtc(Path.Combine(moved, "current", "link"), Now.UtcDateTime.AddSeconds(30));
        });

        // then the tag goes back, with the signature it names and that signature's blobs
        File.Exists(Path.Combine(_tree.TagFolder("library/app", tag), "current", "link")).Should().BeTrue();
        _tree.HasRevision("library/app", r.OldSig).Should().BeTrue();
        foreach (var blob in Manifest(r.OldSig).References.Select(x => x.Digest))
        {
            _tree.HasBlob(blob).Should().BeTrue();
        }

        result.ArtifactsSkipped.Should().Contain(new ArtifactKey(RepositoryName.Parse("library/app"), r.OldSig));
    }

    [Test]
    public async Task ManifestPushedDuringTheGracePeriod_WithAQuarantinedBlob_KeepsTheBlob()
    {
        // given a dead layer the run deletes
        var r = Build();

        // when, while the run waits, a push to another repository that found the blob present (before the move) mounts it and
        // writes a manifest using it
        Digest pushed = default;
        var result = await RunWithRequestsInFlightAsync(() =>
        {
            DistributionTree.WriteLink(Path.Combine(_tree.LayerFolder("team/tool", r.OldOnly), "link"), r.OldOnly);
            var config = _tree.Upload("team/tool", "{\"config\":\"tool\"}", TimeSpan.Zero);
            pushed = _tree.Push("team/tool", Support.Manifests.Image(config, [r.OldOnly]), TimeSpan.Zero, "v1");
        });

        // then the layer is put back, and the new image pulls whole
        _tree.HasBlob(r.OldOnly).Should().BeTrue();
        result.BlobsSkipped.Should().Contain(r.OldOnly);
        foreach (var blob in Manifest(pushed).References.Select(x => x.Digest))
        {
            _tree.HasBlob(blob).Should().BeTrue();
        }
    }

    [Test]
    public async Task IndexPushedDuringTheGracePeriod_ListingAQuarantinedChild_PutsTheChildBack()
    {
        var r = Build();

        // when a new index listing the old child (which the registry found present before the move) and a live one is pushed
        // while the run waits
        var result = await RunWithRequestsInFlightAsync(() => _tree.Push("library/multi", Support.Manifests.Index([r.OldChild, r.Children[0]]), TimeSpan.Zero, "new"));

        // then the child, its blobs and its layer links are back, and the old index itself is deleted
        _tree.HasRevision("library/multi", r.OldChild).Should().BeTrue();
        foreach (var blob in Manifest(r.OldChild).References.Select(x => x.Digest))
        {
            _tree.HasBlob(blob).Should().BeTrue();
        }

        _tree.HasRevision("library/multi", r.OldIndex).Should().BeFalse();
        result.ArtifactsSkipped.Should().Contain(new ArtifactKey(RepositoryName.Parse("library/multi"), r.OldChild));
    }

    [Test]
    public async Task RunStoppedDuringTheGracePeriod_PutsEverythingBack_AndDeletesNothing()
    {
        // given a tree, and the files it holds
        Build();
        var before = _tree.Files();
        using var stop = new CancellationTokenSource();

        // when the run is stopped while it waits
        var result = await RunWithRequestsInFlightAsync(() => stop.Cancel(), stop.Token);

        // then it says it stopped, deleted nothing, and the tree is as it was
        result.Outcome.Should().Be(GcOutcome.Stopped);
        result.ArtifactsDeleted.Should().Be(0);
        result.BlobsDeleted.Should().Be(0);
        _tree.Files().Should().Equal(before);
    }

    /// <summary>
    /// A stop that arrives as settling reads the tree again (the grace period over, nothing deleted yet) is a stop like one during
    /// the wait; it escaped as <see cref="OperationCanceledException"/>. The stop is made inside the driver's first call after the
    /// wait. The maximum duration is passed with no grace period: the fake clock fires no timer from a move made while an earlier
    /// move (the one that ends the wait, which runs settling inline) is still firing its own.
    /// </summary>
    [TestCase(GcStopReason.Cancelled, 60)]
    [TestCase(GcStopReason.Cancelled, 0)]
    [TestCase(GcStopReason.MaxDuration, 0)]
    public async Task RunStoppedAsSettlingReadsTheTreeAgain_PutsEverythingBack_AndDeletesNothing(GcStopReason reason, int graceSeconds)
    {
        // given a tree, and the files it holds
        Build();
        var before = _tree.Files();
        using var stop = new CancellationTokenSource();
        var maxDuration = TimeSpan.FromDays(1); // far beyond the clock moves of the grace period

        // when the stop arrives exactly as settling, the grace period over, lists the tree again (before it deletes anything): the
        // caller cancels, or the clock passes the run's maximum duration
        var stoppedAt = new List<string>();
        var result = await RunWithRequestsInFlightAsync(() => { }, stop.Token, maxDuration, (method, args) =>
        {
            if (stoppedAt.Count > 0)
            {
                return;
            }

            stoppedAt.Add($"{method} {string.Join(' ', args)}");
            if (reason == GcStopReason.Cancelled)
            {
                stop.Cancel();
            }
            else
            {
                _time.Advance(maxDuration);
            }
        }, TimeSpan.FromSeconds(graceSeconds));

        // then the stop came at the re-read, the run says it stopped while settling, deleted nothing, and the tree is as it was
        stoppedAt.Should().Equal($"List {DistributionLayout.Repositories}");
        result.Outcome.Should().Be(GcOutcome.Stopped);
        result.StopReason.Should().Be(reason);
        result.StoppedWhile.Should().Be(GcPhase.Settling);
        result.ArtifactsDeleted.Should().Be(0);
        result.BlobsDeleted.Should().Be(0);
        result.LayerLinksDeleted.Should().Be(0);
        _tree.Files().Should().Equal(before);
        Directory.Exists(Path.Combine(_tree.V2, "_harbor-gc")).Should().BeFalse("everything was put back and the run's quarantine removed");
    }

    [Test]
    public async Task QuarantineLeftByAKilledRun_IsReportedByADryRun_AndPutBackByTheNextRealRun()
    {
        // given a run killed after moving items out of sight (the store's steps, with no settling)
        var r = Build();
        var before = _tree.Files();
        var killed = Store();
        var plan = await new GarbageCollector(killed, _time).PlanAsync(new GcOptions { DeleteUntagged = true });
        foreach (var artifact in plan.Artifacts)
        {
            (await killed.DeleteArtifactAsync(artifact.Key, artifact.Version)).Should().Be(ArtifactDeleteOutcome.Deleted);
        }

        await killed.DeleteBlobContentAsync(r.OldOnly);
        _tree.HasRevision("library/app", r.Old).Should().BeFalse("moved out of the registry's sight");

        // when a dry run reads the tree, then a real run
        var dry = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true });
        var real = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then the dry run warns of it, and the real run puts it all back before it reads, then collects as a clean run would
        dry.Warnings.Should().Contain(w => w.Location == QuarantineFolder && w.Message.Contains("interrupted real run", StringComparison.Ordinal));
        real.Recovered.Should().BeGreaterThan(plan.Artifacts.Count);
        real.Plan.Artifacts.Select(a => a.Key).Should().BeEquivalentTo(plan.Artifacts.Select(a => a.Key));
        real.ArtifactsDeleted.Should().Be(plan.Artifacts.Count);
        Directory.Exists(Path.Combine(_tree.V2, "_harbor-gc")).Should().BeFalse();
        _tree.Files().Should().BeSubsetOf(before);
        _tree.HasRevision("library/app", r.App).Should().BeTrue();
    }

    /// <summary>
    /// Given a quarantine this project did not write (another tool, or a hand, put a folder there whose name is no kind of item a run
    /// moves: a word, or what <c>Enum.TryParse</c> alone took for a kind, "2" for a revision, "Layer, Blob" or " Tag"), when a real
    /// run starts, then it refuses naming that folder and changes nothing: before, "2" was put back as revisions, into the tree.
    /// </summary>
    [TestCase("Strange")]
    [TestCase("2")]
    [TestCase("Layer, Blob")]
    [TestCase(" Tag")]
    [TestCase("revision")]
    public async Task QuarantineFolderOfNoKindARunWrites_IsRefusedNamingIt_AndNothingChanges(string name)
    {
        // given the issue-3 tree, and under the quarantine a folder of that name holding what looks like the old image's revision
        var r = Build();
        var foreign = Path.Combine(QuarantineFolder, "20260101T000000Z-0123456789abcdef0123456789abcdef", name);
        var link = Path.Combine(foreign, "repositories", "library", "app", "_manifests", "revisions", "sha256", r.Old.Hex, "link");
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        await File.WriteAllTextAsync(link, r.Old.ToString());
        Directory.Delete(_tree.RevisionFolder("library/app", r.Old), recursive: true);
        var before = _tree.Files();

        // when a real run starts
        var run = () => new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then it refuses, naming the folder, and the tree (the foreign folder included) is as it was
        (await run.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should()
            .Contain(foreign).And.Contain("is not a quarantine this project wrote");
        _tree.Files().Should().Equal(before);
        _tree.HasRevision("library/app", r.Old).Should().BeFalse("nothing was put back from a folder this project did not write");
    }

    /// <summary>
    /// Given a run's quarantine folder that holds, beside a real item, a file in no place a run moves an item to, when a real run
    /// starts, then it puts the item back (it is the tree's) and refuses naming the run's folder, which stays with that file.
    /// </summary>
    [Test]
    public async Task QuarantineRunFolderWithAForeignFile_PutsBackItsItems_RefusesNamingIt_AndKeepsTheFile()
    {
        // given the old image's revision in a killed run's quarantine, and a file beside it no run writes
        var r = Build();
        var runFolder = Path.Combine(QuarantineFolder, "20260101T000000Z-0123456789abcdef0123456789abcdef");
        var revision = Path.Combine(runFolder, "Revision", "repositories", "library", "app", "_manifests", "revisions", "sha256", r.Old.Hex);
        Directory.CreateDirectory(Path.GetDirectoryName(revision)!);
        Directory.Move(_tree.RevisionFolder("library/app", r.Old), revision);
        var note = Path.Combine(runFolder, "Revision", "notes.txt");
        await File.WriteAllTextAsync(note, "someone's notes");

        // when a real run starts
        var run = () => new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // then the revision is back in the tree, and the run refuses naming its run folder, which keeps the file
        (await run.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should()
            .Contain(runFolder).And.Contain("holds files outside the shape this project writes a quarantine in");
        _tree.HasRevision("library/app", r.Old).Should().BeTrue();
        File.ReadAllText(note).Should().Be("someone's notes");
    }

    [Test]
    public void SecondRealRun_OnTheSameTree_IsRefusedWhileTheFirstHoldsTheLock()
    {
        Build();
        var first = (IDeferredSweepStore)Store();
        first.BeginSweep();
        try
        {
            var second = () => ((IDeferredSweepStore)Store()).BeginSweep();
            second.Should().Throw<InvalidDataException>().WithMessage("*another harbor-gc real run holds the lock*nothing was changed*");
        }
        finally
        {
            first.EndSweep();
        }

        var again = () => ((IDeferredSweepStore)Store()).EndSweepAfter(s => s.BeginSweep());
        again.Should().NotThrow("the lock is released at the end of the run");
    }

    [Test]
    public async Task TreeWithManifestsButNoTagsFolder_RefusesDeleteUntagged_UnlessAllowed()
    {
        // given a registry storage of Harbor 2.15 or later: manifests, but no repository has a tags folder (goharbor/harbor#22507)
        var image = _tree.Image("library/app", "v1", Old, null, "base", "app1");
        _tree.Image("library/other", "v2", Old, null, "other");
        var before = _tree.Files();

        // when collected with delete untagged on (the default), with it off, and with the override
        var refused = () => new GarbageCollector(Store(), _time).RunAsync(new GcOptions { DeleteUntagged = true });
        var keepUntagged = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = false });
        var allowed = await new GarbageCollector(Store(), _time).PlanAsync(new GcOptions { DeleteUntagged = true, AllowNoTags = true });

        // then the default refuses, saying why and how to go on, and deletes nothing; the other two plan as asked
        (await refused.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should()
            .Contain("has a tags folder").And.Contain("Harbor 2.15").And.Contain("--allow-no-tags").And.Contain("Nothing was planned or deleted");
        _tree.Files().Should().Equal(before);
        keepUntagged.Artifacts.Should().BeEmpty();
        allowed.Artifacts.Select(a => a.Key.Digest).Should().Contain(image.Manifest);
    }

    private Artifact Manifest(Digest digest) =>
        Harbor.Gc.Manifests.ArtifactReader.Read(RepositoryName.Parse("any/repo"), File.ReadAllBytes(Path.Combine(_tree.BlobFolder(digest), "data")), null, Now);

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread.</summary>
    private sealed class InlineProgress(Action<GcProgress> report) : IProgress<GcProgress>
    {
        public void Report(GcProgress value) => report(value);
    }
}

/// <summary>Helpers for the deferred sweep in tests.</summary>
internal static class DeferredSweepStoreExtensions
{
    public static void EndSweepAfter(this IDeferredSweepStore store, Action<IDeferredSweepStore> action)
    {
        action(store);
        store.EndSweep();
    }
}
