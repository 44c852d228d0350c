using System.Diagnostics;
using Harbor.Gc.Collection;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13, crash safety of the Distribution store's quarantine: the real <c>harbor-gc gc --store distribution:DIR</c> runs as a
/// child process over a generated tree and is killed (SIGKILL, no clean shutdown) at seeded random points, each time on a fresh
/// copy, most of them while the run waits with what it deletes out of the registry's sight. After each kill every live manifest
/// must still be served whole from the tree (its revision, its tags, its blobs and its layer links, none of them left in the
/// quarantine), and the next run (in process) must put the quarantine back and leave exactly what one uninterrupted run leaves.
/// </summary>
[Category("Crash")]
[NonParallelizable] // child processes, seconds each: alone on the machine's two cores
public class DistributionKillTests
{
    private const int Seed = 20_261_203;
    private const int Kills = 8;
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private readonly List<string> _folders = [];

    [TearDown]
    public void TearDown()
    {
        foreach (var folder in _folders)
        {
            HostileFiles.RemoveFolder(folder);
        }
    }

    [Test]
    public async Task Gc_KilledAtRandomPoints_LeavesEveryLiveManifestWhole_AndTheNextRunPutsBackTheQuarantineAndFinishes()
    {
        // given a generated tree, days old, in which a real run deletes hundreds of manifests and thousands of blobs
        var template = NewFolder();
        var tree = new DistributionTree(TimeProvider.System.GetUtcNow(), template); // not disposed: that would delete the template
        new DistributionTreeGenerator(tree, Seed) { Repositories = 20, Manifests = 400, ReleaseTagShare = 0.4, UntaggedShare = 0.15 }.Generate();

        var plan = await new GarbageCollector(Store(template), TimeProvider.System).PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.Artifacts.Count.Should().BeGreaterThan(100, "the tree must hold enough garbage for a run to take a while");
        var live = LiveManifests(template, plan);

        // an uninterrupted run leaves the reference state (and says how long a run takes)
        var clean = Copy(template);
        var watch = Stopwatch.StartNew();
        using (var child = Start(clean))
        {
            await child.WaitAsync(TimeSpan.FromMinutes(3));
            child.ExitCode.Should().Be(0, child.Output);
        }

        var duration = watch.Elapsed;
        var expected = Files(clean);

        // when killed at random points of a run: a quarter of the kills in each part of it (reading and sweeping; the grace
        // period; settling; after)
        var random = new Random(Seed);
        var inQuarantine = 0;
        for (var kill = 0; kill < Kills; kill++)
        {
            var folder = Copy(template);
            var (from, to) = (kill % 4) switch
            {
                0 => (0.0, 0.3),
                1 => (0.3, 0.7),
                2 => (0.7, 1.0),
                _ => (0.9, 1.2),
            };
            var at = duration * (from + ((to - from) * random.NextDouble()));
            using (var child = Start(folder))
            {
                await Task.Delay(at, TimeProvider.System);
                child.Kill();
                await child.WaitAsync(TimeSpan.FromSeconds(30));
            }

            // then every live manifest is whole where the registry looks, killed wherever it was
            var quarantine = Path.Combine(folder, "docker", "registry", "v2", "_harbor-gc", "quarantine");
            if (Directory.Exists(quarantine) && Directory.EnumerateFileSystemEntries(quarantine).Any())
            {
                inQuarantine++;
            }

            foreach (var problem in Whole(folder, live))
            {
                Assert.Fail($"kill {kill} at {at.TotalSeconds:F1} s of a {duration.TotalSeconds:F1} s run: {problem}");
            }

            // and the next run puts back what the killed one left out of sight, then leaves what an uninterrupted run leaves
            var next = await new GarbageCollector(Store(folder), TimeProvider.System).RunAsync(new GcOptions { DeleteUntagged = true });
            next.Outcome.Should().Be(GcOutcome.Completed);
            Files(folder).Should().Equal(expected, $"kill {kill} at {at.TotalSeconds:F1} s, then one more run, leaves what one run leaves");
        }

        inQuarantine.Should().BeGreaterThan(0, "some kills must land while items are out of the registry's sight");
    }

