using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Registry;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// Retention carried out against the in-memory and LiteDB stores (DESIGN.md §6, §7): the cascade, immutability re-checked at
/// execution time, the compare-and-swap on the snapshot's version, the order a crash may interrupt, and the GC run after.
/// </summary>
public sealed class RetentionExecutionTests(StoreKind kind) : RegistryApiFixture(kind)
{
    /// <summary>Harbor's "retain the most recently pushed k artifacts" over every repository and tag (untagged not in scope).</summary>
    private static RetentionPolicy KeepLatest(int k, bool untagged = false) =>
        new("library", [new RetentionRule(RetentionTemplate.LatestPushedK, k, RepositorySelector.Matching("**"), TagSelector.Matching("**", untagged))]);

    private static ImmutabilityRules ImmutableTag(string pattern) =>
        new([new ImmutableTagRule("library", 0, RepositorySelector.Matching("**"), TagSelector.Matching(pattern))]);

    private async Task<Artifact> PushLater(Func<Task<Artifact>> push)
    {
        Time.Advance(TimeSpan.FromMinutes(1));
        return await push();
    }

    /// <summary>Pushes an image by <paramref name="tag"/>, then its cosign signature, a minute apart each.</summary>
    private async Task<(Artifact Image, Artifact Signature)> PushSigned(string tag)
    {
        var image = await PushLater(() => PushImage(tag));
        return (image, await PushLater(() => PushCosignSignature(image.Digest)));
    }

    /// <summary>Reads a snapshot and evaluates the policy over it, as a run does before it executes.</summary>
    private async Task<(RetentionSnapshot Snapshot, RetentionPlan Plan)> Plan(RetentionPolicy policy)
    {
        var snapshot = await RetentionSnapshot.ReadAsync(Store.Inner);
        return (snapshot, RetentionEvaluator.Evaluate(policy, snapshot, Time));
    }

    private Task<RetentionResult> Run(RetentionPolicy policy, ImmutabilityRules? rules = null, bool dryRun = false) =>
        new RetentionRunner(Store.Inner, Time).RunAsync(policy, rules, dryRun);

    [Test]
    public async Task Given_latestPushedK_1_and_two_signed_images_when_run_then_the_older_goes_with_its_signature_and_the_newer_keeps_its()
    {
        // Harbor: a signature follows its subject; retention deletes the subject with its accessories and keeps those of a retained one
        var (v1, v1Sig) = await PushSigned("v1");
        var (v2, v2Sig) = await PushSigned("v2");

        var result = await Run(KeepLatest(1));

        result.Execution!.Deleted.Should().Equal([v1.Key, v1Sig.Key], "the subject first, then its accessory");
        result.Execution.Skipped.Should().BeEmpty();
        Exists(v1).Should().BeFalse();
        Exists(v1Sig).Should().BeFalse();
        Exists(v2).Should().BeTrue();
        Exists(v2Sig).Should().BeTrue();
        Store.GetTags().Select(t => t.Name).Should().BeEquivalentTo(["v2", $"sha256-{v2.Digest.Hex}.sig"]);
        var repository = result.Plan.Repositories.Should().ContainSingle().Subject;
        (repository.Total, repository.Retained, repository.Deleted, repository.ArtifactsDeleted).Should().Be((2, 1, 1, 2), "counted over candidates, the signatures follow their subjects");
    }

    [Test]
    public async Task Given_a_dry_run_when_run_then_the_plan_is_the_real_runs_and_nothing_changes()
    {
        var v1 = await PushLater(() => PushImage("v1"));
        await PushLater(() => PushCosignSignature(v1.Digest));
        await PushLater(() => PushImage("v2"));
        var before = Store.GetArtifacts().Select(a => a.Key).ToList();

        var dry = await Run(KeepLatest(1), dryRun: true);

        dry.Execution.Should().BeNull();
        Store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo(before);
        var real = await Run(KeepLatest(1));
        real.Execution!.Deleted.Should().BeEquivalentTo(dry.Plan.DeleteOrder);
    }

