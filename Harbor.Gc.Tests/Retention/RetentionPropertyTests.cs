using System.Collections.Immutable;
using Harbor.Gc.Accessories;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// Retention on seeded random registries (indexes with shared and tagged children, hard accessory chains, soft and orphan
/// accessories, moved tags) with random policies and immutability rules: the invariants of DESIGN.md §6/§7, checked
/// against the store's own lists rather than the evaluator's structures.
/// </summary>
public sealed class RetentionPropertyTests
{
    private static readonly string[] TagPatterns = ["**", "v*", "{latest,stable}", "*-rc*", "[a-m]*", "release/**"];
    private static readonly string[] RepoPatterns = ["**", "app*", "{app0,app2}", "app[01]"];

    [Test]
    public async Task Given_random_registries_and_policies_when_evaluated_then_immutable_artifacts_and_the_accessories_and_children_of_retained_ones_are_never_deleted_and_the_plan_is_deterministic()
    {
        var (deletions, cascades, immutables) = (0, 0, 0);
        for (var seed = 0; seed < 150; seed++)
        {
            var (store, time, description) = RandomRegistry.Build(seed);
            var (policy, immutability) = RandomPolicy(seed);

            var snapshot = await RetentionSnapshot.ReadAsync(store.Inner);
            var plan = RetentionEvaluator.Evaluate(policy, snapshot, time, immutability);
            var again = RetentionEvaluator.Evaluate(policy, await RetentionSnapshot.ReadAsync(store.Inner), time, immutability);

            var context = $"seed {seed}: {description}; policy {string.Join(" | ", policy.Rules)}";
            Describe(again).Should().Equal(Describe(plan), context + ": same input, same plan");
            CheckInvariants(store.GetArtifacts(), store.GetTags(), store.GetAccessoryLinks(), immutability, plan, context);
            var decisions = plan.Repositories.SelectMany(r => r.Artifacts).ToList();
            deletions += plan.ArtifactsToDelete;
            cascades += decisions.Count(a => a.Reason is RetentionReason.AccessoryOfDeleted or RetentionReason.ChildOfDeleted);
            immutables += decisions.Count(a => a.Reason == RetentionReason.Immutable);
        }

        // The generator must exercise what the invariants are about.
        deletions.Should().BeGreaterThan(100);
        cascades.Should().BeGreaterThan(10);
        immutables.Should().BeGreaterThan(10);
    }

    /// <summary>The random policy (1–5 rules over project p0 or p1) and immutable tag rules (0–2) of a seed.</summary>
    internal static (RetentionPolicy Policy, ImmutabilityRules Immutability) RandomPolicy(int seed)
    {
        var random = new Random(seed * 7919);
        var project = random.Next(2) == 0 ? "p0" : "p1";
        var policy = new RetentionPolicy(project, [.. Enumerable.Range(0, random.Next(1, 6)).Select(_ => RandomRule(random))]);
        var immutability = new ImmutabilityRules(
            Enumerable.Range(0, random.Next(0, 3)).Select(i => new ImmutableTagRule(
                project,
                i,
                new RepositorySelector(random.Next(4) == 0 ? SelectorDecoration.Excludes : SelectorDecoration.Matches, DoublestarPattern.Parse(Pick(random, RepoPatterns))),
                new TagSelector(random.Next(4) == 0 ? SelectorDecoration.Excludes : SelectorDecoration.Matches, DoublestarPattern.Parse(Pick(random, TagPatterns)), false),
                Disabled: random.Next(5) == 0)));
        return (policy, immutability);
    }

