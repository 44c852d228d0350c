using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Tests.Collection;

/// <summary>The sweep of DESIGN.md §5: it executes exactly the plan, and re-checks each item against the live store.</summary>
public class GcExecutionTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task Run_Real_DeletesExactlyThePlan_AndLeavesNothingForASecondRun()
    {
        var r = NewRegistry();
        var shared = r.Blob();
        var live = r.Image("library/app", [shared], tag: "v1");
        var liveSignature = r.Accessory(live);
        var dead = r.Image("library/app", [shared, r.Blob()]);
        var deadSignature = r.Accessory(dead, tag: $"sha256-{dead.Digest.Hex}.sig");
        r.Age();
        var planned = await r.PlanAsync();

        var result = await r.RunAsync();

        result.Outcome.Should().Be(GcOutcome.Completed);
        result.ArtifactsDeleted.Should().Be(planned.Artifacts.Count);
        result.BlobsDeleted.Should().Be(planned.Blobs.Count);
        result.BytesFreed.Should().Be(planned.Summary.Bytes);
        r.Store.GetArtifact(dead.Key).Should().BeNull();
        r.Store.GetArtifact(deadSignature.Key).Should().BeNull();
        r.Store.GetTags().Should().NotContain(t => t.Digest == deadSignature.Digest, "the accessory's tag-scheme tag goes with it");
        r.Store.GetArtifact(liveSignature.Key).Should().NotBeNull();
        foreach (var reference in live.References.Concat(liveSignature.References))
        {
            r.Store.HasBlobContent(reference.Digest).Should().BeTrue($"{reference.Digest} belongs to the live image");
        }

        var again = await r.PlanAsync();
        again.Artifacts.Should().BeEmpty();
        again.Blobs.Should().BeEmpty();
    }

    [Test]
    public async Task Run_DryRun_ReturnsThePlan_AndChangesNothing()
    {
        var r = NewRegistry();
        r.Image("library/app", [r.Blob()]);
        r.Age();
        var before = (r.Store.GetArtifacts().Count, r.Store.GetBlobs().Count);
        var planned = await r.PlanAsync();

        var result = await r.RunAsync(dryRun: true);

        result.DryRun.Should().BeTrue();
        result.Plan.Artifacts.Should().BeEquivalentTo(planned.Artifacts);
        result.Plan.Blobs.Should().BeEquivalentTo(planned.Blobs);
        (r.Store.GetArtifacts().Count, r.Store.GetBlobs().Count).Should().Be(before);
    }

    [Test]
    public async Task Execute_IndexTaggedAfterThePlan_IsKept_WithItsChildrenAndBlobs()
    {
        // Given a plan that collects an untagged index and its child, then a user tags the index
        var r = NewRegistry();
        var child = r.Image("library/app", [r.Blob()]);
        var index = r.Index("library/app", [child]);
        r.Age();
        var collector = r.Collector();
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.Artifacts.Should().HaveCount(2);
        r.Tag(index, "v1");

        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

        // Then the version check keeps the index, the child goes with it (DependsOn), and the blob re-check keeps the bytes
        result.ArtifactsSkipped.Select(k => k.Digest).Should().BeEquivalentTo([index.Digest, child.Digest]);
        r.Store.GetArtifact(child.Key).Should().NotBeNull();
        child.References.Should().OnlyContain(x => r.Store.HasBlobContent(x.Digest));
        result.BlobsDeleted.Should().Be(0);
    }

    [Test]
    public async Task Execute_BlobReferencedByAPushAfterThePlan_IsKept()
    {
        // goharbor/harbor#23116: a manifest pushed (or a blob mounted) during GC must not lose its blob
        var r = NewRegistry();
        var layer = r.Blob();
        r.Age();
        var collector = r.Collector();
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.Blobs.Select(b => b.Digest).Should().Equal(layer);
        var image = r.Image("library/app", [layer], tag: "v1");

        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

        result.BlobsSkipped.Should().Equal(layer);
        r.Store.HasBlobContent(layer).Should().BeTrue();
        r.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.None);
        r.Store.GetArtifact(image.Key).Should().NotBeNull();
    }

    [Test]
    public async Task Execute_PushBetweenMarkAndCommit_TakesTheBlobBack()
    {
        // Given the sweep has set the blob to "delete" and is re-checking references
        var r = NewRegistry();
        var layer = r.Blob();
        var config = r.Blob(50, MediaTypes.OciConfig);
        r.Age();
        var store = new InterceptingStore(r.Store.Inner);
        var pushed = false;
        store.BeforeIsBlobReferenced = digest =>
        {
            if (digest == layer && !pushed)
            {
                // When a push that needs the blob lands right now, after the reference re-check has been decided
                r.Store.GetBlob(layer)!.Status.Should().Be(BlobStatus.Delete);
                r.Store.PutBlob(layer, MediaTypes.OciLayerGzip); // uploaded again
                pushed = true;
            }
        };

        var result = await new GarbageCollector(store, r.Time).RunAsync(new GcOptions { DeleteUntagged = true });

        // Then the push reset the status to none, the second compare-and-swap fails, and the blob is kept
        pushed.Should().BeTrue();
        result.BlobsSkipped.Should().Equal(layer);
        r.Store.HasBlobContent(layer).Should().BeTrue();
        r.Store.HasBlobContent(config).Should().BeFalse("the other unreferenced upload was collected");
    }

    [Test]
    public void Push_OfABlobBeingDeleted_FailsWithARetryableError()
    {
        var r = NewRegistry();
        var layer = r.Blob();
        r.Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Deleting, null).AsTask().Result.Should().BeTrue();

        var act = () => r.Image("library/app", [layer]);

        act.Should().Throw<BlobBeingDeletedException>().Which.Message.Should().Contain(layer.ToString()).And.Contain("retry");
    }

    [Test]
    public async Task PushManifest_ReferencingABlobMarkedForDeletion_TakesItBack_SoTheSweepsCompareAndSwapFails()
    {
        // Given a sweep has marked an old layer "delete" (and noted when it was last touched)
        var r = NewRegistry();
        var layer = r.Blob();
        r.Age();
        var seen = r.Store.GetBlob(layer)!.LastTouchedAt;
        (await r.Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, seen)).Should().BeTrue();

        // When a manifest referencing it is pushed
        var image = r.Image("library/app", [layer]);

        // Then the blob is back to none and touched now, and the sweep's next step (delete -> deleting) fails
        r.Store.GetBlob(layer)!.Should().Match<Blob>(b => b.Status == BlobStatus.None && b.UpdatedAt == r.Time.GetUtcNow());
        (await r.Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, seen)).Should().BeFalse();
        r.Store.GetArtifact(image.Key).Should().NotBeNull();
    }

    [Test]
    public async Task PushManifest_ReferencingABlobBeingDeleted_WritesNothing()
    {
        // Given one layer is being deleted by a sweep, and another was marked for deletion
        var r = NewRegistry();
        var deleting = r.Blob();
        var marked = r.Blob();
        await r.Store.Inner.TryUpdateBlobStatusAsync(deleting, BlobStatusSet.None, BlobStatus.Deleting, null);
        await r.Store.Inner.TryUpdateBlobStatusAsync(marked, BlobStatusSet.None, BlobStatus.Delete, null);
        var before = r.Store.GetArtifacts().Count;

        // When a manifest needing both is pushed
        var act = () => r.Image("library/app", [marked, deleting]);

        // Then the push fails, retryably, and changes nothing: no artifact, and the marked blob is still marked
        act.Should().Throw<BlobBeingDeletedException>().Which.Digest.Should().Be(deleting);
        BlobBeingDeletedException.IsRetryable.Should().BeTrue();
        r.Store.GetArtifacts().Should().HaveCount(before);
        r.Store.GetBlob(marked)!.Status.Should().Be(BlobStatus.Delete, "a refused push is all or nothing");
    }

    [Test]
    public async Task Run_BlobLeftDeletingByAKilledRun_IsFinished_EvenInsideTheWindow()
    {
        var r = NewRegistry();
        var layer = r.Blob();
        await r.Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null);
        await r.Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, null);
        await r.Store.Inner.DeleteBlobContentAsync(layer);

        var result = await r.RunAsync();

        result.BlobsDeleted.Should().Be(1, "a blob an earlier run committed to deleting is never stranded");
        r.Store.GetBlob(layer).Should().BeNull();
    }

    [Test]
    public async Task Run_WithFourWorkers_LeavesTheSameStoreAsOne()
    {
        ScenarioRegistry Build()
        {
            var r = NewRegistry();
            for (var i = 0; i < 30; i++)
            {
                var children = Enumerable.Range(0, 3).Select(_ => r.Image("library/app", [r.Blob(), r.Blob()])).ToList();
                var index = r.Index("library/app", children, tag: i % 3 == 0 ? $"v{i}" : null);
                r.Accessory(r.Accessory(index, AccessoryTypes.HarborSbom));
            }

            r.Age();
            return r;
        }

        var one = Build();
        var four = Build();
        await one.RunAsync(workers: 1);
        await four.RunAsync(workers: 4);

        four.Store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo(one.Store.GetArtifacts().Select(a => a.Key));
        four.Store.GetBlobs().Select(b => b.Digest).Should().BeEquivalentTo(one.Store.GetBlobs().Select(b => b.Digest));
        four.Store.GetArtifacts().Should().HaveCount(10 * 6);
    }

    [Test]
    [Description("Issue 14: a layer link whose delete fails is named repository@digest in the error log and in the summary, never " +
                 "by the record's default text (type name, property list, culture-dependent date).")]
    public async Task Execute_ALayerLinkWhoseDeleteFails_IsNamedRepositoryAtDigest_InTheLogAndTheSummary()
    {
        // given: a blob library/app links and nothing references, older than the time window, and a store whose layer link
        // delete fails
        var r = NewRegistry();
        var orphan = r.Blob();
        r.Store.PutLayerLink(new LayerLink(ScenarioRegistry.Repo("library/app"), orphan, r.Time.GetUtcNow()));
        r.Age();
        var store = new InterceptingStore(r.Store.Inner) { BeforeDeleteLayerLink = _ => throw new IOException("the disk refused") };
        using var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));

        // when: a real run deletes it
        var result = await new GarbageCollector(store, r.Time, factory.CreateLogger<GarbageCollector>()).RunAsync(new GcOptions());
        var summary = new StringWriter { NewLine = "\n" };
        ConsoleSummary.Write(summary, result);

        // then: the error log and the summary's failure line name the link as library/app@digest, with the error
        result.LayerLinksFailed.Should().ContainSingle();
        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 1109).Which.Message.Should()
            .Be($"Deleting layer link library/app@{orphan} failed; the next run tries again");
        summary.ToString().Split('\n').Should()
            .Contain($"  failed: 1 layer links (the next run tries again); first: library/app@{orphan}: the disk refused");
    }

    [Test]
    public void Options_Invalid_ListsEveryBadValue()
    {
        var options = new GcOptions { Workers = 17, TimeWindow = TimeSpan.FromMinutes(-1), MaxDuration = TimeSpan.Zero };

        var act = () => NewRegistry().Collector().RunAsync(options);

        act.Should().ThrowAsync<ArgumentException>().Result.Which.Message.Should()
            .Contain("Workers must be between 1 and 16, but is 17.")
            .And.Contain("TimeWindow must be 0 or more, but is -00:01:00.")
            .And.Contain("MaxDuration must be more than 0 when set, but is 00:00:00.");
    }
}