    [Test]
    public async Task Given_a_retained_multi_arch_index_when_run_then_its_untagged_children_stay()
    {
        // Harbor: index children are not candidates; they follow their index
        var amd = await PushLater(() => PushImage());
        var arm = await PushLater(() => PushImage());
        var old = await PushLater(() => PushImage("old"));
        var index = await PushLater(() => PushIndex("latest", amd.Digest, arm.Digest));

        var result = await Run(KeepLatest(1));

        result.Execution!.Deleted.Should().Equal(old.Key);
        Exists(index).Should().BeTrue();
        Exists(amd).Should().BeTrue();
        Exists(arm).Should().BeTrue();
    }

    [Test]
    public async Task Given_two_indexes_sharing_a_child_when_the_older_goes_then_its_own_children_go_and_the_shared_one_stays()
    {
        // §7: deleting an index takes the untagged children no other artifact lists; §6 (Harbor's artifact DAO "both" filter and
        // deleteDeeply): a tagged child is a candidate of its own, and one no rule retains goes after its only index
        var own = await PushLater(() => PushImage());
        var shared = await PushLater(() => PushImage());
        var tagged = await PushLater(() => PushImage("pinned"));
        var oldIndex = await PushLater(() => PushIndex("old", own.Digest, shared.Digest, tagged.Digest));
        var newIndex = await PushLater(() => PushIndex("new", shared.Digest));

        var result = await Run(KeepLatest(1)); // untagged children are not candidates: the indexes and the tagged child compete

        result.Execution!.Deleted.Should().BeEquivalentTo([oldIndex.Key, own.Key, tagged.Key]);
        result.Execution.Deleted[0].Should().Be(oldIndex.Key, "the index before its children");
        Exists(shared).Should().BeTrue("the newer index still lists it");
        Exists(tagged).Should().BeFalse("no rule retains it and its only index is gone");
        Store.GetTags().Select(t => t.Name).Should().NotContain("pinned");
        Exists(newIndex).Should().BeTrue();
    }

    [Test]
    public async Task Given_an_immutable_image_with_a_signature_when_a_policy_would_delete_it_then_both_survive()
    {
        // Harbor: immutable artifacts are always retained; §7: so are their accessories
        var (v1, v1Sig) = await PushSigned("v1");
        var v2 = await PushLater(() => PushImage("v2"));

        var result = await Run(KeepLatest(0), ImmutableTag("v1"));

        result.Execution!.Deleted.Should().Equal(v2.Key);
        Exists(v1).Should().BeTrue();
        Exists(v1Sig).Should().BeTrue();
    }

    [Test]
    public async Task Given_a_plan_made_without_immutability_rules_when_executed_with_them_then_the_immutable_image_and_its_signature_are_skipped()
    {
        // Immutability is checked again at execution time, whatever the plan says
        var (v1, v1Sig) = await PushSigned("v1");
        var (snapshot, plan) = await Plan(KeepLatest(0));
        plan.DeleteOrder.Should().HaveCount(2);

        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, Store.Inner, ImmutableTag("v*"));

