using System.Diagnostics;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Collection;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 4, crash safety on disk: the real <c>harbor-gc gc --store litedb:PATH</c> runs as a child process over a seeded random
/// registry and is killed (SIGKILL, the whole process tree, no clean shutdown) at seeded random points, each time on a fresh copy of
/// the store. After each kill the store must open (LiteDB recovers its log and its shared-mode mutex), no artifact may reference a
/// blob whose bytes are missing or wrong, every blob record the sweep has not committed to deleting must have its file, and the next
/// run (in process) must leave exactly what one uninterrupted run leaves.
/// </summary>
[Category("Crash")]
[NonParallelizable] // child processes, seconds each: alone on the machine's two cores
public class LiteDbKillTests
{
    private const int Seed = 20_260_301;
    private const int Scale = 60;
    private const int Kills = 8;
    private static readonly DateTimeOffset After = RandomRegistry.Now.AddDays(1); // later than every record, as the child's clock is
    private static readonly (double From, double To)[] Windows = [(0, 0.15), (0.15, 0.5), (0.5, 0.9), (0.9, 1.1)]; // of a run's duration
    private StoreFactory _stores = null!;

    [SetUp]
    public void SetUp() => _stores = new StoreFactory(StoreKind.LiteDb);

    [TearDown]
    public void TearDown() => _stores.Dispose();

    /// <summary>Where a kill landed, read from the store afterwards.</summary>
    private enum Phase
    {
        BeforeTheSweep,
        AmongTheArtifacts,
        AmongTheBlobs,
        AfterTheSweep,
    }

    [Test]
    public async Task Gc_KilledAtRandomPoints_StoreOpens_NoArtifactLosesBytes_AndTheNextRunFinishesTheWork()
    {
        // given a LiteDB store holding a random registry in which a real run deletes thousands of items
        var template = _stores.NewFolder();
        var description = BuildTemplate(template);
        var (plan, expected) = await ReferenceAsync(template);
        var files = BlobFiles(template).Count;
        var deadFiles = plan.Blobs.Count(b => File.Exists(Path.Combine(template, LiteDbStoreOptions.DefaultBlobsFolder, Relative(b.Digest))));
        deadFiles.Should().BeGreaterThan(500, "the registry must be large enough for a run to take a while: " + description);

        // an uninterrupted child run reaches the reference state (and says how long a run takes)
        var clean = Copy(template);
        var watch = Stopwatch.StartNew();
        using (var child = StartGc(clean))
        {
            await child.WaitAsync(TimeSpan.FromSeconds(180)); // a safety net: about 6 s on an idle machine
            child.ExitCode.Should().Be(0, child.Output);
        }

        var duration = watch.Elapsed;
        TestContext.Out.WriteLine($"uninterrupted run: {duration.TotalMilliseconds:N0} ms; plan: {plan.Artifacts.Count} artifacts, {plan.Blobs.Count} blobs ({deadFiles} files of {files})");
        await FinishAndCheckAsync(clean, plan, expected, "the uninterrupted run");

        var random = new Random(Seed);
        var phases = new List<Phase>();
        for (var kill = 0; kill < Kills; kill++)
        {
            var folder = Copy(template);
            string when;
            using (var child = StartGc(folder))
            {
                if (kill % 2 == 0)
                {
                    // a random moment in each part of the run: its start (opening the store, the snapshot, the plan), the first
                    // deletions, the middle of the sweep, and its end (or just after it)
                    var (from, to) = Windows[kill / 2];
                    var delay = duration * (from + (random.NextDouble() * (to - from)));
                    when = $"after {delay.TotalMilliseconds:N0} ms";
                    await Task.Delay(delay);
                }
                else
                {
                    // mid-sweep for certain: once the blob folder has shrunk by a random number of files
                    var shrink = random.Next(1, deadFiles / 2);
                    when = $"once {shrink} blob files were gone";
                    while (!child.HasExited && BlobFiles(folder).Count > files - shrink)
                    {
                        await Task.Delay(5);
                    }
                }

                child.Kill();
                await child.WaitAsync(TimeSpan.FromSeconds(30));
            }

            var because = $"kill {kill} ({when}), seed {Seed}";
            var phase = AssertConsistentAfterTheKill(folder, plan, because);
            phases.Add(phase);
            TestContext.Out.WriteLine($"{because}: {phase}");
            await FinishAndCheckAsync(folder, plan, expected, because);
        }

        phases.Should().Contain(p => p == Phase.AmongTheBlobs, "at least one kill must land in the middle of the blob sweep, or the test tests nothing");
        phases.Should().Contain(p => p == Phase.BeforeTheSweep || p == Phase.AmongTheArtifacts, "the random kills must cover the run's start too");
    }

