using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The Distribution store over the S3 driver (issue 17), reading through the driver's per-folder listing (the flat reader is still to
/// come): one tree, copied file by file into a bucket, reads as it does from the folder; a real run on a bucket is refused (no lock).
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
        var (app, _, _) = tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a", "layer-b");
        tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var arm = tree.Image("team/app", "arm", TimeSpan.FromDays(2), null, "layer-arm");
        tree.Push("team/app", Support.Manifests.Index([app, arm.Manifest]), TimeSpan.FromDays(2), "multi");
        var sbom = tree.Upload("team/app", "{\"sbom\":true}", TimeSpan.FromDays(1));
        tree.Push("team/app", Support.Manifests.Referrer(app, "application/spdx+json", sbom), TimeSpan.FromDays(1));
        tree.Image("other", "x", TimeSpan.FromDays(1), "latest", "layer-x");
        tree.UnfinishedUpload("other", "part"u8.ToArray(), TimeSpan.FromDays(5));
        var bucket = await server.CreateBucketAsync("dist");
        var files = Directory.GetFiles(tree.Root, "*", SearchOption.AllDirectories);
        await server.PutAsync(bucket, files.Select(f => new KeyValuePair<string, byte[]>(
            "reg/" + Path.GetRelativePath(tree.Root, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllBytes(f))));
        return bucket;
    }

    [Test]
    public async Task GcDryRun_OnTheBucket_PlansWhatItPlansOnTheFolder_AndARealRunExits2()
    {
        // given the same tree in a folder and in a bucket
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var bucket = await CopiedTreeAsync(server, tree);
        var spec = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";
        var keys = await server.KeysAsync(bucket);

        // when harbor-gc plans a collection of untagged artifacts on each (no time window: the bucket's objects are minutes old)
        var onDisk = await Run("gc", "--store", $"distribution:{tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "0s");
        var inBucket = await Run("gc", "--store", spec, "--delete-untagged", "--dry-run", "--time-window", "0s");
        var real = await Run("gc", "--store", spec, "--delete-untagged", "--time-window", "0s");

        // then the plans agree, and the real run is refused with the bucket unchanged
        onDisk.Code.Should().Be(0, onDisk.Err);
        inBucket.Code.Should().Be(0, inBucket.Err);
        TestContext.Progress.WriteLine(inBucket.Out);
        Eligible(inBucket.Out).Should().Be(Eligible(onDisk.Out)).And.Contain("eligible for deletion");
        inBucket.Out.Should().Contain($"GC dry run on distribution:s3://{bucket}/reg");
        real.Code.Should().Be(2, real.Out + real.Err);
        real.Err.Should().Contain("has no lock").And.NotContain(server.Secret);
        (await server.KeysAsync(bucket)).Should().BeEquivalentTo(keys);

        Eligible(onDisk.Out).Should().NotStartWith("0 blobs", "the untagged images are eligible");

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
    public async Task ARealRun_OnABucket_IsRefused_ForItHasNoLock_AndNothingChanges()
    {
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("lock");
        await server.PutAsync(bucket, [new("docker/registry/v2/repositories/a/_layers/sha256/" + new string('a', 64) + "/link", "sha256:x"u8.ToArray())]);
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = "docker/registry/v2", Endpoint = server.Endpoint, Region = S3Server.Region });
        IDeferredSweepStore store = new DistributionRegistryStore(driver, $"s3://{bucket}");

        store.Invoking(s => s.BeginSweep()).Should().Throw<InvalidDataException>().WithMessage("*has no lock*--dry-run*nothing was changed*");
        (await server.KeysAsync(bucket)).Should().ContainSingle();
    }
}