        execution.Deleted.Should().BeEmpty();
        execution.Skipped.Should().BeEquivalentTo(
        [
            new SkippedArtifact(v1.Key, RetentionSkipReason.Immutable, "its tag v1 is immutable under rule 'immutable rule 1 of project library (repository matches '**', tag matches 'v*')'"),
            new SkippedArtifact(v1Sig.Key, RetentionSkipReason.Dependent, $"its subject {v1.Digest} was kept"),
        ]);
        Exists(v1).Should().BeTrue();
        Exists(v1Sig).Should().BeTrue();
    }

    [Test]
    public async Task Given_a_signature_with_an_immutable_tag_of_its_own_when_a_plan_made_without_the_rules_runs_then_its_subject_is_kept_too()
    {
        // An immutable accessory pins its subject: deleting the subject first would leave it an orphan that GC deletes
        var (v1, v1Sig) = await PushSigned("v1");
        await Api.TagAsync(Repo, "pinned", v1Sig.Digest);
        var (snapshot, plan) = await Plan(KeepLatest(0));
        plan.DeleteOrder.Should().BeEquivalentTo([v1.Key, v1Sig.Key]);

        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, Store.Inner, ImmutableTag("pinned"));

        execution.Deleted.Should().BeEmpty();
        execution.Skipped.Select(s => (s.Key, s.Reason)).Should().Equal((v1.Key, RetentionSkipReason.Immutable), (v1Sig.Key, RetentionSkipReason.Dependent));
        execution.Skipped[0].Detail.Should().StartWith($"the tag pinned of its accessory {v1Sig.Digest} is immutable under rule");
    }

    [Test]
    public async Task Given_a_subject_retagged_after_the_plan_when_executed_then_it_is_skipped_and_keeps_its_signature()
    {
        var (v1, v1Sig) = await PushSigned("v1");
        var v2 = await PushLater(() => PushImage("v2"));
        var (snapshot, plan) = await Plan(KeepLatest(1));
        plan.DeleteOrder.Should().BeEquivalentTo([v1.Key, v1Sig.Key]);

        await Api.TagAsync(Repo, "hotfix", v1.Digest); // a user tags v1 between the plan and the deletion
        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, Store.Inner);

        execution.Deleted.Should().BeEmpty();
        execution.Skipped.Select(s => (s.Key, s.Reason)).Should().Equal((v1.Key, RetentionSkipReason.Changed), (v1Sig.Key, RetentionSkipReason.Dependent));
        Exists(v1).Should().BeTrue();
        Exists(v1Sig).Should().BeTrue();
        Exists(v2).Should().BeTrue();
    }

    [Test]
    public async Task Given_a_subject_pushed_again_after_the_plan_when_executed_then_it_is_skipped()
    {
        var content = Image(await NewBlob(), [await NewBlob()]);
        var v1 = await PushLater(() => PushBytes(content, "v1"));
        await PushLater(() => PushImage("v2"));
        var (snapshot, plan) = await Plan(KeepLatest(1));

        await PushLater(() => PushBytes(content)); // the same manifest pushed again by digest
        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, Store.Inner);

        execution.Skipped.Should().ContainSingle().Which.Should().Be(
            new SkippedArtifact(v1.Key, RetentionSkipReason.Changed, "it changed since the snapshot (tagged, pushed again or listed by a new index)"));
        Exists(v1).Should().BeTrue();
    }

    [Test]
    public async Task Given_retention_deleted_an_image_when_GC_runs_then_it_frees_that_images_blobs_and_only_those()
    {
        // §6: retention deletes artifacts; the next GC frees the blobs only they referenced
        var shared = await NewBlob();
        var oldConfig = await NewBlob();
        var oldLayer = await NewBlob();
        var old = await PushLater(() => PushBytes(Image(oldConfig, [oldLayer, shared]), "old"));
        var oldSig = await PushLater(() => PushCosignSignature(old.Digest));
        var kept = await PushLater(() => PushBytes(Image(NewBlob().Result, [shared]), "new"));
        var blobsBefore = Store.GetBlobs().Select(b => b.Digest).ToHashSet();

        await Run(KeepLatest(1));
        Store.GetBlobs().Select(b => b.Digest).Should().BeEquivalentTo(blobsBefore, "retention deletes no blob");
        var gc = await new GarbageCollector(Store.Inner, Time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });

        var oldBlobs = new[] { old, oldSig }.SelectMany(a => a.References).Select(r => r.Digest).Where(d => d != shared).ToHashSet();
        oldBlobs.Should().Contain([old.Digest, oldConfig, oldLayer]);
        gc.Plan.Artifacts.Should().BeEmpty("retention left no garbage artifact");
        var emptyConfig = Digest.Sha256Of("{}"u8.ToArray()); // the fixture uploads it, and nothing here references it
        gc.Plan.Blobs.Select(b => b.Digest).Should().BeEquivalentTo(oldBlobs.Append(emptyConfig));
        Store.GetBlobs().Select(b => b.Digest).Should().BeEquivalentTo(blobsBefore.Except(oldBlobs.Append(emptyConfig)));
        foreach (var reference in kept.References)
        {
            Store.HasBlobContent(reference.Digest).Should().BeTrue();
        }
    }

    [Test]
    public async Task Given_a_run_cancelled_as_its_second_deletion_starts_then_it_stops_cleanly_after_the_first_and_the_next_runs_finish_the_job()
    {
        // Stopping a run finishes the item in hand and exits cleanly; the next run carries on
        var (v1, v1Sig) = await PushSigned("v1");
        var (v2, v2Sig) = await PushSigned("v2");
        await PushLater(() => PushImage("v3"));
        var (snapshot, plan) = await Plan(KeepLatest(1));
        using var stop = new CancellationTokenSource();
        var store = new CrashingStore(Store.Inner) { OnMutation = n => { if (n == 2) { stop.Cancel(); } } }; // as the second deletion starts

        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, store, cancellationToken: stop.Token);

        plan.DeleteOrder.Should().HaveCount(4);
        execution.Stopped.Should().BeTrue();
        var first = execution.Deleted.Should().ContainSingle().Subject;
        first.Should().BeOneOf([v1.Key, v2.Key], "a subject goes before its signature, which is now an orphan accessory");
        var (orphan, other, otherSig) = first == v1.Key ? (v1Sig, v2, v2Sig) : (v2Sig, v1, v1Sig);

        var rest = await Run(KeepLatest(1));
        rest.Execution!.Deleted.Should().BeEquivalentTo([other.Key, otherSig.Key], "the next run deletes the rest of the plan");
        rest.Plan.Repositories.Single().Artifacts.Single(a => a.Digest == orphan.Digest).Reason.Should().Be(RetentionReason.OrphanAccessory);
        await new GarbageCollector(Store.Inner, Time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        Exists(orphan).Should().BeFalse("GC collects the orphan accessory the stop left");
    }

    [Test]
    public async Task Given_a_run_stopped_after_every_step_then_no_index_misses_a_child_and_a_second_retention_and_a_GC_finish_the_job()
    {
        // The crash order: subject before accessory, index before child; what an interrupted run leaves is garbage for GC
        // (orphan accessories, untagged children no index lists) or what the next retention run still deletes.
        var plan = await BuildCrashScenario();
        var expected = await FinalStateAfter(crashAt: int.MaxValue);
        expected.Should().Be("1 artifact(s), tags newest");
        for (var crashAt = 1; crashAt <= plan; crashAt++)
        {
            DisposeStores();
            await CreateApi();
            await BuildCrashScenario();
            var crashing = new CrashingStore(Store.Inner, crashAt);
            var act = () => new RetentionRunner(crashing, Time).RunAsync(KeepLatest(1));
            await act.Should().ThrowAsync<SimulatedCrashException>();

            var artifacts = Store.GetArtifacts();
            var present = artifacts.Select(a => a.Digest).ToHashSet();
            artifacts.Where(a => a.Children.Any(c => !present.Contains(c))).Should().BeEmpty($"crash at step {crashAt}: no index misses a child");

            (await FinalStateAfter(crashAt)).Should().Be(expected, $"crash at step {crashAt}");
        }
    }

    /// <summary>A signed image with a signed SBOM, an older signed multi-arch index, and the newest image; returns how many deletions the run makes.</summary>
    private async Task<int> BuildCrashScenario()
    {
        var old = await PushLater(() => PushImage("old"));
        var sbom = await PushLater(() => PushReferrer(old.Digest, MediaTypes.HarborSbom));
        await PushLater(() => PushReferrer(sbom.Digest, MediaTypes.NotationSignature));
        await PushLater(() => PushCosignSignature(old.Digest));
        var amd = await PushLater(() => PushImage());
        var arm = await PushLater(() => PushImage());
        var index = await PushLater(() => PushIndex("multi", amd.Digest, arm.Digest));
        await PushLater(() => PushCosignSignature(index.Digest));
        await PushLater(() => PushImage("newest"));
        Time.Advance(TimeSpan.FromHours(1));
        return 8;
    }

    /// <summary>Finishes what a run left (retention again, then GC with no time window) and describes what remains (digests differ between builds).</summary>
    private async Task<string> FinalStateAfter(int crashAt)
    {
        if (crashAt == int.MaxValue)
        {
            (await Run(KeepLatest(1))).Execution!.Deleted.Should().HaveCount(8);
        }

        await Run(KeepLatest(1));
        await new GarbageCollector(Store.Inner, Time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        var artifacts = Store.GetArtifacts();
        var tags = Store.GetTags().Select(t => t.Name).Order(StringComparer.Ordinal);
        return $"{artifacts.Count} artifact(s), tags {string.Join(",", tags)}";
    }
}
