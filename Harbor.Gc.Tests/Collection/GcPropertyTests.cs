using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>
/// The engine's plans against <see cref="ReferenceCollector"/> over thousands of random registries (DESIGN.md §5): 2,000 in the
/// in-memory store; 150 in the LiteDB store, whose every write is a transaction and every blob a file (each graph is written
/// through the store's API, so the LiteDB variant checks the store as much as the engine).
/// </summary>
public class GcPropertyTests(StoreKind kind) : StoreFixture(kind)
{
    private int Registries => PerStore(inMemory: 2_000, liteDb: 150, postgres: 40);

    [Test]
    public async Task Plan_MatchesTheReference_OnRandomRegistries([Values(true, false)] bool deleteUntagged)
    {
        for (var seed = 0; seed < Registries; seed++)
        {
            var (store, time, description) = BuildRandom(seed);
            var reference = new ReferenceCollector(store, RandomRegistry.Now, GcOptions.DefaultTimeWindow, deleteUntagged).Run();

            var plan = await new GarbageCollector(store.Inner, time).PlanAsync(new GcOptions { DeleteUntagged = deleteUntagged });

            var because = $"seed {seed}: {description}";
            plan.Artifacts.ToDictionary(a => a.Key, a => a.Reason).Should().BeEquivalentTo(reference.DeadArtifacts, because);
            plan.Blobs.Select(b => b.Digest).Should().BeEquivalentTo(reference.DeadBlobs, because);
            plan.LayerLinks.Select(l => (l.Repository, l.Digest)).Should().BeEquivalentTo(reference.DeadLayerLinks, because);
            plan.Blobs.Should().NotContain(b => reference.LiveBlobs.Contains(b.Digest), "a live blob is never planned: " + because);
            plan.Summary.Bytes.Should().Be(plan.Blobs.Sum(b => b.Size), because);
            AssertExecutionOrder(plan, store, because);
            store.Dispose();
        }
    }

    [Test]
    public async Task Run_Real_DeletesExactlyThePlan_AndASecondPlanIsEmpty()
    {
        for (var seed = 0; seed < Registries / 4; seed++)
        {
            var (store, time, description) = BuildRandom(seed);
            var collector = new GarbageCollector(store.Inner, time);
            var dry = await collector.RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
            var before = Snapshot(store);

            var real = await collector.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 1 + (seed % 4) });

            var because = $"seed {seed}: {description}";
            dry.Plan.Artifacts.Should().BeEquivalentTo(real.Plan.Artifacts, "the dry run is the plan: " + because);
            dry.Plan.Blobs.Should().BeEquivalentTo(real.Plan.Blobs, because);
            Snapshot(store).Artifacts.Should().BeEquivalentTo(before.Artifacts.Except(real.Plan.Artifacts.Select(a => a.Key)), because);
            Snapshot(store).Blobs.Should().BeEquivalentTo(before.Blobs.Except(real.Plan.Blobs.Select(b => b.Digest)), because);
            real.ArtifactsSkipped.Should().BeEmpty(because);
            real.BlobsSkipped.Should().BeEmpty(because);
            GcInvariants.AssertNoArtifactLostABlob(store, because);
            var again = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
            again.Artifacts.Should().BeEmpty(because);
            again.Blobs.Should().BeEmpty(because);
            store.Dispose();
        }
    }

    internal static (HashSet<ArtifactKey> Artifacts, HashSet<Digest> Blobs, HashSet<(RepositoryName, string, Digest)> Tags) Snapshot(TestStore store) =>
        (store.GetArtifacts().Select(a => a.Key).ToHashSet(), store.GetBlobs().Select(b => b.Digest).ToHashSet(),
         store.GetTags().Select(t => (t.Repository, t.Name, t.Digest)).ToHashSet());

    private static void AssertExecutionOrder(CollectionPlan plan, TestStore store, string because)
    {
        var position = plan.Artifacts.Select((a, i) => (a.Key, i)).ToDictionary(x => x.Key, x => x.i);
        foreach (var planned in plan.Artifacts)
        {
            var artifact = store.GetArtifact(planned.Key)!;
            foreach (var child in artifact.Children)
            {
                if (position.TryGetValue(new ArtifactKey(planned.Key.Repository, child), out var at))
                {
                    at.Should().BeGreaterThan(position[planned.Key], "an index is deleted before its children: " + because);
                }
            }

            foreach (var parent in planned.DependsOn)
            {
                position[parent].Should().BeLessThan(position[planned.Key], "what an artifact depends on goes first: " + because);
            }

            if (planned.Reason == DeletionReason.AccessoryOfDeletedSubject)
            {
                position[new ArtifactKey(planned.Key.Repository, planned.Subject!.Value)].Should().BeLessThan(position[planned.Key], "a subject goes before its accessories: " + because);
            }
        }
    }
}
