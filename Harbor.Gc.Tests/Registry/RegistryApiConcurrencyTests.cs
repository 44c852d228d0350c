using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Registry;

/// <summary>
/// Issue 4: a push through the registry API during a GC run never loses data. Given a large registry whose garbage blobs a real
/// GC (plan and sweep, four workers) is collecting, when clients on other threads keep pushing manifests through
/// <see cref="RegistryApi"/> that reuse those very blobs, then every manifest whose push succeeded has all its blobs, with bytes.
/// </summary>
public class RegistryApiConcurrencyTests(StoreKind kind) : StoreFixture(kind)
{
    private static readonly RepositoryName Live = RepositoryName.Parse("live/pushes");

    [Test]
    public async Task PushManifest_OnOtherThreadsDuringARealGcRun_EveryPushedManifestKeepsAllItsBlobs()
    {
        // Given a large registry where most blobs are garbage
        var (store, time, _) = BuildRandom(seed: 11, scale: PerStore(inMemory: 60, liteDb: 30));
        var collector = new GarbageCollector(store.Inner, time);
        var contents = store.Contents;
        var garbage = (await collector.PlanAsync(new GcOptions { DeleteUntagged = true })).Blobs
            .Where(b => contents.ContainsKey(b.Digest)).Select(b => b.Digest).ToArray();
        garbage.Length.Should().BeGreaterThan(100, "the pushes must race the sweep over many blobs");
        var api = new RegistryApi(store.Inner);
        var reused = garbage[..(garbage.Length / 2)]; // the pushes reuse half of the garbage; the sweep deletes the other half

        // When two clients keep pushing manifests that reuse garbage blobs while the GC runs (a blob they touch before the plan
        // is young and kept; one they touch after it makes the sweep's compare-and-swap fail; one being deleted fails the push)
        using var pushers = new RacingPushers(api, contents, reused, Live);
        var before = pushers.Pushed.Count;
        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, Workers = 4, Progress = pushers.HoldSweepUntilMorePushes(3) });
        var pushedDuringGc = pushers.Pushed.Count - before;
        await pushers.StopAsync();

        await TestContext.Out.WriteLineAsync($"{Kind}: {garbage.Length} garbage blobs, {result.BlobsDeleted} deleted, {result.BlobsSkipped.Count} skipped, {pushedDuringGc} pushes during the run, {pushers.Pushed.Count} in all, {pushers.Retries} retries");

        // Then the GC completed, pushes overlapped it, and no pushed manifest lost a blob
        result.Outcome.Should().Be(GcOutcome.Completed);
        result.BlobsDeleted.Should().BeGreaterThan(0, "the sweep deleted the garbage no client reused");
        pushedDuringGc.Should().BeGreaterThan(0, "the pushes must overlap the run");
        pushers.Pushed.Should().HaveCountGreaterThanOrEqualTo(60);
        foreach (var artifact in pushers.Pushed)
        {
            store.GetArtifact(artifact.Key).Should().NotBeNull($"{artifact.Key} was pushed successfully during GC");
            foreach (var reference in artifact.References)
            {
                store.HasBlobContent(reference.Digest).Should().BeTrue($"{artifact.Key} was pushed successfully during GC ({pushers.Retries} retries)");
                store.GetBlob(reference.Digest)!.Status.Should().Be(BlobStatus.None);
            }
        }

        GcInvariants.AssertNoArtifactLostABlob(store, "after pushes through the registry API during the run");
    }
}