    /// <summary>Writes the random registry into <paramref name="folder"/> (direct mode) and closes it.</summary>
    private static string BuildTemplate(string folder)
    {
        var time = new ManualClock(RandomRegistry.Now);
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), time));
        return RandomRegistry.Fill(store, time, Seed, Scale);
    }

    /// <summary>The plan of a run with a zero time window, and the state one uninterrupted run leaves (in process, on a copy).</summary>
    private async Task<(CollectionPlan Plan, (HashSet<ArtifactKey> Artifacts, HashSet<Digest> Blobs, HashSet<(RepositoryName, string, Digest)> Tags) State)> ReferenceAsync(string template)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(Copy(template)), new FakeTimeProvider(After)));
        var result = await new GarbageCollector(store.Inner, new FakeTimeProvider(After)).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        result.Outcome.Should().Be(GcOutcome.Completed);
        return (result.Plan, GcPropertyTests.Snapshot(store));
    }

    /// <summary>
    /// Reopens a killed run's store (shared mode, as the child had it) and checks it: every referenced blob has a record and its
    /// bytes, which hash to its digest; every record the sweep has not committed to deleting (<c>none</c>, <c>delete</c>) has its
    /// file; every blob file has a record (the sweep deletes the bytes before the record); no temporary file was left. Returns where
    /// the kill landed.
    /// </summary>
    private static Phase AssertConsistentAfterTheKill(string folder, CollectionPlan plan, string because)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, connection: LiteDbConnectionMode.Shared), new FakeTimeProvider(After)));
        var blobs = store.GetBlobs().ToDictionary(b => b.Digest);
        var onDisk = BlobFiles(folder);
        onDisk.Where(f => f.StartsWith(".upload-", StringComparison.Ordinal)).Should().BeEmpty("a GC run writes no temporary files: " + because);
        foreach (var artifact in store.GetArtifacts())
        {
            foreach (var reference in artifact.References.Where(r => !r.IsForeign))
            {
                blobs.Should().ContainKey(reference.Digest, $"{artifact.Key} references it: {because}");
                AssertBytes(folder, reference.Digest, $"{artifact.Key} references it: {because}");
            }
        }

        foreach (var blob in blobs.Values.Where(b => b.Status is BlobStatus.None or BlobStatus.Delete))
        {
            AssertBytes(folder, blob.Digest, $"its record says {blob.Status}: {because}");
        }

        foreach (var file in onDisk.Where(f => !f.StartsWith('.')))
        {
            blobs.Keys.Select(Relative).Should().Contain(file, "the sweep deletes a blob's bytes before its record: " + because);
        }

        var artifactsGone = plan.Artifacts.Count(a => store.GetArtifact(a.Key) is null);
        var blobsTouched = plan.Blobs.Count(b => !blobs.TryGetValue(b.Digest, out var now) || now.Status != b.Status);
        return (artifactsGone, blobsTouched) switch
        {
            (0, 0) => Phase.BeforeTheSweep,
            (_, 0) => Phase.AmongTheArtifacts,
            _ when artifactsGone == plan.Artifacts.Count && blobs.Keys.Intersect(plan.Blobs.Select(b => b.Digest)).Any() is false => Phase.AfterTheSweep,
            _ => Phase.AmongTheBlobs,
        };
    }

    /// <summary>Runs GC to completion in process and checks the store against one uninterrupted run's.</summary>
    private static async Task FinishAndCheckAsync(string folder, CollectionPlan plan, (HashSet<ArtifactKey> Artifacts, HashSet<Digest> Blobs, HashSet<(RepositoryName, string, Digest)> Tags) expected, string because)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), new FakeTimeProvider(After)));
        var result = await new GarbageCollector(store.Inner, new FakeTimeProvider(After)).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        result.Outcome.Should().Be(GcOutcome.Completed, because);
        var after = GcPropertyTests.Snapshot(store);
        after.Artifacts.Should().BeEquivalentTo(expected.Artifacts, because);
        after.Blobs.Should().BeEquivalentTo(expected.Blobs, because);
        after.Tags.Should().BeEquivalentTo(expected.Tags, because);
        after.Artifacts.Should().NotIntersectWith(plan.Artifacts.Select(a => a.Key), "everything garbage is gone: " + because);
        after.Blobs.Should().NotIntersectWith(plan.Blobs.Select(b => b.Digest), "everything garbage is gone: " + because);
        BlobFiles(folder).Should().BeEquivalentTo(after.Blobs.Select(Relative), "exactly the live blobs keep their bytes: " + because);
        GcInvariants.AssertNoArtifactLostABlob(store, because);
    }

    private static void AssertBytes(string folder, Digest digest, string because)
    {
        var path = Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder, Relative(digest));
        File.Exists(path).Should().BeTrue($"{digest} must have its bytes: {because}");
        Digest.Sha256Of(File.ReadAllBytes(path)).Should().Be(digest, $"the bytes of {digest} must hash to it: {because}");
    }

    /// <summary>The files of the blob folder, relative to it (<c>sha256/ab/&lt;hex&gt;</c>), without the folder's marker.</summary>
    private static List<string> BlobFiles(string folder)
    {
        var root = Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder);
        return [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetDirectoryName(f) != root)
            .Select(f => Path.GetFileName(f).StartsWith('.') ? Path.GetFileName(f) : Path.GetRelativePath(root, f).Replace('\\', '/'))];
    }

    private static string Relative(Digest digest) => $"sha256/{digest.Hex[..2]}/{digest.Hex}";

    private string Copy(string template)
    {
        var folder = _stores.NewFolder();
        StoreFactory.CopyFolder(template, folder);
        return folder;
    }

    private static HarborGcProcess StartGc(string folder) =>
        HarborGcProcess.Start(["gc", "--delete-untagged", "true", "--store", $"litedb:{StoreFactory.Options(folder).DatabasePath}", "--time-window", "0"], folder);
}