    private static DistributionRegistryStore Store(string root) => new(root, TimeProvider.System) { GracePeriod = TimeSpan.Zero };

    private static HarborGcProcess Start(string root) =>
        HarborGcProcess.Start(["gc", "--delete-untagged", "true", "--store", $"distribution:{root}", "--grace-period", $"{Grace.TotalSeconds}s", "--workers", "2", "--quiet"]);

    /// <summary>Every revision the plan keeps, with what the registry needs to serve it: its tags, blobs and layer links.</summary>
    private static List<(RepositoryName Repository, Digest Digest, string[] Tags, Digest[] Blobs)> LiveManifests(string root, CollectionPlan plan)
    {
        var dead = plan.Artifacts.Select(a => a.Key).ToHashSet();
        var repositories = Path.Combine(root, "docker", "registry", "v2", "repositories");
        var result = new List<(RepositoryName, Digest, string[], Digest[])>();
        foreach (var revisions in Directory.EnumerateDirectories(repositories, "revisions", SearchOption.AllDirectories))
        {
            var repositoryFolder = Path.GetDirectoryName(Path.GetDirectoryName(revisions)!)!;
            var repository = RepositoryName.Parse(Path.GetRelativePath(repositories, repositoryFolder).Replace('\\', '/'));
            var tagsFolder = Path.Combine(repositoryFolder, "_manifests", "tags");
            var tags = Directory.Exists(tagsFolder)
                ? Directory.EnumerateDirectories(tagsFolder).Select(t => (Name: Path.GetFileName(t), Target: File.ReadAllText(Path.Combine(t, "current", "link")))).ToList()
                : [];
            foreach (var folder in Directory.EnumerateDirectories(Path.Combine(revisions, "sha256")))
            {
                var digest = Digest.Parse("sha256:" + Path.GetFileName(folder));
                if (dead.Contains(new ArtifactKey(repository, digest)))
                {
                    continue;
                }

                var bytes = File.ReadAllBytes(Path.Combine(root, "docker", "registry", "v2", "blobs", "sha256", digest.Hex[..2], digest.Hex, "data"));
                var artifact = ArtifactReader.Read(repository, digest, bytes, null, DateTimeOffset.UnixEpoch);
                result.Add((repository, digest, [.. tags.Where(t => t.Target == digest.ToString()).Select(t => t.Name)], [.. artifact.References.Select(r => r.Digest)]));
            }
        }

        return result;
    }

    /// <summary>What is missing, where the registry looks, for a live manifest to be served whole.</summary>
    private static IEnumerable<string> Whole(string root, List<(RepositoryName Repository, Digest Digest, string[] Tags, Digest[] Blobs)> live)
    {
        var v2 = Path.Combine(root, "docker", "registry", "v2");
        foreach (var (repository, digest, tags, blobs) in live)
        {
            var repo = Path.Combine(v2, "repositories", repository.Value);
            if (!File.Exists(Path.Combine(repo, "_manifests", "revisions", "sha256", digest.Hex, "link")))
            {
                yield return $"the revision link of live {repository}@{digest} is gone";
            }

            foreach (var tag in tags.Where(t => !File.Exists(Path.Combine(repo, "_manifests", "tags", t, "current", "link"))))
            {
                yield return $"the tag {repository}:{tag} of a live manifest is gone";
            }

            foreach (var blob in blobs)
            {
                if (!File.Exists(Path.Combine(v2, "blobs", "sha256", blob.Hex[..2], blob.Hex, "data")))
                {
                    yield return $"the blob {blob} of live {repository}@{digest} is gone";
                }

                if (blob != digest && !File.Exists(Path.Combine(repo, "_layers", "sha256", blob.Hex, "link")))
                {
                    yield return $"the layer link of {blob} in {repository}, used by live {digest}, is gone";
                }
            }
        }
    }

    private static string[] Files(string root) =>
        [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)];

    private string Copy(string template)
    {
        var folder = NewFolder();
        Shell.Run("cp", ["-a", template + "/.", folder]);
        return folder;
    }

    private string NewFolder()
    {
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var folder = Path.Combine(parent, "harbor-gc-kill", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        _folders.Add(folder);
        return folder;
    }
}
