using Harbor.Gc.Collection;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The Distribution store over the S3 driver (issue 17), its snapshot reading a flat listing of the bucket (<see cref="S3FlatReadingTests"/>):
/// one tree, copied file by file into a bucket, reads, plans and collects as it does in the folder; real runs take a lease;
/// a run killed at any step keeps every live object in place, and the next run finishes.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3DistributionStoreTests
{
    [Test]
    public async Task ATreeCopiedIntoABucket_ReadsAsItDoesFromItsFolder()
    {
        // given a tree with tagged and untagged images, an index, a referrer and an unfinished upload, in a folder and the same
        // files in a bucket under the registry's rootdirectory "reg"
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var bucket = await CopiedTreeAsync(server, tree);

        // when both stores read a snapshot
        var onDisk = new TestStore.CollectingSink();
        await new DistributionRegistryStore(tree.Root).ReadSnapshotAsync(onDisk);
        using var driver = new S3StorageDriver(new S3StorageOptions
        {
            Bucket = bucket, RootPrefix = "reg/docker/registry/v2", Endpoint = server.Endpoint, Region = S3Server.Region,
        });
        var store = new DistributionRegistryStore(driver, $"s3://{bucket}/reg");
        var inBucket = new TestStore.CollectingSink();
        await store.ReadSnapshotAsync(inBucket);

        // then they see the same artifacts, tags, links, blobs and uploads (times aside: the bucket's are its upload times)
        inBucket.Artifacts.Select(a => (a.Repository, a.Digest, a.Kind, a.Subject, Children: string.Join(',', a.Children), a.ParseProblem))
            .Should().BeEquivalentTo(onDisk.Artifacts.Select(a => (a.Repository, a.Digest, a.Kind, a.Subject, Children: string.Join(',', a.Children), a.ParseProblem)));
        inBucket.Artifacts.Should().HaveCount(6);
        inBucket.Tags.Select(t => (t.Repository, t.Name, t.Digest)).Should().BeEquivalentTo(onDisk.Tags.Select(t => (t.Repository, t.Name, t.Digest)));
        inBucket.LayerLinks.Select(l => (l.Repository, l.Digest)).Should().BeEquivalentTo(onDisk.LayerLinks.Select(l => (l.Repository, l.Digest)));
        inBucket.Blobs.Select(b => (b.Digest, b.Size)).Should().BeEquivalentTo(onDisk.Blobs.Select(b => (b.Digest, b.Size)));
        inBucket.AccessoryLinks.Should().BeEquivalentTo(onDisk.AccessoryLinks);
        inBucket.Uploads.Select(u => (u.Repository, u.Id, u.Size)).Should().BeEquivalentTo(onDisk.Uploads.Select(u => (u.Repository, u.Id, u.Size)));
        inBucket.Uploads.Should().ContainSingle().Which.StartedAt.Should().Be(onDisk.Uploads[0].StartedAt, "startedat is read from the object");
        inBucket.Problems.Select(p => p.Message).Should().BeEquivalentTo(onDisk.Problems.Select(p => p.Message));
        store.Description.Should().Be($"distribution:s3://{bucket}/reg");
    }

    private static async Task<string> CopiedTreeAsync(S3Server server, DistributionTree tree)
    {
        Build(tree);
        return await server.CopyTreeAsync(tree.Root, "dist", parallelism: 8);
    }

    /// <summary>Tagged and untagged images, an index, a referrer and an unfinished upload; with <paramref name="signOld"/>, a cosign signature of the untagged image too (a tag folder of two objects to collect).</summary>
    private static void Build(DistributionTree tree, bool signOld = false)
    {
        var (app, _, _) = tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a", "layer-b");
        var old = tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var arm = tree.Image("team/app", "arm", TimeSpan.FromDays(2), null, "layer-arm");
        tree.Push("team/app", Support.Manifests.Index([app, arm.Manifest]), TimeSpan.FromDays(2), "multi");
        var sbom = tree.Upload("team/app", "{\"sbom\":true}", TimeSpan.FromDays(1));
        tree.Push("team/app", Support.Manifests.Referrer(app, "application/spdx+json", sbom), TimeSpan.FromDays(1));
        tree.Image("other", "x", TimeSpan.FromDays(1), "latest", "layer-x");
        tree.UnfinishedUpload("other", "part"u8.ToArray(), TimeSpan.FromDays(5));
        if (signOld)
        {
            tree.CosignSignature("team/app", old.Manifest, TimeSpan.FromDays(8));
        }
    }

    [Test]
    public async Task Gc_OnTheBucket_PlansWhatItPlansOnTheFolder_AndARealRunLeavesWhatItLeavesInTheFolder()
    {
        // given the same tree in a folder and in a bucket
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var bucket = await CopiedTreeAsync(server, tree);
        var spec = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";

        // when harbor-gc plans a collection of untagged artifacts on each (no time window: the bucket's objects are minutes old),
        // then runs it for real on each
        var onDisk = await Run("gc", "--store", $"distribution:{tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "0s");
        var inBucket = await Run("gc", "--store", spec, "--delete-untagged", "--dry-run", "--time-window", "0s");
        var realOnDisk = await Run("gc", "--store", $"distribution:{tree.Root}", "--delete-untagged", "--time-window", "0s");
        var real = await Run("gc", "--store", spec, "--delete-untagged", "--time-window", "0s");

        // then the plans agree, and the real runs leave the same objects as files (the run's lease and quarantine gone)
        onDisk.Code.Should().Be(0, onDisk.Err);
        inBucket.Code.Should().Be(0, inBucket.Err);
        Eligible(inBucket.Out).Should().Be(Eligible(onDisk.Out)).And.Contain("eligible for deletion");
        inBucket.Out.Should().Contain($"GC dry run on distribution:s3://{bucket}/reg");
        Eligible(onDisk.Out).Should().NotStartWith("0 blobs", "the untagged images are eligible");
        realOnDisk.Code.Should().Be(0, realOnDisk.Err);
        real.Code.Should().Be(0, real.Out + real.Err);
        real.Err.Should().NotContain(server.Secret);
        var files = Directory.GetFiles(tree.Root, "*", SearchOption.AllDirectories)
            .Select(f => "reg/" + Path.GetRelativePath(tree.Root, f).Replace(Path.DirectorySeparatorChar, '/'));
        (await server.KeysAsync(bucket)).Should().BeEquivalentTo(files);

        static string Eligible(string output) => output.Split('\n').Single(l => l.Contains("eligible for deletion", StringComparison.Ordinal)).Trim();
    }

    /// <summary>The command on the real clock a minute on (the bucket's objects are dated by the server's clock).</summary>
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var code = await Harbor.Gc.Runner.Program.RunAsync(Runner.GcCommandTests.NoGrace(args), stdout, stderr, clock, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public async Task ARealRun_WhileAnotherHoldsTheLease_Exits2_AndRunsOnceAKilledHoldersLeaseHasEnded()
    {
        // given a layout in a bucket, and a holder of its lease (renewed every quarter of it)
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var bucket = await CopiedTreeAsync(server, tree);
        var alive = true;
        using var holderDriver = Driver(server, bucket, Lease, _ => alive);
        var holder = holderDriver.TryLock(string.Empty);
        holder.Should().NotBeNull();
        var keys = await server.KeysAsync(bucket);
        keys.Should().ContainSingle(k => k.StartsWith("reg/docker/registry/v2/_harbor-gc/lease/", StringComparison.Ordinal));

        // when a real run starts while the holder renews (longer than a lease after it claimed), and again once the holder is killed
        // (its renewals and its release fail) and its lease has run out
        await Task.Delay(Lease + TimeSpan.FromSeconds(1), TimeProvider.System);
        var refused = await Run("gc", "--store", Spec(server, bucket), "--delete-untagged", "--time-window", "0s");
        var unchanged = await server.KeysAsync(bucket);
        alive = false;
        await Task.Delay(Lease + TimeSpan.FromSeconds(2), TimeProvider.System); // the lease, a second of the server's granularity, and one more

        var admitted = await Run("gc", "--store", Spec(server, bucket), "--delete-untagged", "--time-window", "0s");

        // then the first is refused with exit 2, naming the lease, with nothing changed; the second takes over, deletes the
        // expired claim and collects; no claim is left
        refused.Code.Should().Be(2, refused.Out + refused.Err);
        refused.Err.Should().Contain("holds the lease").And.Contain("_harbor-gc/lease/").And.Contain("nothing was changed");
        unchanged.Should().BeEquivalentTo(keys);
        admitted.Code.Should().Be(0, admitted.Out + admitted.Err);
        admitted.Out.Should().Contain("deleted");
        (await server.KeysAsync(bucket)).Should().NotContain(k => k.Contains("_harbor-gc", StringComparison.Ordinal)).And.HaveCountLessThan(keys.Count - 1);
        holder!.Dispose(); // killed: its release reaches nothing
    }

    [Test]
    public async Task ARealRun_KilledAtEachStep_KeepsEveryLiveObjectInPlace_AndTheNextRunLeavesWhatOneRunLeaves()
    {
        // given a tree in a bucket, and what one uninterrupted real run leaves of it (counting the requests that change the bucket)
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        Build(tree, signOld: true);
        var reference = await server.CopyTreeAsync(tree.Root, "dist", parallelism: 8);
        var changes = new List<string>();
        (await RunStoreAsync(server, reference, what =>
        {
            changes.Add(what);
            return true;
        })).Should().Be(GcOutcome.Completed);
        var steps = changes.Where(c => !IsLeaseWrite(c)).ToList();
        var writes = steps.Count;
        var expected = await server.KeysAsync(reference);
        TestContext.Progress.WriteLine($"{writes} changes: {string.Join(", ", steps.Select(c => c.Split(' ')[0]).GroupBy(c => c).Select(g => $"{g.Count()} {g.Key}"))}");
        writes.Should().BeGreaterThan(10, "the run must delete enough for its steps to matter");

        // when runs are killed (every request from then on fails, as if the process died) before their Nth change (lease writes
        // aside), for N across the run, each on a copy of its own
        var points = new[] { 1, 2, 3, writes / 4, writes / 2, (writes * 3) / 4, writes - 1, writes }.Distinct().ToList();
        var killed = new List<(int At, string Bucket, string Step)>();
        foreach (var at in points)
        {
            var bucket = await server.CopyTreeAsync(tree.Root, "dist", parallelism: 8);
            var step = string.Empty;
            var seen = 0;
            await RunStoreAsync(server, bucket, what =>
            {
                if (IsLeaseWrite(what))
                {
                    return true;
                }

                step = what;
                return ++seen < at;
            });
            killed.Add((at, bucket, step));

            // then everything one run keeps is still where the registry looks
            (await server.KeysAsync(bucket)).Should().Contain(expected, $"killed before change {at} of {writes} ({step})");
        }

        // and once their leases have run out, the next run on each puts back what the killed one left out of sight and leaves
        // what one run leaves
        await Task.Delay(Lease + TimeSpan.FromSeconds(2), TimeProvider.System); // and a second of the server's time granularity
        foreach (var (at, bucket, step) in killed)
        {
            (await RunStoreAsync(server, bucket, _ => true)).Should().Be(GcOutcome.Completed, $"the run after a kill before change {at} ({step})");
            (await server.KeysAsync(bucket)).Should().BeEquivalentTo(expected, $"killed before change {at} of {writes} ({step}), then one more run");
        }

        static bool IsLeaseWrite(string what) => what.Contains("_harbor-gc/lease/", StringComparison.Ordinal);
    }

    [Test]
    public async Task ARunKilledHalfwayThroughMovingATagFolder_IsPutBackObjectByObject_SoTheTagKeepsItsCurrentLink()
    {
        // given a bucket as a run killed while moving the tag folder team/app:v1 out of sight leaves it: both objects copied into
        // its quarantine, the source's current/link deleted and its history entry not yet (a move on S3 is per object)
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        Build(tree);
        var bucket = await server.CopyTreeAsync(tree.Root, "dist", parallelism: 8);
        var tag = "reg/docker/registry/v2/repositories/team/app/_manifests/tags/v1";
        var keys = await server.KeysAsync(bucket);
        var history = keys.Single(k => k.StartsWith(tag + "/index/", StringComparison.Ordinal));
        using var client = server.CreateClient();
        var current = await client.GetObjectAsync(bucket, tag + "/current/link");
        var link = await new StreamReader(current.ResponseStream).ReadToEndAsync();
        var quarantine = "reg/docker/registry/v2/_harbor-gc/quarantine/20261204T000000Z-0123456789abcdef0123456789abcdef/Tag/repositories/team/app/_manifests/tags/v1";
        await server.PutAsync(bucket,
        [
            new(quarantine + "/current/link", System.Text.Encoding.UTF8.GetBytes(link)),
            new(quarantine + history[tag.Length..], System.Text.Encoding.UTF8.GetBytes(link)),
        ]);
        await client.DeleteObjectAsync(bucket, tag + "/current/link");

        // when the next real run begins (it puts back what a killed run left out of sight before it reads)
        using var driver = Driver(server, bucket, Lease, _ => true);
        IDeferredSweepStore store = new DistributionRegistryStore(driver, $"s3://{bucket}/reg");
        store.BeginSweep().Should().Be(1);
        store.EndSweep();

        // then the tag is whole again where the registry looks (a folder-wide put-back saw the history entry there, took the folder
        // for written again by the registry, and dropped the quarantined current link: the tag, and with it v1, would be lost)
        (await server.KeysAsync(bucket)).Should().BeEquivalentTo(keys);
        using var back = await client.GetObjectAsync(bucket, tag + "/current/link");
        (await new StreamReader(back.ResponseStream).ReadToEndAsync()).Should().Be(link);
    }

    /// <summary>
    /// The lease of the in-process runs and of the holder (renewed every 1.5 s): short, so that a killed run's lease ends soon, and
    /// long enough that a renewal late by seconds on a loaded machine (thread-pool starvation under the synchronous seam) does not
    /// lose it: with 3 s, eight runs at once at a load average of 23 lost theirs and stopped deleting.
    /// </summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);

    private static string Spec(S3Server server, string bucket) => $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}&lease=3s";

    private static S3StorageDriver Driver(S3Server server, string bucket, TimeSpan lease, Func<string, bool> beforeWrite) => new(new S3StorageOptions
    {
        Bucket = bucket, RootPrefix = "reg/docker/registry/v2", Endpoint = server.Endpoint, Region = S3Server.Region, LeaseDuration = lease, BeforeWrite = beforeWrite,
    });

    /// <summary>A real run (untagged collected, no window, no grace period) in process on a driver with the hook; what it ended with.</summary>
    private static async Task<GcOutcome?> RunStoreAsync(S3Server server, string bucket, Func<string, bool> beforeWrite)
    {
        using var driver = Driver(server, bucket, Lease, beforeWrite);
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var store = new DistributionRegistryStore(driver, $"s3://{bucket}/reg", TimeProvider.System) { GracePeriod = TimeSpan.Zero };
        try
        {
            var result = await new GarbageCollector(store, clock).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
            TestContext.Progress.WriteLine($"run: {result.Outcome}, planned {result.Plan.Artifacts.Count} artifacts and {result.Plan.Blobs.Count} blobs, deleted {result.ArtifactsDeleted} and {result.BlobsDeleted}, failed {result.BlobsFailed.Count} {result.ArtifactsFailed.FirstOrDefault().Error} {result.BlobsFailed.FirstOrDefault().Error}");
            return result.Outcome;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or AggregateException)
        {
            return null; // a killed run
        }
    }
}
