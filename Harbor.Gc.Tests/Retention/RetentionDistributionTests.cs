using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// Retention carried out on a CNCF Distribution storage tree (DESIGN.md §6, §7, Distribution layout): an artifact goes by its
/// tags and its revision link; pull times are unknown there.
/// </summary>
public sealed class RetentionDistributionTests
{
    private const string App = "library/app";
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly ImmutabilityRules V1Immutable =
        new([new ImmutableTagRule("library", 0, RepositorySelector.Matching("**"), TagSelector.Matching("v1"))]);

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

    private static RetentionPolicy Policy(RetentionTemplate template, int k) =>
        new("library", [new RetentionRule(template, k, RepositorySelector.Matching("**"), TagSelector.Matching("**"))]);

    private sealed record Registry(
        (Digest Manifest, Digest Config, Digest[] Layers) V1, Digest V1Sig, (Digest Manifest, Digest Config, Digest[] Layers) V2, Digest V2Sig,
        Digest Multi, Digest Amd, Digest Arm, Digest OldMulti, Digest OldChild);

    /// <summary>
    /// v1 (10 days old) and v2 (5 days), each with a cosign signature; a multi-arch index "latest" (3 days) of amd and arm; an
    /// older index "old-multi" (8 days) of its own child and amd. The two images share the layer "base".
    /// </summary>
    private Registry Build()
    {
        var t = _tree;
        var v1 = t.Image(App, "v1", TimeSpan.FromDays(10), "v1", "base", "v1-only");
        var v2 = t.Image(App, "v2", TimeSpan.FromDays(5), "v2", "base", "v2-only");
        var amd = t.Image(App, "amd", TimeSpan.FromDays(8), null, "amd-layer").Manifest;
        var arm = t.Image(App, "arm", TimeSpan.FromDays(3), null, "arm-layer").Manifest;
        var oldChild = t.Image(App, "old-child", TimeSpan.FromDays(8), null, "old-child-layer").Manifest;
        var oldMulti = t.Push(App, Support.Manifests.Index([oldChild, amd]), TimeSpan.FromDays(8), "old-multi");
        var multi = t.Push(App, Support.Manifests.Index([amd, arm]), TimeSpan.FromDays(3), "latest");
        return new Registry(v1, t.CosignSignature(App, v1.Manifest, TimeSpan.FromDays(10)), v2, t.CosignSignature(App, v2.Manifest, TimeSpan.FromDays(5)), multi, amd, arm, oldMulti, oldChild);
    }

    private DistributionRegistryStore Store() => new(_tree.Root, _time) { GracePeriod = TimeSpan.Zero }; // the clock is fake: no wait

    [Test]
    public async Task Given_latestPushedK_2_when_run_on_the_Distribution_layout_then_the_old_image_goes_with_its_signature_and_the_old_index_with_its_own_child()
    {
        var r = Build();

        var result = await new RetentionRunner(Store(), _time).RunAsync(Policy(RetentionTemplate.LatestPushedK, 2));

        var deleted = result.Execution!.Deleted.Select(k => k.Digest).ToList();
        deleted.Should().BeEquivalentTo([r.V1.Manifest, r.OldMulti, r.V1Sig, r.OldChild]);
        deleted.IndexOf(r.V1.Manifest).Should().BeLessThan(deleted.IndexOf(r.V1Sig), "a subject goes before its signature");
        deleted.IndexOf(r.OldMulti).Should().BeLessThan(deleted.IndexOf(r.OldChild), "an index goes before its child");
        foreach (var gone in new[] { r.V1.Manifest, r.V1Sig, r.OldMulti, r.OldChild })
        {
            _tree.HasRevision(App, gone).Should().BeFalse();
        }

        foreach (var kept in new[] { r.V2.Manifest, r.V2Sig, r.Multi, r.Amd, r.Arm })
        {
            _tree.HasRevision(App, kept).Should().BeTrue();
        }

        Directory.Exists(_tree.TagFolder(App, "v1")).Should().BeFalse();
        Directory.Exists(_tree.TagFolder(App, $"sha256-{r.V1.Manifest.Hex}.sig")).Should().BeFalse();
        Directory.Exists(_tree.TagFolder(App, "old-multi")).Should().BeFalse();
        _tree.HasBlob(r.V1.Config).Should().BeTrue("retention deletes no blob");
        result.Warnings.Should().Equal([RetentionRunner.RePushUnknownWarning], "no rule reads pull times; the layout cannot tell a re-push from a push");
    }

