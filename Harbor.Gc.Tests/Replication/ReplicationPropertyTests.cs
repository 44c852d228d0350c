using Harbor.Gc.Model;
using Harbor.Gc.Replication;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Replication;

/// <summary>
/// Properties of the replication closure on seeded random registries (indexes over shared children, accessory chains, soft and
/// orphan accessories, moving tags), over both stores: the plan is exactly the closure of the selection under "index → child"
/// and "subject → hard accessory", each artifact once, every child before its index and every subject before its accessories.
/// </summary>
public class ReplicationPropertyTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task OnRandomRegistries_ThePlanIsTheClosure_InTopologicalOrder_WithoutDuplicates()
    {
        for (var seed = 1; seed <= PerStore(60, 12, 6); seed++)
        {
            var (store, _, description) = BuildRandom(seed);
            using var _ = store;
            var artifacts = store.GetArtifacts().ToDictionary(a => a.Key);
            var hard = store.GetAccessoryLinks().Where(l => l.Strength == ReferenceStrength.Hard && artifacts.ContainsKey(new(l.Repository, l.Accessory))).ToList();
            var random = new Random(seed);
            var selected = artifacts.Keys.Where(_ => random.NextDouble() < 0.25).ToList();
            var because = $"seed {seed}: {description}";

            var plan = await ReplicationClosure.PlanAsync(store.Inner, selected.Select(k => ReplicationSelector.Artifact(k.Repository, k.Digest.ToString())));

            // The closure, computed naively: repeat until nothing is added
            var expected = new HashSet<ArtifactKey>(selected);
            for (var grew = true; grew;)
            {
                grew = false;
                foreach (var key in expected.ToList())
                {
                    var next = artifacts[key].Children.Select(c => new ArtifactKey(key.Repository, c)).Where(artifacts.ContainsKey)
                        .Concat(hard.Where(l => new ArtifactKey(l.Repository, l.Subject) == key).Select(l => new ArtifactKey(l.Repository, l.Accessory)));
                    foreach (var k in next)
                    {
                        grew |= expected.Add(k);
                    }
                }
            }

            var order = plan.Items.Select(i => i.Key).ToList();
            order.Should().OnlyHaveUniqueItems(because);
            order.Should().BeEquivalentTo(expected, because);
            var position = order.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i);
            foreach (var key in order)
            {
                foreach (var child in artifacts[key].Children.Select(c => new ArtifactKey(key.Repository, c)).Where(artifacts.ContainsKey))
                {
                    position[child].Should().BeLessThan(position[key], $"child {child} precedes its index {key}; {because}");
                }
            }

            foreach (var link in hard.Where(l => position.ContainsKey(new(l.Repository, l.Accessory)) && position.ContainsKey(new(l.Repository, l.Subject))))
            {
                position[new(link.Repository, link.Subject)].Should().BeLessThan(position[new(link.Repository, link.Accessory)], $"subject before accessory; {because}");
            }

            foreach (var item in plan.Items)
            {
                item.Blobs.Select(b => (b.Digest, b.IsForeign)).Should().Equal(
                    artifacts[item.Key].References.Where(r => r.Kind != BlobReferenceKind.Manifest).Select(r => (r.Digest, r.IsForeign)), because);
            }

            plan.Problems.Should().BeEmpty(because);
        }
    }
}
