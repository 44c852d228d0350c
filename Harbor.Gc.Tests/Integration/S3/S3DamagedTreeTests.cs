using System.Text;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>What is in the place of a manifest's <c>data</c> object in the bucket (and of its file in the folder).</summary>
public enum S3ManifestDataDamage
{
    /// <summary>Gone (the blob's other objects, none here, would stay).</summary>
    Missing,

    /// <summary>Zero bytes.</summary>
    Empty,

    /// <summary>Its first half.</summary>
    Truncated,

    /// <summary>Text that is not JSON.</summary>
    NotJson,

    /// <summary>Another manifest's bytes: valid, but not hashing to the digest.</summary>
    AnotherManifest,

    /// <summary>5 MiB of zeros, over the 4 MiB cap of a manifest.</summary>
    OverTheCap,

    /// <summary>A "folder": no <c>data</c> object, but an object under <c>data/</c>.</summary>
    Folder,
}

/// <summary>
/// Damaged trees on <c>distribution:s3://</c> (issue 17: what the folder store guarantees holds on S3; the bucket counterpart of
/// <see cref="HostileTreeTests"/>'s unreadable manifests and bad repository names, the ones a bucket can hold). Written into a bucket
/// by another tool or a broken registry, a tagged manifest whose data cannot be read as a manifest is kept as unknown and keeps every
/// blob its repository links, with a warning naming the object, exactly as the same damage in a folder; and a repository prefix
/// whose name is no repository's makes every command exit 2 naming it, the bucket unchanged.
/// </summary>
[TestFixture]
[Category("Integration")]
[Category("S3")]
[NonParallelizable]
internal sealed class S3DamagedTreeTests
{
    [Test]
    public async Task LiveManifestWhoseDataCannotBeRead_IsKeptAsUnknown_AndKeepsEveryBlobItsRepositoryLinks_AsInTheFolder([Values] S3ManifestDataDamage damage)
    {
        // given a tree where team/app:v1's manifest data is damaged, beside an untagged image whose blobs only it references, in a
        // folder and (the same files) in a bucket
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var (v1, _, _) = tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a", "layer-b");
        var (old, oldConfig, oldLayers) = tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var (other, _, _) = tree.Image("other", "x", TimeSpan.FromDays(8), "latest", "layer-x");
        var dead = tree.Image("other", "dead", TimeSpan.FromDays(8), null, "layer-dead");
        var data = Path.Combine(tree.BlobFolder(v1), "data");
        var saved = File.ReadAllBytes(data);
        Damage(data, damage, saved, File.ReadAllBytes(Path.Combine(tree.BlobFolder(other), "data")));
        var linked = Directory.GetDirectories(Path.Combine(tree.Repo("team/app"), "_layers", "sha256")).Select(f => Digest.Parse("sha256:" + Path.GetFileName(f))).ToList();
        linked.Should().Contain([oldConfig, oldLayers[0]], "the untagged image's blobs are linked by team/app too");
        var bucket = await server.CopyTreeAsync(tree.Root, "damaged");
        var spec = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";
        var dataKey = "reg/" + Path.GetRelativePath(tree.Root, data).Replace(Path.DirectorySeparatorChar, '/');

        // when harbor-gc plans a collection on each, then runs it for real on each
        var onDisk = await RunAsync("--store", $"distribution:{tree.Root}", "--dry-run");
        var inBucket = await RunAsync("--store", spec, "--dry-run");
        var realOnDisk = await RunAsync("--store", $"distribution:{tree.Root}");
        var real = await RunAsync("--store", spec);

        // then both plan the same: v1 kept, and every blob team/app links kept with it (v1 might reference any), the untagged
        // image's config and layer too; the untagged manifests go. The bucket's run warns naming the object as the folder's names
        // the file
        inBucket.Code.Should().Be(0, inBucket.Output);
        onDisk.Code.Should().Be(0, onDisk.Output);
        inBucket.Artifacts.Should().Equal(onDisk.Artifacts).And.BeEquivalentTo($"other@{dead.Manifest}", $"team/app@{old}");
        inBucket.Blobs.Should().Equal(onDisk.Blobs).And.NotIntersectWith(linked.Select(d => d.ToString()));
        onDisk.Warnings.Should().Contain(w => w.Contains(data, StringComparison.Ordinal), string.Join('\n', onDisk.Warnings));
        inBucket.Warnings.Should().Contain(w => w.Contains(dataKey.Replace("reg/", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal),
            $"a warning names {dataKey}; they were:\n{string.Join('\n', inBucket.Warnings)}");

        // and the real runs leave the same objects as files: v1's damaged data, its revision, and every blob team/app links
        realOnDisk.Code.Should().Be(0, realOnDisk.Output);
        real.Code.Should().Be(0, real.Output);
        var files = Directory.GetFiles(tree.Root, "*", SearchOption.AllDirectories)
            .Select(f => "reg/" + Path.GetRelativePath(tree.Root, f).Replace(Path.DirectorySeparatorChar, '/'));
        var keys = await server.KeysAsync(bucket);
        keys.Should().BeEquivalentTo(files);
        foreach (var blob in linked)
        {
            keys.Should().Contain($"reg/docker/registry/v2/blobs/sha256/{blob.Hex[..2]}/{blob.Hex}/data", $"team/app links {blob}, which v1 might reference");
        }
    }

    [TestCase("UPPER")]
    [TestCase("a..b")]
    [TestCase("-lead")]
    public async Task RepositoryPrefixWithABadName_EveryCommandExits2NamingIt_AndTheBucketIsUnchanged(string name)
    {
        // given a tree in a bucket, and a revision link under repositories/library/NAME, which no repository can be called
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var (v1, _, _) = tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a");
        tree.Image("library/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var bucket = await server.CopyTreeAsync(tree.Root, "badname");
        await server.PutAsync(bucket, [new($"reg/docker/registry/v2/repositories/library/{name}/_manifests/revisions/sha256/{v1.Hex}/link", Encoding.UTF8.GetBytes(v1.ToString()))]);
        var before = await server.ObjectsAsync(bucket);
        var spec = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";
        var policy = Path.Combine(tree.Root, "..", $"policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(policy, """
            {"algorithm": "or", "rules": [{"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "scope": {"level": "project", "ref": "library"}}
            """);

        try
        {
            // when every command that reads the store runs on it
            string[][] commands =
            [
                ["gc", "--delete-untagged", "true", "--time-window", "0", "--dry-run", "--store", spec],
                ["gc", "--delete-untagged", "true", "--time-window", "0", "--store", spec],
                ["explain", v1.ToString(), "--store", spec],
                ["retention", "run", "--policy", policy, "--store", spec],
            ];
            foreach (var command in commands)
            {
                var (code, output) = await CliAsync(command);

                // then each exits 2 naming the prefix, and the bucket is as it was
                code.Should().Be(2, $"{string.Join(' ', command)} printed:\n{output}");
                output.Should().Contain($"library/{name}", string.Join(' ', command));
                (await server.ObjectsAsync(bucket)).Should().Equal(before, string.Join(' ', command));
            }
        }
        finally
        {
            File.Delete(policy);
        }
    }

    private static void Damage(string data, S3ManifestDataDamage damage, byte[] saved, byte[] anotherManifest)
    {
        switch (damage)
        {
            case S3ManifestDataDamage.Missing:
                File.Delete(data);
                break;
            case S3ManifestDataDamage.Empty:
                File.WriteAllBytes(data, []);
                break;
            case S3ManifestDataDamage.Truncated:
                File.WriteAllBytes(data, saved[..(saved.Length / 2)]);
                break;
            case S3ManifestDataDamage.NotJson:
                File.WriteAllBytes(data, Encoding.UTF8.GetBytes("this is not a manifest"));
                break;
            case S3ManifestDataDamage.AnotherManifest:
                File.WriteAllBytes(data, anotherManifest);
                break;
            case S3ManifestDataDamage.OverTheCap:
                File.WriteAllBytes(data, new byte[5 << 20]);
                break;
            case S3ManifestDataDamage.Folder:
                File.Delete(data);
                Directory.CreateDirectory(data);
                File.WriteAllBytes(Path.Combine(data, "x"), [1]);
                break;
        }
    }

    /// <summary>A real run or (with <c>--dry-run</c>) a plan, no window, a minute on; what its JSON report lists.</summary>
    private static async Task<(int Code, string Output, List<string> Artifacts, List<string> Blobs, List<string> Warnings)> RunAsync(params string[] args)
    {
        var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-s3-damaged-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = await CliAsync(["gc", "--delete-untagged", "true", "--time-window", "0", "--grace-period", "0s", .. args, "--report-json", report]);
            if (!File.Exists(report))
            {
                return (code, output, [], [], []);
            }

            using var json = JsonDocument.Parse(File.ReadAllBytes(report));
            var root = json.RootElement;
            return (code, output,
                [.. root.GetProperty("artifacts").EnumerateArray().Select(a => $"{a.GetProperty("repository").GetString()}@{a.GetProperty("digest").GetString()}").Order(StringComparer.Ordinal)],
                [.. root.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString()!).Order(StringComparer.Ordinal)],
                [.. root.GetProperty("warnings").EnumerateArray().Select(w => $"{w.GetProperty("location").GetString()}: {w.GetProperty("message").GetString()}")]);
        }
        finally
        {
            File.Delete(report);
        }
    }

    private static async Task<(int Code, string Output)> CliAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var code = await Harbor.Gc.Runner.Program.RunAsync(args, stdout, stderr, clock, CancellationToken.None);
        return (code, $"{stdout}{stderr}");
    }
}