    [Test]
    public async Task Given_retention_ran_when_GC_runs_then_it_frees_the_blobs_of_what_retention_deleted_and_only_those()
    {
        var r = Build();
        await new RetentionRunner(Store(), _time).RunAsync(Policy(RetentionTemplate.LatestPushedK, 2));

        var gc = await new GarbageCollector(Store(), _time).RunAsync(new GcOptions { TimeWindow = TimeSpan.Zero });

        gc.Plan.Artifacts.Should().BeEmpty("retention left no garbage artifact");
        var freed = gc.Plan.Blobs.Select(b => b.Digest).ToHashSet();
        freed.Should().Contain([r.V1.Manifest, r.V1.Config, r.V1.Layers[1], r.V1Sig, r.OldMulti, r.OldChild]);
        freed.Should().NotContain(r.V1.Layers[0], "the layer 'base' is shared with v2");
        freed.Should().NotIntersectWith([r.V2.Manifest, r.V2.Config, r.V2.Layers[1], r.V2Sig, r.Multi, r.Amd, r.Arm]);
        freed.Should().HaveCount(10, "v1's manifest, config and own layer; the same three of its signature and of the old index's child; the old index");
        foreach (var digest in freed)
        {
            _tree.HasBlob(digest).Should().BeFalse();
        }
    }

    [Test]
    public async Task Given_an_immutable_v1_when_a_policy_would_delete_it_then_v1_and_its_signature_survive_on_the_Distribution_layout()
    {
        var r = Build();

        var result = await new RetentionRunner(Store(), _time).RunAsync(Policy(RetentionTemplate.LatestPushedK, 0), V1Immutable);

        _tree.HasRevision(App, r.V1.Manifest).Should().BeTrue();
        _tree.HasRevision(App, r.V1Sig).Should().BeTrue();
        _tree.HasRevision(App, r.V2.Manifest).Should().BeFalse();
        result.Execution!.Skipped.Should().BeEmpty("the plan already retains them");
    }

    [Test]
    public async Task Given_a_subject_retagged_after_the_plan_when_executed_on_the_Distribution_layout_then_it_is_skipped_with_its_signature()
    {
        var r = Build();
        var store = Store();
        var snapshot = await RetentionSnapshot.ReadAsync(store);
        var plan = RetentionEvaluator.Evaluate(Policy(RetentionTemplate.LatestPushedK, 2), snapshot, _time);
        plan.DeleteOrder.Select(k => k.Digest).Should().Contain(r.V1.Manifest);

        _tree.Tag(App, "hotfix", r.V1.Manifest, TimeSpan.Zero); // a client tags v1 between the plan and the deletion
        var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, store);

        execution.Skipped.Select(s => (s.Key.Digest, s.Reason)).Should().Equal((r.V1.Manifest, RetentionSkipReason.Changed), (r.V1Sig, RetentionSkipReason.Dependent));
        _tree.HasRevision(App, r.V1.Manifest).Should().BeTrue();
        _tree.HasRevision(App, r.V1Sig).Should().BeTrue();
        Directory.Exists(_tree.TagFolder(App, "v1")).Should().BeTrue();
        execution.Deleted.Select(k => k.Digest).Should().BeEquivalentTo([r.OldMulti, r.OldChild]);
    }

    // Harbor's src/pkg/retention/policy/rule/lastx/evaluator.go, Process, reads the push time only: lastXDays is not a
    // pull-based rule, so the Distribution layout's missing pull times do not concern it.
    [Test]
    public async Task Given_a_lastXDays_rule_on_the_Distribution_layout_when_run_then_it_gives_no_pull_time_warning()
    {
        // Given the Distribution layout and a lastXDays policy
        Build();

        // When it is run
        var result = await new RetentionRunner(Store(), _time).RunAsync(Policy(RetentionTemplate.LastXDays, 10), dryRun: true);

        // Then no warning about pull times is given
        result.Warnings.Should().NotContain(RetentionRunner.PullTimesUnknownWarning);
    }

    [Test]
    public async Task Given_a_pull_based_rule_on_the_Distribution_layout_when_run_then_it_warns_and_treats_every_artifact_as_never_pulled()
    {
        var r = Build();

        var result = await new RetentionRunner(Store(), _time).RunAsync(Policy(RetentionTemplate.LatestPulledN, 10), dryRun: true);

        result.Warnings.Should().ContainSingle().Which.Should().Be(RetentionRunner.PullTimesUnknownWarning);
        result.Plan.Retained.Should().Be(0, "never pulled: a pull rule retains nothing, and everything else follows the candidates");
        result.Plan.DeleteOrder.Select(k => k.Digest).Should().Contain([r.V1.Manifest, r.V2.Manifest, r.Multi, r.OldMulti]);
        result.Plan.ArtifactsToDelete.Should().Be(9);
        _tree.HasRevision(App, r.V1.Manifest).Should().BeTrue("a dry run deletes nothing");
    }
}
