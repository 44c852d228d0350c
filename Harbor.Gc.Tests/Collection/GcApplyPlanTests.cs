using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>
/// Applying a saved plan (<see cref="GarbageCollector.ExecuteAsync"/>, DESIGN.md §2): a plan made again from the live store with the
/// saved plan's options, of which only what the saved plan also lists, unchanged, is executed.
/// </summary>
public class GcApplyPlanTests(StoreKind kind) : StoreFixture(kind)
{
    /// <summary>A plan as a dry run's report saves it and <c>gc --apply</c> reads it back.</summary>
    private static CollectionPlan SavedAndReadBack(CollectionPlan plan, DateTimeOffset at) =>
        GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(GcReportWriter.ToJson(new GcResult
        {
            Plan = plan, DryRun = true, StartedAt = at, FinishedAt = at, Outcome = GcOutcome.Completed,
        }))));

    private static CollectionPlan With(CollectionPlan plan, IReadOnlyList<PlannedArtifact>? artifacts = null, IReadOnlyList<PlannedBlob>? blobs = null,
        bool? deleteUntagged = null) => new()
        {
            Store = plan.Store, CreatedAt = plan.CreatedAt, DeleteUntagged = deleteUntagged ?? plan.DeleteUntagged, TimeWindow = plan.TimeWindow,
            Artifacts = artifacts ?? plan.Artifacts, Blobs = blobs ?? plan.Blobs, LayerLinks = plan.LayerLinks, Uploads = plan.Uploads,
        };

    /// <summary>Everything a store holds, as text: artifacts with versions, tags, blobs with status and whether their bytes are there.</summary>
    private static List<string> Contents(TestStore store) =>
    [
        .. store.GetArtifacts().Select(a => $"artifact {a.Key} {a.Version}")
            .Concat(store.GetTags().Select(t => $"tag {t.Repository}:{t.Name} {t.Digest}"))
            .Concat(store.GetBlobs().Select(b => $"blob {b.Digest} {b.Status} {store.HasBlobContent(b.Digest)}"))
            .Concat(store.GetAccessoryLinks().Select(l => $"accessory {l}"))
            .Order(StringComparer.Ordinal),
    ];

    [Test]
    public async Task Apply_OnAQuietStore_LeavesWhatARealRunLeaves_OnRandomRegistries()
    {
        for (var seed = 1; seed <= PerStore(12, 4, 2); seed++)
        {
            // given two copies of a random registry, and a plan of the first saved as a report and read back
            var (applied, time, description) = BuildRandom(seed, 2);
            var (direct, directTime, _) = BuildRandom(seed, 2);
            var plan = SavedAndReadBack(await new GarbageCollector(applied.Inner, time).PlanAsync(new GcOptions { DeleteUntagged = true }), time.GetUtcNow());

            // when a new collector applies it, and a real run collects the other copy
            var result = await new GarbageCollector(applied.Inner, time).ExecuteAsync(plan, new GcOptions());
            var real = await new GarbageCollector(direct.Inner, directTime).RunAsync(new GcOptions { DeleteUntagged = true });

            // then the stores hold the same things, and nothing the plan listed was kept
            Contents(applied).Should().Equal(Contents(direct), $"seed {seed}: {description}");
            (result.ArtifactsDeleted, result.BlobsDeleted).Should().Be((real.ArtifactsDeleted, real.BlobsDeleted), $"seed {seed}");
            result.ArtifactsSkipped.Should().BeEmpty();
            result.BlobsSkipped.Should().BeEmpty();
        }
    }

    [Test]
    public async Task Apply_AnArtifactDeletedSinceThePlan_IsNothingToDo_AndItsBlobsStillGo()
    {
        // given a plan that collects an untagged image, which someone deletes before the plan is applied
        var r = NewRegistry();
        var dead = r.Image("library/app", [r.Blob()]);
        r.Age();
        var plan = await r.PlanAsync();
        (await r.Store.Inner.DeleteArtifactAsync(dead.Key, r.Store.GetArtifact(dead.Key)!.Version)).Should().Be(ArtifactDeleteOutcome.Deleted);

        // when it is applied
        var result = await r.Collector().ExecuteAsync(plan, new GcOptions());

        // then there is no artifact to delete and nothing to report kept; its blobs, garbage still, go
        result.Outcome.Should().Be(GcOutcome.Completed);
        result.ArtifactsDeleted.Should().Be(0);
        result.ArtifactsSkipped.Should().BeEmpty();
        result.BlobsDeleted.Should().Be(plan.Blobs.Count);
        dead.References.Should().OnlyContain(x => !r.Store.HasBlobContent(x.Digest));
    }

    [Test]
    public async Task Apply_ABlobAnInterruptedRunLeftInDelete_IsDeleted()
    {
        // given an unreferenced old blob that an interrupted run had marked "delete", and a plan made afterwards
        var r = NewRegistry();
        var blob = r.Blob();
        r.Age();
        r.Store.TryUpdateBlobStatus(blob, BlobStatusSet.None, BlobStatus.Delete).Should().BeTrue();
        var plan = SavedAndReadBack(await r.PlanAsync(), r.Time.GetUtcNow());
        plan.Blobs.Should().ContainSingle().Which.Status.Should().Be(BlobStatus.Delete);

        // when a new collector applies it
        var result = await r.Collector().ExecuteAsync(plan, new GcOptions());

        // then the blob goes
        result.BlobsDeleted.Should().Be(1);
        r.Store.GetBlob(blob).Should().BeNull();
    }

    [Test]
    public async Task Apply_APlanListingItemsTwice_DeletesEachOnce()
    {
        var r = NewRegistry();
        var dead = r.Image("library/app", [r.Blob()]);
        r.Age();
        var plan = await r.PlanAsync();
        var twice = With(plan, artifacts: [.. plan.Artifacts, .. plan.Artifacts], blobs: [.. plan.Blobs, .. plan.Blobs]);

        var result = await r.Collector().ExecuteAsync(twice, new GcOptions());

        result.ArtifactsDeleted.Should().Be(1);
        result.BlobsDeleted.Should().Be(plan.Blobs.Count);
        result.BytesFreed.Should().Be(plan.Summary.Bytes);
        result.ArtifactsSkipped.Should().BeEmpty();
        result.BlobsSkipped.Should().BeEmpty();
        r.Store.GetArtifact(dead.Key).Should().BeNull();
    }

    [Test]
    public async Task Apply_APlanForAnotherStore_Throws_AndDeletesNothing()
    {
        var r = NewRegistry();
        r.Image("library/app", [r.Blob()]);
        r.Age();
        var plan = await r.PlanAsync();
        var elsewhere = new CollectionPlan
        {
            Store = "distribution:/somewhere/else", CreatedAt = plan.CreatedAt, DeleteUntagged = true, TimeWindow = plan.TimeWindow,
            Artifacts = plan.Artifacts, Blobs = plan.Blobs,
        };
        var before = Contents(r.Store);

        var act = () => r.Collector().ExecuteAsync(elsewhere, new GcOptions());

        (await act.Should().ThrowAsync<ArgumentException>()).WithMessage("*distribution:/somewhere/else*");
        Contents(r.Store).Should().Equal(before);
    }

    [Test]
    public async Task Apply_UsesThePlansTimeWindow_NotTheOptionsGiven()
    {
        // given an untagged image pushed an hour ago, and a plan made with no time window, which collects it
        var r = NewRegistry();
        var recent = r.Image("library/app", [r.Blob()]);
        r.Age(TimeSpan.FromHours(1));
        var plan = await r.PlanAsync(window: TimeSpan.Zero);
        plan.Artifacts.Should().ContainSingle();

        // when it is applied with options whose window (the default 2 h) would keep it
        var result = await r.Collector().ExecuteAsync(plan, new GcOptions { TimeWindow = TimeSpan.FromHours(2) });

        // then the plan's own window decides: the image goes
        result.ArtifactsDeleted.Should().Be(1);
        r.Store.GetArtifact(recent.Key).Should().BeNull();
    }

    [Test]
    public async Task Apply_APlanMadeWithoutDeleteUntagged_EditedToListAnUntaggedImage_DeletesNothing()
    {
        // given a plan made with delete-untagged off (no artifacts), edited to list an untagged image with its true version
        var r = NewRegistry();
        var untagged = r.Image("library/app", [r.Blob()]);
        r.Age();
        var collecting = await r.PlanAsync();
        var keeping = await r.PlanAsync(deleteUntagged: false);
        keeping.Artifacts.Should().BeEmpty();
        var edited = With(keeping, artifacts: collecting.Artifacts, blobs: collecting.Blobs);

        // when it is applied
        var result = await r.Collector().ExecuteAsync(edited, new GcOptions());

        // then a plan made now with its options keeps every artifact: the image and its blobs stay, reported kept
        result.ArtifactsDeleted.Should().Be(0);
        result.BlobsDeleted.Should().Be(0);
        result.ArtifactsSkipped.Should().Equal(untagged.Key);
        r.Store.GetArtifact(untagged.Key).Should().NotBeNull();
        untagged.References.Should().OnlyContain(x => r.Store.HasBlobContent(x.Digest));
    }

    [Test]
    public async Task Apply_AChildListedWithoutItsIndex_IsKept_WithItsBlobs()
    {
        // given a plan that collects an untagged index and its child, edited to list only the child (and every blob)
        var r = NewRegistry();
        var child = r.Image("library/app", [r.Blob()]);
        var index = r.Index("library/app", [child]);
        r.Age();
        var plan = await r.PlanAsync();
        plan.Artifacts.Should().HaveCount(2);
        var edited = With(plan, artifacts: [.. plan.Artifacts.Where(a => a.Key == child.Key)]);

        // when it is applied
        var result = await r.Collector().ExecuteAsync(edited, new GcOptions());

        // then the child goes with its index, which the plan does not let go: both stay, whole
        result.ArtifactsDeleted.Should().Be(0);
        result.ArtifactsSkipped.Should().Equal(child.Key);
        r.Store.GetArtifact(index.Key).Should().NotBeNull();
        r.Store.GetArtifact(child.Key).Should().NotBeNull();
        child.References.Concat(index.References).Should().OnlyContain(x => r.Store.HasBlobContent(x.Digest));
        GcInvariants.AssertNoArtifactLostABlob(r.Store, "after applying the edited plan");
    }

    [Test]
    public async Task Apply_APlanEditedToListALiveImage_AndItsLayerAsDeleting_DeletesNeither()
    {
        // given a plan that collects an untagged image, edited to list a tagged image (with its true version) and that image's
        // layer with status "deleting", as if a run had already committed it
        var r = NewRegistry();
        var layer = r.Blob();
        var live = r.Image("library/app", [layer], tag: "v1");
        var dead = r.Image("library/app", [r.Blob()]);
        r.Age();
        var plan = await r.PlanAsync();
        var liveRecord = r.Store.GetArtifact(live.Key)!;
        var layerRecord = r.Store.GetBlob(layer)!;
        var edited = With(plan,
            artifacts: [.. plan.Artifacts, new PlannedArtifact(live.Key, liveRecord.MediaType, liveRecord.Size, [], DeletionReason.Untagged, null, null, liveRecord.Version)],
            blobs: [.. plan.Blobs, new PlannedBlob(layer, layerRecord.Size, layerRecord.LastTouchedAt, BlobStatus.Deleting)]);

        // when it is applied by a new collector
        var result = await r.Collector().ExecuteAsync(SavedAndReadBack(edited, r.Time.GetUtcNow()), new GcOptions());

        // then the garbage goes; the live image and its layer stay, whole, and are reported kept
        r.Store.GetArtifact(dead.Key).Should().BeNull();
        r.Store.GetArtifact(live.Key).Should().NotBeNull();
        r.Store.GetTags().Should().Contain(t => t.Name == "v1" && t.Digest == live.Digest);
        r.Store.HasBlobContent(layer).Should().BeTrue();
        r.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.None);
        result.ArtifactsSkipped.Should().Equal(live.Key);
        result.BlobsSkipped.Should().Equal(layer);
    }

    [Test]
    public async Task Apply_ABlobAKilledRunLeftDeleting_WithALayerLinkWrittenWithinTheWindow_IsFinished_AndCanBePushedAgain()
    {
        // given a blob an earlier run committed to deleting (status "deleting": no push takes it back, pushes of it are refused),
        // which a repository linked within the time window (so the plan lists the blob, which it finishes whatever its time, but
        // not the recent link), and a saved plan
        var r = NewRegistry();
        var orphan = r.Blob();
        r.Age();
        r.Store.PutLayerLink(new LayerLink(ScenarioRegistry.Repo("library/app"), orphan, r.Time.GetUtcNow()));
        r.Store.TryUpdateBlobStatus(orphan, BlobStatusSet.None, BlobStatus.Deleting).Should().BeTrue();
        var plan = SavedAndReadBack(await r.PlanAsync(), r.Time.GetUtcNow());
        plan.Blobs.Should().Contain(b => b.Digest == orphan);

        // when a new collector applies the plan
        var result = await r.Collector().ExecuteAsync(plan, new GcOptions());

        // then the committed blob is finished (a direct run finishes it too), not kept as "linked since the plan": kept, it would
        // stay "deleting" and refuse every push of it until another run
        result.BlobsSkipped.Should().NotContain(orphan);
        r.Store.GetBlob(orphan).Should().BeNull();
        r.Store.PutBlob(orphan).Status.Should().Be(BlobStatus.None);
    }
}
