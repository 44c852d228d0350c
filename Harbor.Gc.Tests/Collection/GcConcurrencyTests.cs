using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

/// <summary>DESIGN.md §5: a push during a GC run never loses data (goharbor/harbor#23116 is the bug this prevents).</summary>
public class GcConcurrencyTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task Execute_WithPushesOnAnotherThread_EveryPushedManifestKeepsItsBlobs()
    {
        // Given a registry where most blobs are garbage, and a plan to delete them
        var (store, time, _) = BuildRandom(seed: 3, scale: PerStore(inMemory: 60, liteDb: 30));
        var collector = new GarbageCollector(store.Inner, time);
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        var targets = plan.Blobs.Select(b => (b.Digest, b.Size)).ToArray();
        targets.Length.Should().BeGreaterThan(100);

        // When a registry client keeps pushing manifests that reuse those very blobs while four workers sweep
        var pushed = new List<Artifact>();
        var retries = 0;
        using var done = new CancellationTokenSource();
        using var stuck = new CancellationTokenSource(TimeSpan.FromMinutes(2)); // a blob refused for ever fails the test, not hangs it
        var pusher = Task.Run(() =>
        {
            var random = new Random(5);
            for (var i = 0; !done.IsCancellationRequested || i < 50; i++)
            {
                var (layer, size) = targets[random.Next(targets.Length)];
                while (true)
                {
                    try
                    {
                        store.PutBlob(layer);                        // upload the layer again
                        var manifest = Encoding.ASCII.GetBytes($"pushed-{i}");
                        var digest = store.PutBlob(manifest, MediaTypes.OciManifest).Digest;
                        pushed.Add(store.PutArtifact(new Artifact
                        {
                            Repository = RepositoryName.Parse("live/pushes"), Digest = digest, MediaType = MediaTypes.OciManifest,
                            Kind = ManifestKind.OciManifest, PushedAt = time.GetUtcNow(),
                            References = [new(digest, manifest.Length, null, BlobReferenceKind.Manifest), new(layer, size, null, BlobReferenceKind.Layer)],
                        }));
                        break;
                    }
                    catch (BlobBeingDeletedException)
                    {
                        retries++;                                   // the sweep is deleting it right now: retry, as a client would
                        stuck.Token.ThrowIfCancellationRequested();
                        Thread.Yield();
                    }
                }
            }
        });
        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true, Workers = 4 });
        await done.CancelAsync();
        await pusher;

        // Then every pushed manifest has every blob it references, with its bytes
        result.Outcome.Should().Be(GcOutcome.Completed);
        pushed.Should().HaveCountGreaterThanOrEqualTo(50);
        foreach (var artifact in pushed)
        {
            foreach (var reference in artifact.References)
            {
                store.HasBlobContent(reference.Digest).Should().BeTrue($"{artifact.Key} was pushed successfully during GC ({retries} retries)");
            }
        }

        GcInvariants.AssertNoArtifactLostABlob(store, "after the concurrent run");
    }
}
