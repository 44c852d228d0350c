using System.Globalization;
using Harbor.Gc.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// Pushes through the real registry into the bucket while harbor-gc collects it for real (issue 17; issue 13's guarantee on S3):
/// a generated tree is copied into the registry's bucket, a dry run plans its garbage, then a real run starts as a process of its
/// own and clients push images reusing the garbage (re-tags of dead manifests, mounts and uploads of dead blobs) through the
/// registry's HTTP API until the run exits. Every push the registry accepted must then pull whole from a restarted registry.
/// A smaller cousin of <see cref="DistributionPushRaceIntegrationTests"/>: a bucket on the test server takes about 150 writes a
/// second, so the tree has hundreds of objects, not thousands. At this size few pushes meet an item while it is out of sight (one
/// refused request in a run): the test also passed once with <c>--grace-period 0s</c>, so it shows accepted pushes of every kind
/// pulling whole on S3; <see cref="S3GracePeriodPushTests"/> shows that the grace period is what keeps them whole (it holds two
/// pushes across the run's moves, and fails with <c>--grace-period 0s</c>).
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3PushRaceTests : RegistryIntegrationTest
{
    private const int Clients = 3;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    [Test]
    public async Task PushesReusingWhatThePlanMarkedDead_DuringARealRunOnTheBucket_EveryAcceptedPushPullsWhole()
    {
        var work = Directory.CreateTempSubdirectory("harbor-gc-s3-race-");
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        try
        {
            // given a generated tree (repositories sharing base layers, indexes, signatures, referrers, moving tags) in the bucket
            var tree = new DistributionTree(TimeProvider.System.GetUtcNow(), Path.Combine(work.FullName, "tree"));
            var stats = new DistributionTreeGenerator(tree, 17_003) { Repositories = 4, Manifests = 30, BaseLayers = 6, ReleaseTagShare = 0.25, UntaggedShare = 0.2 }.Generate();
            var s3 = Registry.S3!;
            var files = Directory.GetFiles(tree.Root, "*", SearchOption.AllDirectories);
            await S3Server.Shared.PutAsync(s3.Bucket, files.Select(f => new KeyValuePair<string, byte[]>(
                $"{S3Registry.RootDirectory}/" + Path.GetRelativePath(tree.Root, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllBytes(f))));
            await Task.Delay(TimeSpan.FromSeconds(2), TimeProvider.System); // the server dates objects by the next whole second

            // and the garbage a dry run plans (no window: every object is seconds old), with its bytes, read before the real run
            var planFile = Path.Combine(work.FullName, "plan.json");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await Program.RunAsync(["gc", "--delete-untagged", "true", "--store", StoreSpec, "--time-window", "0", "--dry-run", "--report-json", planFile, "--quiet"],
                stdout, stderr, TimeProvider.System, CancellationToken.None);
            code.Should().Be(0, $"{stdout}\n{stderr}");
            var garbage = PlannedGarbage.Read(planFile, tree);
            garbage.Manifests.Count.Should().BeGreaterThanOrEqualTo(8, stats.ToString());

            // when a real run starts as a process of its own, and clients push images reusing the dead items until it exits
            var log = new AcceptedPushLog(TimeProvider.System);
            var pusher = new PushRaceClient(Client, garbage, log, "s3race", 17_003);
            string[] command = ["gc", "--delete-untagged", "true", "--store", StoreSpec, "--time-window", "0", "--grace-period", "3s", "--workers", "2", "--quiet"];
            using var stop = new CancellationTokenSource();
            var planned = time.GetTimestamp();
            using var gc = HarborGcProcess.Start(command);
            var pushing = pusher.PushUntilAsync(Clients, stop.Token);
            try
            {
                await gc.WaitAsync(RunTimeout);
            }
            finally
            {
                await stop.CancelAsync();
            }

            await pushing;
            var ran = time.GetTimestamp();

            // then the run succeeded, and from a restarted registry every accepted push pulls whole
            gc.ExitCode.Should().Be(0, gc.Output);
            await Registry.RestartAsync();
            var accepted = log.Accepted;
            var broken = await new PullVerifier(Client, tree).VerifyAsync(accepted);
            var summary = string.Create(CultureInfo.InvariantCulture,
                $"tree and plan {time.GetElapsedTime(started, planned).TotalSeconds:N1} s, run {time.GetElapsedTime(planned, ran).TotalSeconds:N1} s, pulls {time.GetElapsedTime(ran).TotalSeconds:N1} s; {stats}; plan: {garbage.Manifests.Count} dead manifests, {garbage.Blobs.Count} dead blobs; {accepted.Count} pushes accepted during the run, {log.Refusals.Values.Sum()} requests refused, {log.GaveUp.Values.Sum()} given up, {broken.Count} broken");
            TestContext.Progress.WriteLine(summary);
            accepted.Count.Should().BeGreaterThan(10, summary);
            broken.Should().BeEmpty($"every push the registry accepted must pull whole ({summary}); the first broken:\n{string.Join("\n", broken.Take(5))}");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
