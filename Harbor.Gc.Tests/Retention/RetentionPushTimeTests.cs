using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Tests.Registry;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// Retention's push time on the in-memory and LiteDB stores (DESIGN.md §6): the later of the artifact's first push and the last
/// time a tag was created on it or moved to it; pushing the same manifest again to a tag it already has is not a push.
/// </summary>
public sealed class RetentionPushTimeTests(StoreKind kind) : RegistryApiFixture(kind)
{
    private static RetentionPolicy PushedWithin(int days) =>
        new("library", [new RetentionRule(RetentionTemplate.NDaysSinceLastPush, days, RepositorySelector.Matching("**"), TagSelector.Matching("**"))]);

    private async Task<RetentionPlan> Evaluate(RetentionPolicy policy) =>
        RetentionEvaluator.Evaluate(policy, await RetentionSnapshot.ReadAsync(Store.Inner), Time);

    // Harbor's src/controller/artifact/controller.go, ensureArtifact, returns an existing artifact untouched (its push_time
    // stays), and src/controller/tag/controller.go, Ensure, returns a tag already on the artifact untouched (its push_time
    // stays): a re-push of an unchanged manifest to its tag does not make it recent.
    [Test]
    public async Task Given_an_old_image_pushed_again_to_its_tag_when_a_day_rule_runs_then_it_is_not_retained_as_Harbors_ensureArtifact_and_tag_Ensure()
    {
        // Given an image pushed as v1, and the same manifest pushed again to v1 twenty days later
        var content = Image(await NewBlob(), [await NewBlob()]);
        var first = await PushBytes(content, "v1");
        var firstPush = Time.GetUtcNow();
        Time.Advance(TimeSpan.FromDays(20));
        await PushBytes(content, "v1");

        // When nDaysSinceLastPush(7) is evaluated
        var plan = await Evaluate(PushedWithin(7));

        // Then the store keeps the first push apart from the last touch (which the GC window reads), the tag keeps its push
        // time, and the image is not retained
        var stored = Store.GetArtifact(first.Key)!;
        stored.FirstPushedAt.Should().Be(firstPush);
        stored.PushedAt.Should().Be(Time.GetUtcNow(), "the GC time window reads the last touch");
        Store.GetTags().Single(t => t.Name == "v1").PushedAt.Should().Be(firstPush);
        plan.Of(first.Digest).Outcome.Should().Be(RetentionOutcome.Deleted);
    }

    // Harbor's src/pkg/retention/dep/client.go, GetCandidates: PushedTime is the latest of the artifact's push time and its
    // tags' push times; src/controller/tag/controller.go, Ensure, sets a moved tag's push_time to now.
    [Test]
    public async Task Given_a_tag_moved_onto_an_old_image_when_a_day_rule_runs_then_it_is_retained_as_Harbors_GetCandidates()
    {
        // Given two images pushed twenty days ago as v1 and v2, and v2 moved onto v1's manifest now
        var content = Image(await NewBlob(), [await NewBlob()]);
        var moved = await PushBytes(content, "v1");
        var left = await PushImage("v2");
        Time.Advance(TimeSpan.FromDays(20));
        await PushBytes(content, "v2");

        // When nDaysSinceLastPush(7) is evaluated
        var plan = await Evaluate(PushedWithin(7));

        // Then the image the tag moved onto is recent, the other (now untagged) is not
        Store.GetArtifact(moved.Key)!.FirstPushedAt.Should().Be(Time.GetUtcNow() - TimeSpan.FromDays(20));
        plan.Of(moved.Digest).Outcome.Should().Be(RetentionOutcome.Retained);
        plan.Of(left.Digest).Outcome.Should().Be(RetentionOutcome.Deleted);
    }

    // Harbor's src/controller/artifact/controller.go, ensureArtifact, leaves an existing artifact's row as it is, pull_time
    // included: a re-push does not make a pulled image look never pulled to a pull rule.
    [Test]
    public async Task Given_a_pulled_image_pushed_again_when_it_is_read_then_it_keeps_its_last_pull_as_Harbors_ensureArtifact()
    {
        // Given an image pushed as v1 and pulled, then the same manifest pushed again to v1 a day later
        var content = Image(await NewBlob(), [await NewBlob()]);
        var pushed = await PushBytes(content, "v1");
        (await Store.Inner.RecordPullAsync(pushed.Key, "v1")).Should().BeTrue();
        var pulledAt = Time.GetUtcNow();
        Time.Advance(TimeSpan.FromDays(1));
        await PushBytes(content, "v1");

        // Then the artifact still carries its last pull
        Store.GetArtifact(pushed.Key)!.PulledAt.Should().Be(pulledAt);
    }
}