    internal static void CheckInvariants(
        IReadOnlyList<Artifact> artifacts,
        IReadOnlyList<Tag> tags,
        IReadOnlyList<AccessoryLink> links,
        ImmutabilityRules immutability,
        RetentionPlan plan,
        string context)
    {
        var deleted = plan.DeleteOrder.ToHashSet();
        deleted.Should().HaveCount(plan.DeleteOrder.Length, context + ": nothing is deleted twice");
        var existing = artifacts.Select(a => a.Key).ToHashSet();
        var position = plan.DeleteOrder.Select((k, i) => (k, i)).ToDictionary(x => x.k, x => x.i);
        var retained = plan.Repositories
            .SelectMany(r => r.Artifacts.Where(a => a.Outcome == RetentionOutcome.Retained).Select(a => new ArtifactKey(r.Repository, a.Digest)))
            .ToHashSet();

        // An artifact is immutable when one of its user tags matches; a hard accessory when its subject is (recursively).
        var immutable = tags
            .Where(t => !AccessoryClassifier.IsTagSchemeTag(t.Name) && immutability.IsImmutable(t.Repository, t.Name))
            .Select(t => new ArtifactKey(t.Repository, t.Digest))
            .Where(existing.Contains)
            .ToHashSet();
        // An immutable hard accessory also pins the subject it hangs from (deleting the subject would delete it).
        var hard = links.Where(l => l.Strength == ReferenceStrength.Hard && existing.Contains(new ArtifactKey(l.Repository, l.Accessory))).ToList();
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var link in hard)
            {
                var accessory = new ArtifactKey(link.Repository, link.Accessory);
                var subject = new ArtifactKey(link.Repository, link.Subject);
                changed |= immutable.Contains(subject) && immutable.Add(accessory);
                changed |= immutable.Contains(accessory) && existing.Contains(subject) && immutable.Add(subject);
            }
        }

        deleted.Should().NotIntersectWith(immutable, context + ": an immutable artifact (or an accessory of one) is never deleted");

        foreach (var link in hard)
        {
            var accessory = new ArtifactKey(link.Repository, link.Accessory);
            var subject = new ArtifactKey(link.Repository, link.Subject);
            if (retained.Contains(subject))
            {
                deleted.Should().NotContain(accessory, $"{context}: the hard accessory {accessory} of retained {subject} is kept");
            }

            if (deleted.Contains(subject) && existing.Contains(subject) && hard.Count(l => l.Accessory == link.Accessory && l.Repository == link.Repository) == 1)
            {
                deleted.Should().Contain(accessory, $"{context}: the hard accessory {accessory} goes with its subject");
                position[accessory].Should().BeLessThan(position[subject], $"{context}: an accessory is deleted before its subject");
            }
        }

        foreach (var parent in artifacts)
        {
            foreach (var child in parent.Children.Select(c => new ArtifactKey(parent.Repository, c)).Where(existing.Contains))
            {
                if (retained.Contains(parent.Key))
                {
                    deleted.Should().NotContain(child, $"{context}: child {child} of retained index {parent.Key} is kept");
                }
                else if (deleted.Contains(parent.Key) && deleted.Contains(child))
                {
                    position[parent.Key].Should().BeLessThan(position[child], $"{context}: an index is deleted before its children");
                }
            }
        }

        var tagged = tags.Where(t => !AccessoryClassifier.IsTagSchemeTag(t.Name)).Select(t => new ArtifactKey(t.Repository, t.Digest)).ToHashSet();
        foreach (var key in deleted)
        {
            key.Repository.Project.Should().Be(plan.Policy.Project, context + ": only the policy's project is touched");
            var decision = plan.Repositories.Single(r => r.Repository == key.Repository).Artifacts.Single(a => a.Digest == key.Digest);
            if (decision.Reason == RetentionReason.ChildOfDeleted)
            {
                tagged.Should().NotContain(key, $"{context}: a tagged child {key} is a candidate, not a follower of its index");
            }

            if (tagged.Contains(key))
            {
                decision.RetainedBy.Should().BeEmpty($"{context}: a tagged artifact {key} a rule retains is not deleted");
            }
        }

        // A kept artifact's reason never names an artifact the same plan deletes.
        foreach (var repository in plan.Repositories)
        {
            foreach (var a in repository.Artifacts.Where(a => a.Outcome == RetentionOutcome.Retained && a.Cause is not null))
            {
                deleted.Should().NotContain(new ArtifactKey(repository.Repository, a.Cause!.Value), $"{context}: the reason of kept {a.Digest} names {a.Cause}");
            }
        }

        // Counts are over candidates (Harbor's retention history, src/pkg/retention/job.go saveRetainNum): neither a hard
        // accessory nor an untagged child of an index in the repository.
        var hardAccessories = hard.Select(l => new ArtifactKey(l.Repository, l.Accessory)).ToHashSet();
        var children = artifacts.SelectMany(p => p.Children.Select(c => new ArtifactKey(p.Repository, c))).Where(existing.Contains).ToHashSet();
        foreach (var repository in plan.Repositories)
        {
            var candidates = artifacts.Where(a => a.Repository == repository.Repository && !hardAccessories.Contains(a.Key) && (!children.Contains(a.Key) || tagged.Contains(a.Key)))
                .Select(a => a.Digest).ToHashSet();
            repository.Artifacts.Should().HaveCount(artifacts.Count(a => a.Repository == repository.Repository), context + ": every artifact is listed");
            repository.Artifacts.Where(a => a.Candidate).Select(a => a.Digest).Should().BeEquivalentTo(candidates, context + ": the candidates");
            (repository.Retained + repository.Deleted).Should().Be(repository.Total, context);
            repository.Total.Should().Be(candidates.Count, context);
            repository.Deleted.Should().Be(candidates.Count(d => deleted.Contains(new ArtifactKey(repository.Repository, d))), context);
            repository.ArtifactsDeleted.Should().Be(deleted.Count(k => k.Repository == repository.Repository), context);
        }
    }

    private static List<string> Describe(RetentionPlan plan) =>
    [
        .. plan.DeleteOrder.Select(k => k.ToString()),
        .. plan.Repositories.SelectMany(r => r.Artifacts.Select(a =>
            $"{r.Repository}@{a.Digest} {a.Outcome} {a.Reason} [{string.Join(",", a.RetainedBy)}] {a.Cause} {string.Join(",", a.Tags)}")),
        .. plan.Untouched.Select(r => "untouched " + r),
    ];

    private static RetentionRule RandomRule(Random random)
    {
        var template = (RetentionTemplate)random.Next(Enum.GetValues<RetentionTemplate>().Length);
        var parameter = random.Next(0, 12);
        var repositories = new RepositorySelector(random.Next(5) == 0 ? SelectorDecoration.Excludes : SelectorDecoration.Matches, DoublestarPattern.Parse(Pick(random, RepoPatterns)));
        var tags = new TagSelector(random.Next(4) == 0 ? SelectorDecoration.Excludes : SelectorDecoration.Matches, DoublestarPattern.Parse(Pick(random, TagPatterns)), random.Next(2) == 0);
        return new RetentionRule(template, parameter, repositories, tags, Disabled: random.Next(6) == 0);
    }

    private static string Pick(Random random, string[] values) => values[random.Next(values.Length)];
}
