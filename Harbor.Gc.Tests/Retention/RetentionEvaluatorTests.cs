using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using static Harbor.Gc.Tests.Retention.RetentionFixture;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// The evaluator against DESIGN.md §6 and Harbor's rule evaluators (src/pkg/retention/policy/rule/*): each test states the
/// Harbor behaviour it encodes.
/// </summary>
public sealed class RetentionEvaluatorTests
{
    private const string Repo = "library/app";

    // latestPushedK (Harbor's latestps): sort by push time, newest first, keep the first k; k = 0 keeps none.
    [TestCase(0, new string[0])]
    [TestCase(1, new[] { "a1" })]
    [TestCase(3, new[] { "a1", "a2", "a3" })]
    [TestCase(10, new[] { "a1", "a2", "a3", "a4" })]
    public void Given_latestPushedK_when_evaluated_then_the_k_most_recently_pushed_are_retained(int k, string[] retained)
    {
        var fixture = new RetentionFixture();
        for (var i = 1; i <= 4; i++)
        {
            fixture.Image(Repo, $"a{i}", pushedDaysAgo: i, pulledDaysAgo: null, $"v{i}");
        }

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, k)));

        plan.RetainedDigests().Should().BeEquivalentTo(retained.Select(D));
        plan.Repositories.Single().Should().Match<RepositoryRetention>(r => r.Total == 4 && r.Retained == retained.Length && r.Deleted == 4 - retained.Length);
    }

    [Test]
    public void Given_latestPushedK_with_equal_push_times_when_evaluated_then_the_tie_breaks_by_digest()
    {
        var fixture = new RetentionFixture();
        var x = fixture.Image(Repo, "x", 1, null, "x");
        var y = fixture.Image(Repo, "y", 1, null, "y");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        plan.RetainedDigests().Should().Equal(x.CompareTo(y) < 0 ? x : y);
    }

    // latestPulledN: newest pull first; never pulled sorts last and is never retained (DESIGN.md §6, even when n exceeds
    // the number of pulled candidates — Harbor's latestpl would take it then, DESIGN.md deliberately does not); artifact and
    // tag pull times both count, the later wins.
    [TestCase(1, new[] { "p1" })]
    [TestCase(2, new[] { "p1", "p2" })]
    [TestCase(5, new[] { "p1", "p2" })]
    [TestCase(0, new string[0])]
    public void Given_latestPulledN_when_evaluated_then_the_n_most_recently_pulled_are_retained_and_never_pulled_never(int n, string[] retained)
    {
        var fixture = new RetentionFixture();
        fixture.Image(Repo, "p1", 30, 1, "p1");
        var p2 = fixture.Image(Repo, "p2", 30, null, "p2");
        fixture.Snapshot.OnTag(new Tag(R(Repo), "p2-alias", p2, Now.AddDays(-30), Now.AddDays(-2)));
        fixture.Image(Repo, "never", 0.5, null, "never");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPulledN, n)));

        plan.RetainedDigests().Should().BeEquivalentTo(retained.Select(D));
        plan.Of(D("never")).Reason.Should().Be(RetentionReason.NotRetained);
    }

    // Harbor's src/pkg/retention/policy/rule/daysps/evaluator.go, Process: retained when PushedTime (Unix seconds) >=
    // (now - d days).Unix(): pushed exactly d days ago is retained.
    [TestCase(7, 6.99, true)]
    [TestCase(7, 7.0, true, TestName = "Given_nDaysSinceLastPush_when_pushed_exactly_d_days_ago_then_retained_as_Harbors_daysps_Process")]
    [TestCase(7, 8, false)]
    [TestCase(0, 0.01, false, TestName = "Given_nDaysSinceLastPush_0_when_evaluated_then_nothing_pushed_before_now_is_kept")]
    public void Given_nDaysSinceLastPush_when_evaluated_then_artifacts_pushed_within_d_days_are_retained(int d, double pushedDaysAgo, bool kept)
    {
        var fixture = new RetentionFixture();
        var a = fixture.Image(Repo, "a", pushedDaysAgo, null, "v1");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.NDaysSinceLastPush, d)));

        plan.Of(a).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
    }

    // Harbor's src/pkg/retention/policy/rule/dayspl/evaluator.go, Process: retained when PulledTime (Unix seconds) >=
    // (now - d days).Unix(); never pulled is never retained (DESIGN.md §6).
    [TestCase(3, 2.5, true)]
    [TestCase(3, 3.0, true, TestName = "Given_nDaysSinceLastPull_when_pulled_exactly_d_days_ago_then_retained_as_Harbors_dayspl_Process")]
    [TestCase(3, 3.5, false)]
    [TestCase(3, null, false, TestName = "Given_nDaysSinceLastPull_when_never_pulled_then_deleted_even_if_pushed_now")]
    public void Given_nDaysSinceLastPull_when_evaluated_then_artifacts_pulled_within_d_days_are_retained(int d, double? pulledDaysAgo, bool kept)
    {
        var fixture = new RetentionFixture();
        var a = fixture.Image(Repo, "a", 0, pulledDaysAgo, "v1");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.NDaysSinceLastPull, d)));

        plan.Of(a).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
    }

    // Harbor's daysps/dayspl Process compare whole Unix seconds: with now at 12:00:00.700, the cutoff is second 12:00:00
    // (d days before); a push or pull at 12:00:00.200 (0.5 s before the exact cutoff) is in that second, so retained; one
    // at 11:59:59.900 is not.
    [TestCase(RetentionTemplate.NDaysSinceLastPush, 200, true)]
    [TestCase(RetentionTemplate.NDaysSinceLastPush, -100, false)]
    [TestCase(RetentionTemplate.NDaysSinceLastPull, 200, true)]
    [TestCase(RetentionTemplate.NDaysSinceLastPull, -100, false)]
    public void Given_a_day_rule_when_the_time_is_in_the_cutoffs_second_then_it_is_retained_as_Harbors_daysps_and_dayspl_compare_Unix_seconds(
        RetentionTemplate template, int millisecondsAfterCutoffSecond, bool kept)
    {
        // Given now at a fractional second and an artifact pushed or pulled near d days before
        var fixture = new RetentionFixture();
        fixture.Time.Advance(TimeSpan.FromMilliseconds(700));
        var at = Now.AddDays(-5).AddMilliseconds(millisecondsAfterCutoffSecond);
        var a = template == RetentionTemplate.NDaysSinceLastPush
            ? fixture.ImageAt(Repo, "a", at, null, "v1")
            : fixture.ImageAt(Repo, "a", Now.AddDays(-50), at, "v1");

        // When a 5-day rule is evaluated
        var plan = fixture.Evaluate(Policy(Rule(template, 5)));

        // Then it is retained exactly when its Unix second is at or after the cutoff's
        plan.Of(a).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
    }

    // Harbor's src/pkg/retention/policy/rule/lastx/evaluator.go, Process: time.Unix(PushedTime, 0).After(now - x days), the
    // push time truncated to its second and compared strictly with the exact cutoff: pushed exactly x days ago is not kept,
    // nor is a push 0.2 s after a cutoff at .700 (its second starts before the cutoff); a push a second later is.
    [TestCase(0, 0, false, TestName = "Given_lastXDays_when_pushed_exactly_x_days_ago_then_deleted_as_Harbors_lastx_After")]
    [TestCase(700, 900, false, TestName = "Given_lastXDays_when_pushed_in_the_cutoffs_second_after_it_then_deleted_as_Harbors_lastx_truncates_to_seconds")]
    [TestCase(700, 1000, true)]
    [TestCase(0, 1000, true)]
    public void Given_lastXDays_near_its_cutoff_when_evaluated_then_it_follows_Harbors_lastx(int nowMilliseconds, int pushedMillisecondsAfter, bool kept)
    {
        // Given now (possibly at a fractional second) and an image pushed near x days before
        var fixture = new RetentionFixture();
        fixture.Time.Advance(TimeSpan.FromMilliseconds(nowMilliseconds));
        var a = fixture.ImageAt(Repo, "a", Now.AddDays(-5).AddMilliseconds(pushedMillisecondsAfter), null, "v1");

        // When lastXDays(5) is evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LastXDays, 5)));

        // Then it is retained only when its push second is strictly after the exact cutoff
        plan.Of(a).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
    }

    // Harbor's src/pkg/retention/dep/client.go, GetCandidates: PushedTime = the later of the artifact's push time and its tags'
    // push times; the artifact's push time is its first push, not its last touch (ensureArtifact leaves it on a re-push).
    [Test]
    public void Given_first_push_last_touch_and_tag_times_when_a_day_rule_runs_then_push_time_is_the_later_of_first_push_and_tags_as_Harbors_GetCandidates()
    {
        // Given an image first pushed 30 days ago and touched yesterday (pushed again), and one first pushed 30 days ago that
        // a tag moved onto yesterday
        var fixture = new RetentionFixture();
        var touched = D("touched");
        fixture.Snapshot.OnArtifact(new Artifact
        {
            Repository = R(Repo), Digest = touched, MediaType = MediaTypes.OciManifest, Kind = ManifestKind.OciManifest,
            PushedAt = Now.AddDays(-1), FirstPushedAt = Now.AddDays(-30),
        });
        fixture.Snapshot.OnTag(new Tag(R(Repo), "v1", touched, Now.AddDays(-30)));
        var retagged = fixture.Image(Repo, "retagged", 30, null, "v1-old");
        fixture.Snapshot.OnTag(new Tag(R(Repo), "v2", retagged, Now.AddDays(-1)));

        // When nDaysSinceLastPush(7) is evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.NDaysSinceLastPush, 7)));

        // Then the re-pushed image is old, the re-tagged one recent
        plan.Of(touched).Outcome.Should().Be(RetentionOutcome.Deleted);
        plan.Of(retagged).Outcome.Should().Be(RetentionOutcome.Retained);
    }

    // latestActiveK: the k most recent by the later of push and pull (Harbor's latestk/evaluator.go, activeTime).
    [Test]
    public void Given_latestActiveK_when_evaluated_then_recency_is_the_later_of_push_and_pull()
    {
        var fixture = new RetentionFixture();
        var oldButPulled = fixture.Image(Repo, "old", 40, 0.5, "old");
        fixture.Image(Repo, "mid", 2, null, "mid");
        var fresh = fixture.Image(Repo, "fresh", 1, null, "fresh");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestActiveK, 2)));

        plan.RetainedDigests().Should().BeEquivalentTo([oldButPulled, fresh]);
    }

    // Harbor's src/pkg/retention/policy/rule/lastx/evaluator.go, Process: reads a.PushedTime only; a recent pull does not
    // keep an old image.
    [Test]
    public void Given_lastXDays_when_an_old_image_was_pulled_recently_then_it_is_not_retained_as_Harbors_lastx_reads_push_time_only()
    {
        // Given an image pushed 40 days ago and pulled yesterday, one pushed yesterday, one stale
        var fixture = new RetentionFixture();
        var pulled = fixture.Image(Repo, "pulled", 40, 1, "a");
        var pushed = fixture.Image(Repo, "pushed", 1, null, "b");
        var stale = fixture.Image(Repo, "stale", 40, 20, "c");

        // When lastXDays(7) is evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LastXDays, 7)));

        // Then only the recently pushed image is retained
        plan.RetainedDigests().Should().BeEquivalentTo([pushed]);
        plan.Of(pulled).Reason.Should().Be(RetentionReason.NotRetained);
        plan.Of(stale).Reason.Should().Be(RetentionReason.NotRetained);
    }

    [Test]
    public void Given_always_when_evaluated_then_every_selected_artifact_is_retained()
    {
        var fixture = new RetentionFixture();
        var a = fixture.Image(Repo, "a", 400, null, "a");
        var b = fixture.Image(Repo, "b", 1, null);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.Always)));

        plan.RetainedDigests().Should().BeEquivalentTo([a, b]);
        plan.DeleteOrder.Should().BeEmpty();
    }

    // Harbor's doublestar tag selector: "matches" selects an artifact when any of its tags matches, and the retained
    // artifact keeps all its tags; "excludes" selects it when any of its tags does not match.
    [TestCase("matches", "release-*", true)]
    [TestCase("matches", "nightly-*", false)]
    [TestCase("excludes", "dev-*", true, TestName = "Given_excludes_when_one_tag_of_several_is_not_excluded_then_the_artifact_is_selected")]
    [TestCase("excludes", "{dev,release}-*", false)]
    public void Given_an_artifact_with_several_tags_when_one_tag_matches_then_the_artifact_follows_Harbors_selector(string decoration, string pattern, bool kept)
    {
        var fixture = new RetentionFixture();
        var a = fixture.Image(Repo, "a", 100, null, "dev-1", "release-1");
        var tags = decoration == "matches" ? TagSelector.Matching(pattern, untagged: false) : TagSelector.Excluding(pattern);
        var rule = new RetentionRule(RetentionTemplate.Always, 0, RepositorySelector.Matching("**"), tags);

        var plan = fixture.Evaluate(Policy(rule));

        plan.Of(a).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
        plan.Of(a).Tags.Should().Equal("dev-1", "release-1");
    }

    // The "untagged" extra: with "matches" true puts untagged artifacts in the rule's scope; with "excludes" true leaves
    // them out (Harbor's selector: untagged is selected when untagged for matches, when !untagged for excludes).
    [TestCase("matches", true, true)]
    [TestCase("matches", false, false)]
    [TestCase("excludes", false, true)]
    [TestCase("excludes", true, false)]
    public void Given_the_untagged_extra_when_evaluated_then_untagged_artifacts_are_in_scope_as_Harbor_decides(string decoration, bool untagged, bool kept)
    {
        var fixture = new RetentionFixture();
        var bare = fixture.Image(Repo, "bare", 100, null);
        var tags = decoration == "matches" ? TagSelector.Matching("**", untagged) : TagSelector.Excluding("nothing-matches-this", untagged);

        var plan = fixture.Evaluate(Policy(new RetentionRule(RetentionTemplate.Always, 0, RepositorySelector.Matching("**"), tags)));

        plan.Of(bare).Outcome.Should().Be(kept ? RetentionOutcome.Retained : RetentionOutcome.Deleted);
    }

    // Harbor's src/lib/selector/selectors/doublestar/selector.go: New() reads extras "{}" as untagged = false, and
    // tagSelectMatch() then leaves an untagged artifact out of a "matches" rule, so an "always" rule with "{}" does not keep it.
    [Test]
    public void Given_an_always_rule_whose_extras_is_an_empty_object_when_evaluated_then_untagged_artifacts_are_not_retained()
    {
        // Given a tagged and an untagged image, and Harbor's JSON for "always" matching ** with extras "{}"
        var fixture = new RetentionFixture();
        var tagged = fixture.Image(Repo, "tagged", 100, null, "v1");
        var bare = fixture.Image(Repo, "bare", 100, null);
        var policy = RetentionPolicyJson.Parse(RetentionPolicyJsonTests.Policy(RetentionPolicyJsonTests.Rule("always", "{}", extras: "{}")));

        // When the policy is evaluated
        var plan = fixture.Evaluate(policy);

        // Then the tagged image is retained and the untagged one, outside the rule's scope, is deleted
        plan.Of(tagged).Outcome.Should().Be(RetentionOutcome.Retained);
        plan.Of(bare).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Deleted && a.Reason == RetentionReason.NotRetained);
    }

    // Repository selectors match the path below the project (Harbor matches "library/team/api" as "team/api"); a
    // repository no enabled rule selects is untouched; other projects are out of scope.
    [Test]
    public void Given_repository_selectors_when_evaluated_then_only_selected_repositories_are_planned()
    {
        var fixture = new RetentionFixture();
        fixture.Image("library/a", "in-a", 100, null);
        fixture.Image("library/b", "in-b", 100, null);
        fixture.Image("library/c", "in-c", 100, null);
        fixture.Image("library/team/api", "in-api", 100, null);
        fixture.Image("other/a", "other-a", 100, null);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0, repositories: "{a,b,team/**}")));

        plan.Repositories.Select(r => r.Repository.Value).Should().Equal("library/a", "library/b", "library/team/api");
        plan.Untouched.Select(r => r.Value).Should().Equal("library/c");
        plan.DeletedDigests().Should().BeEquivalentTo([D("in-a"), D("in-b"), D("in-api")]);
    }

    [Test]
    public void Given_a_repoExcludes_selector_when_evaluated_then_the_excluded_repository_is_untouched()
    {
        var fixture = new RetentionFixture();
        fixture.Image("library/keep", "k", 100, null);
        var gone = fixture.Image("library/drop", "d", 100, null);
        var rule = new RetentionRule(RetentionTemplate.LatestPushedK, 0, RepositorySelector.Excluding("keep"), TagSelector.Matching("**", true));

        var plan = fixture.Evaluate(Policy(rule));

        plan.Untouched.Select(r => r.Value).Should().Equal("library/keep");
        plan.DeletedDigests().Should().BeEquivalentTo([gone]);
    }

    [Test]
    public void Given_several_rules_when_evaluated_then_an_artifact_is_retained_if_any_rule_retains_it_and_the_plan_names_them()
    {
        var fixture = new RetentionFixture();
        var newest = fixture.Image(Repo, "newest", 1, null, "dev-9");
        var release = fixture.Image(Repo, "release", 50, null, "release-1");
        var both = fixture.Image(Repo, "both", 0.5, null, "release-2");
        var neither = fixture.Image(Repo, "neither", 60, null, "dev-1");

        var plan = fixture.Evaluate(Policy(
            Rule(RetentionTemplate.LatestPushedK, 2),
            Rule(RetentionTemplate.Always, tags: "release-*", untagged: false)));

        plan.Of(newest).RetainedBy.Should().Equal(0);
        plan.Of(release).RetainedBy.Should().Equal(1);
        plan.Of(both).RetainedBy.Should().Equal(0, 1);
        plan.Of(neither).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Deleted && a.Reason == RetentionReason.NotRetained);
    }

    [Test]
    public void Given_a_disabled_rule_when_evaluated_then_it_is_skipped_and_selects_no_repository()
    {
        var fixture = new RetentionFixture();
        fixture.Image("library/a", "a", 100, null);
        var b = fixture.Image("library/b", "b", 100, null);
        var disabledAlways = Rule(RetentionTemplate.Always) with { Disabled = true };

        var plan = fixture.Evaluate(Policy(disabledAlways, Rule(RetentionTemplate.LatestPushedK, 0, repositories: "b")));

        plan.Untouched.Select(r => r.Value).Should().Equal("library/a");
        plan.DeletedDigests().Should().BeEquivalentTo([b]);
    }

    // DESIGN.md §7: immutable artifacts are always retained, and their hard accessories are immutable with them.
    [Test]
    public void Given_an_immutable_tag_when_no_rule_retains_the_artifact_then_it_and_its_signature_are_retained()
    {
        var fixture = new RetentionFixture();
        var image = fixture.Image(Repo, "image", 100, null, "prod-1");
        var signature = fixture.Signature(Repo, "image-sig", image);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0)), Immutable("prod-*"));

        plan.Of(image).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.Immutable && a.ImmutableBy!.Contains("tag prod-1"));
        plan.Of(signature).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.Immutable && a.Cause == image);
        plan.DeleteOrder.Should().BeEmpty();
    }

    // DESIGN.md §7: deleting a subject deletes its hard accessories, so an accessory with an immutable tag of its own pins
    // its subject (retention cannot delete an immutable artifact, even by cascade).
    [Test]
    public void Given_an_accessory_with_an_immutable_user_tag_when_its_subject_is_not_retained_then_the_subject_is_kept()
    {
        var fixture = new RetentionFixture();
        var image = fixture.Image(Repo, "image", 100, null);
        var sbom = fixture.Signature(Repo, "sbom", image);
        fixture.Snapshot.OnTag(new Tag(R(Repo), "prod-sbom", sbom, Now.AddDays(-5)));

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0)), Immutable("prod-*"));

        plan.DeleteOrder.Should().BeEmpty();
        plan.Of(image).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.Immutable && a.ImmutableBy!.Contains("accessory"));
    }

    // goharbor/harbor#18014: a "**" immutable rule must not match a signature's tag-scheme tag, so an untagged signed image
    // is deleted (with its signature) rather than pinned by its signature.
    [Test]
    public void Given_a_catch_all_immutable_rule_when_an_untagged_image_is_signed_then_the_tag_scheme_tag_does_not_pin_it()
    {
        var fixture = new RetentionFixture();
        var image = fixture.Image(Repo, "image", 100, null);
        var signature = fixture.Signature(Repo, "image-sig", image);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0)), Immutable("**"));

        plan.DeleteOrder.Select(k => k.Digest).Should().Equal(signature, image);
        plan.Of(signature).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.AccessoryOfDeleted && a.Cause == image && a.Tags.IsEmpty);
    }

    // goharbor/harbor#16335: an "excludes" immutable rule never makes an untagged artifact immutable.
    [Test]
    public void Given_an_excludes_immutable_rule_when_an_artifact_is_untagged_then_it_is_not_immutable()
    {
        var fixture = new RetentionFixture();
        var bare = fixture.Image(Repo, "bare", 100, null);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0)), Immutable("dev-*", decoration: SelectorDecoration.Excludes));

        plan.DeletedDigests().Should().BeEquivalentTo([bare]);
    }

    // DESIGN.md §4/§7: a hard accessory is not a candidate; it is retained with its subject and deleted with it, recursively.
    [Test]
    public void Given_a_signed_image_and_a_signature_of_its_sbom_when_evaluated_then_accessories_follow_their_subject()
    {
        var fixture = new RetentionFixture();
        var kept = fixture.Image(Repo, "kept", 1, null, "v2");
        var keptSig = fixture.Signature(Repo, "kept-sig", kept);
        var old = fixture.Image(Repo, "old", 90, null, "v1");
        var sbom = fixture.Signature(Repo, "old-sbom", old);
        var sbomSig = fixture.Signature(Repo, "old-sbom-sig", sbom);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        plan.Of(keptSig).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Retained && a.Reason == RetentionReason.AccessoryOfRetained);
        plan.DeleteOrder.Select(k => k.Digest).Should().Equal(sbomSig, sbom, old);
        plan.Of(sbomSig).Cause.Should().Be(sbom);
        plan.Repositories.Single().Should().Match<RepositoryRetention>(r => r.Total == 2 && r.Retained == 1 && r.Deleted == 1 && r.ArtifactsDeleted == 3);
    }

    // Harbor's src/pkg/retention/job.go, saveRetainNum: total = len(allCandidates), retained = total - deleted; the
    // candidates come from src/pkg/artifact/dao/dao.go (the "both" and "notacc" filters: no accessory, no untagged child).
    [Test]
    public void Given_accessories_and_index_children_when_evaluated_then_the_repository_counts_are_over_candidates_as_Harbors_saveRetainNum()
    {
        // Given a kept and a deleted image each signed, and a deleted index with two untagged children
        var fixture = new RetentionFixture();
        var kept = fixture.Image(Repo, "kept", 1, null, "v2");
        var keptSig = fixture.Signature(Repo, "kept-sig", kept);
        var old = fixture.Image(Repo, "old", 90, null, "v1");
        var oldSig = fixture.Signature(Repo, "old-sig", old);
        var amd = fixture.Image(Repo, "amd", 80, null);
        var arm = fixture.Image(Repo, "arm", 80, null);
        var index = fixture.Index(Repo, "index", 80, [amd, arm], "multi");

        // When latestPushedK(1) is evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        // Then three candidates are counted (one retained, two deleted), and the five deleted artifacts are counted apart
        var repository = plan.Repositories.Single();
        (repository.Total, repository.Retained, repository.Deleted, repository.ArtifactsDeleted).Should().Be((3, 1, 2, 5));
        (plan.Total, plan.Retained, plan.Deleted, plan.ArtifactCount, plan.ArtifactsToDelete).Should().Be((3, 1, 2, 7, 5));
        repository.Artifacts.Where(a => a.Candidate).Select(a => a.Digest).Should().BeEquivalentTo([kept, old, index]);
        plan.Of(keptSig).Candidate.Should().BeFalse();
        plan.Of(oldSig).Cause.Should().Be(old, "an accessory is listed under its subject");
        plan.Of(amd).Cause.Should().Be(index, "an index child is listed under its index");
    }

    [Test]
    public void Given_a_soft_accessory_when_evaluated_then_it_is_a_candidate_of_its_own()
    {
        var fixture = new RetentionFixture();
        var subject = fixture.Image(Repo, "subject", 1, null, "v1");
        var soft = fixture.Signature(Repo, "soft", subject, ReferenceStrength.Soft);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        plan.Of(subject).Outcome.Should().Be(RetentionOutcome.Retained);
        plan.Of(soft).Reason.Should().Be(RetentionReason.NotRetained);
    }

    // DESIGN.md §6/§7: untagged index children are not candidates; a retained index keeps them; a deleted index takes its
    // untagged children that no other (kept) index references; the index is deleted before its children.
    [Test]
    public void Given_indexes_sharing_children_when_one_is_deleted_then_only_its_unshared_untagged_children_go()
    {
        var fixture = new RetentionFixture();
        var shared = fixture.Image(Repo, "shared", 50, null);
        var onlyOld = fixture.Image(Repo, "only-old", 50, null);
        var taggedChild = fixture.Image(Repo, "tagged-child", 50, null, "amd64");
        var onlyNew = fixture.Image(Repo, "only-new", 1, null);
        var oldIndex = fixture.Index(Repo, "old-index", 50, [shared, onlyOld, taggedChild], "v1");
        var newIndex = fixture.Index(Repo, "new-index", 1, [shared, onlyNew], "v2");
        var childSig = fixture.Signature(Repo, "only-old-sig", onlyOld);

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        plan.Of(newIndex).Reason.Should().Be(RetentionReason.RetainedByRule);
        plan.Of(shared).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Retained && a.Reason == RetentionReason.ChildKept);
        plan.Of(onlyNew).Outcome.Should().Be(RetentionOutcome.Retained);
        plan.Of(taggedChild).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Deleted && a.Reason == RetentionReason.NotRetained && a.Cause == oldIndex,
            "a tagged child is a candidate of its own (DESIGN.md §6): no rule retains it and its only index goes");
        plan.Of(onlyOld).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.ChildOfDeleted && a.Cause == oldIndex);
        var order = plan.DeleteOrder.Select(k => k.Digest).ToList();
        order.Should().BeEquivalentTo([oldIndex, childSig, onlyOld, taggedChild]);
        order.IndexOf(oldIndex).Should().BeLessThan(order.IndexOf(taggedChild), "an index goes before its children");
        order.IndexOf(oldIndex).Should().BeLessThan(order.IndexOf(onlyOld), "an index goes before its children");
        order.IndexOf(childSig).Should().BeLessThan(order.IndexOf(onlyOld), "an accessory goes before its subject");
    }

    // Harbor's src/pkg/artifact/dao/dao.go ("both" filter: tagged, or not referenced by an index) makes a tagged child a
    // candidate of its own; src/controller/artifact/controller.go deleteDeeply skips a tagged child when its index goes (and
    // refuses to delete an artifact an index still references), so the retention performer deletes the child itself only once
    // its index is gone: retained by a rule, kept as a kept index's child, or deleted with its accessories after its index.
    [Test]
    public void Given_tagged_index_children_when_evaluated_then_each_is_a_candidate_as_in_Harbors_artifact_dao_and_deleteDeeply()
    {
        // Given an old index (v1) with a signed tagged child, a tagged child a rule keeps and an untagged child, and a new
        // index (v2) with a tagged child
        var fixture = new RetentionFixture();
        var amd = fixture.Image(Repo, "amd", 50, null, "amd64");
        var amdSig = fixture.Signature(Repo, "amd-sig", amd);
        var keep = fixture.Image(Repo, "keep", 50, null, "keep-1");
        var bare = fixture.Image(Repo, "bare", 50, null);
        var oldIndex = fixture.Index(Repo, "old-index", 50, [amd, keep, bare], "v1");
        var arm = fixture.Image(Repo, "arm", 50, null, "arm64");
        var newIndex = fixture.Index(Repo, "new-index", 1, [arm], "v2");

        // When latestPushedK(1) and "always" for keep-* are evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1), Rule(RetentionTemplate.Always, tags: "keep-*", untagged: false)));

        // Then the tagged children are candidates: one retained by its rule, one kept as the kept index's child, one deleted
        // after its index with its signature; the untagged child follows its index
        plan.Of(keep).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Retained && a.Reason == RetentionReason.RetainedByRule && a.Candidate);
        plan.Of(arm).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Retained && a.Reason == RetentionReason.ChildKept && a.Cause == newIndex && a.Candidate);
        plan.Of(amd).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Deleted && a.Reason == RetentionReason.NotRetained && a.Cause == oldIndex && a.Candidate);
        plan.Of(amdSig).Should().Match<ArtifactRetention>(a => a.Outcome == RetentionOutcome.Deleted && a.Reason == RetentionReason.AccessoryOfDeleted && a.Cause == amd);
        plan.Of(bare).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.ChildOfDeleted && !a.Candidate);
        var order = plan.DeleteOrder.Select(k => k.Digest).ToList();
        order.Should().BeEquivalentTo([oldIndex, amd, amdSig, bare]);
        order.IndexOf(oldIndex).Should().BeLessThan(order.IndexOf(amd), "an index goes before its children");
        order.IndexOf(amdSig).Should().BeLessThan(order.IndexOf(amd), "an accessory goes before its subject");
        var repository = plan.Repositories.Single();
        (repository.Total, repository.Retained, repository.Deleted).Should().Be((5, 3, 2), "candidates: both indexes and the three tagged children");
    }

    // DESIGN.md §6: a report's reason never names an artifact the same plan deletes; a child two indexes list, one deleted,
    // is kept as the kept one's child and names it.
    [Test]
    public void Given_a_child_of_a_deleted_and_a_kept_index_when_evaluated_then_its_reason_names_the_kept_index()
    {
        // Given an untagged and a tagged child listed by an old index (read first) and a new one
        var fixture = new RetentionFixture();
        var shared = fixture.Image(Repo, "shared", 50, null);
        var tagged = fixture.Image(Repo, "tagged", 50, null, "arm64");
        var oldIndex = fixture.Index(Repo, "old-index", 50, [shared, tagged], "v1");
        var newIndex = fixture.Index(Repo, "new-index", 1, [shared, tagged], "v2");

        // When latestPushedK(1) is evaluated
        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 1)));

        // Then the old index goes, and both children are kept as children of the new one
        plan.DeletedDigests().Should().BeEquivalentTo([oldIndex]);
        plan.Of(shared).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.ChildKept && a.Cause == newIndex);
        plan.Of(tagged).Should().Match<ArtifactRetention>(a => a.Reason == RetentionReason.ChildKept && a.Cause == newIndex);
    }

    [Test]
    public void Given_two_deleted_indexes_sharing_a_child_when_evaluated_then_the_child_goes_after_both()
    {
        var fixture = new RetentionFixture();
        var child = fixture.Image(Repo, "child", 50, null);
        var first = fixture.Index(Repo, "first", 50, [child], "a");
        var second = fixture.Index(Repo, "second", 40, [child], "b");

        var plan = fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, 0)));

        var order = plan.DeleteOrder.Select(k => k.Digest).ToList();
        order.Should().BeEquivalentTo([first, second, child]);
        order.IndexOf(child).Should().Be(2);
    }

    [Test]
    public void Given_an_invalid_typed_policy_when_evaluated_then_nothing_is_planned_and_the_errors_are_listed()
    {
        var fixture = new RetentionFixture();
        fixture.Image(Repo, "a", 1, null);
        var act = () => fixture.Evaluate(Policy(Rule(RetentionTemplate.LatestPushedK, -1)));
        act.Should().Throw<PolicyException>().Which.Errors.Should().ContainSingle().Which.Path.Should().Be("$.rules[0].params.latestPushedK");
    }
}
