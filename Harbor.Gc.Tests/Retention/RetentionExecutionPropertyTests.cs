using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Retention;

/// <summary>
/// Retention carried out on seeded random registries (<see cref="RandomRegistry"/>) with random policies and immutable tag
/// rules, over both stores: the dry run and the real run agree, the real run keeps the plan's promises (DESIGN.md §6, §7), and
/// after retention and GC every remaining artifact still has all its blobs (§5).
/// </summary>
public sealed class RetentionExecutionPropertyTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task Given_random_registries_and_policies_when_run_dry_then_for_real_then_the_real_run_deletes_exactly_the_dry_plan_keeps_what_it_promises_and_GC_leaves_no_artifact_without_a_blob()
    {
        var (deletions, runs) = (0, 0);
        for (var seed = 0; seed < PerStore(120, 25); seed++)
        {
            var (store, time, description) = BuildRandom(seed);
            var (policy, immutability) = RetentionPropertyTests.RandomPolicy(seed);
            var context = $"seed {seed}: {description}; policy {string.Join(" | ", policy.Rules)}";
            var artifacts = store.GetArtifacts();
            var tags = store.GetTags();
            var links = store.GetAccessoryLinks();
            var runner = new RetentionRunner(store.Inner, time);

            var dry = await runner.RunAsync(policy, immutability, dryRun: true);

            dry.Execution.Should().BeNull(context);
            store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo(artifacts.Select(a => a.Key), context + ": a dry run deletes nothing");
            store.GetTags().Should().HaveCount(tags.Count, context + ": a dry run deletes no tag");

            var real = await runner.RunAsync(policy, immutability);

            real.Plan.DeleteOrder.Should().Equal(dry.Plan.DeleteOrder, context + ": nothing changed in between, so the same plan");
            var execution = real.Execution!;
            execution.Skipped.Should().BeEmpty(context + ": nothing changed since the snapshot");
            execution.AlreadyGone.Should().BeEmpty(context);
            execution.Deleted.Should().BeEquivalentTo(dry.Plan.DeleteOrder, context + ": the real run deletes exactly the dry run's plan");
            store.GetArtifacts().Select(a => a.Key).Should().BeEquivalentTo(artifacts.Select(a => a.Key).Except(dry.Plan.DeleteOrder), context);

            // immutable artifacts, accessories and children of retained ones: never deleted (checked on the registry as it was)
            RetentionPropertyTests.CheckInvariants(artifacts, tags, links, immutability, real.Plan, context);
            var remaining = store.GetArtifacts();
            var present = remaining.Select(a => a.Key).ToHashSet();
            var existed = artifacts.Select(a => a.Key).ToHashSet();
            remaining.Where(a => a.Children.Select(c => new ArtifactKey(a.Repository, c)).Any(c => existed.Contains(c) && !present.Contains(c)))
                .Should().BeEmpty(context + ": no index lost a child");

            await new GarbageCollector(store.Inner, time).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
            GcInvariants.AssertNoArtifactLostABlob(store, context + ": after retention and GC");
            deletions += execution.Deleted.Length;
            runs += execution.Deleted.IsEmpty ? 0 : 1;
        }

        deletions.Should().BeGreaterThan(PerStore(100, 20), "the generator must make retention delete");
        runs.Should().BeGreaterThan(PerStore(30, 5));
    }

    [Test]
    public async Task Given_random_plans_and_artifacts_tagged_after_the_plan_when_executed_then_those_are_skipped_and_keep_their_accessories_and_children()
    {
        var skipped = 0;
        for (var seed = 0; seed < PerStore(120, 25); seed++)
        {
            var (store, time, description) = BuildRandom(seed);
            var (policy, immutability) = RetentionPropertyTests.RandomPolicy(seed);
            var context = $"seed {seed}: {description}; policy {string.Join(" | ", policy.Rules)}";
            var snapshot = await RetentionSnapshot.ReadAsync(store.Inner);
            var plan = RetentionEvaluator.Evaluate(policy, snapshot, time, immutability);
            var links = store.GetAccessoryLinks(); // as they were: a deleted accessory's link goes with it
            var artifacts = store.GetArtifacts();
            var random = new Random(seed);
            var retagged = plan.DeleteOrder.Where(_ => random.Next(4) == 0).ToList();
            foreach (var key in retagged)
            {
                store.PutTag(key.Repository, $"hot{random.Next(1000)}", key.Digest); // a user tags it between the plan and the deletion
            }

            var execution = await RetentionExecutor.ExecuteAsync(plan, snapshot, store.Inner, immutability);

            execution.Deleted.Concat(execution.Skipped.Select(s => s.Key)).Should().BeEquivalentTo(plan.DeleteOrder, context + ": every planned artifact is deleted or skipped");
            var present = store.GetArtifacts().Select(a => a.Key).ToHashSet();
            retagged.Where(k => !present.Contains(k)).Should().BeEmpty(context + ": an artifact tagged after the plan is kept");
            foreach (var link in links.Where(l => l.Strength == ReferenceStrength.Hard))
            {
                if (present.Contains(new ArtifactKey(link.Repository, link.Subject)) && plan.DeleteOrder.Contains(new ArtifactKey(link.Repository, link.Accessory)))
                {
                    present.Should().Contain(new ArtifactKey(link.Repository, link.Accessory), $"{context}: a kept subject keeps its hard accessory");
                }
            }

            foreach (var index in artifacts.Where(a => present.Contains(a.Key)))
            {
                foreach (var child in index.Children.Select(c => new ArtifactKey(index.Repository, c)).Where(plan.DeleteOrder.Contains))
                {
                    present.Should().Contain(child, $"{context}: a kept index {index.Key} keeps its child");
                }
            }

            skipped += execution.Skipped.Length;
        }

        skipped.Should().BeGreaterThan(PerStore(50, 10), "the generator must make the executor skip");
    }
}
