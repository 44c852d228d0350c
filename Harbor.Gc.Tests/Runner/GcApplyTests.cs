using System.Text.Json;
using System.Text.Json.Nodes;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// <c>harbor-gc gc --apply PLAN</c> (DESIGN.md §2): on a quiet store, applying a dry run's saved plan leaves exactly what a direct
/// real run leaves; a plan's fields never authorize a deletion the live store does not justify.
/// </summary>
public class GcApplyTests
{
    private static readonly DateTimeOffset Now = GcCommandTests.Now;
    private readonly List<string> _folders = [];

    [TearDown]
    public void TearDown()
    {
        foreach (var folder in _folders)
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        _folders.Clear();
    }

    private string NewFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "harbor-gc-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        _folders.Add(folder);
        return folder;
    }

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => GcCommandTests.Run(args);

    /// <summary>Every file and folder under <paramref name="root"/>, relative to it, sorted.</summary>
    private static List<string> Entries(string root) =>
        [.. Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(e => Path.GetRelativePath(root, e)).Order(StringComparer.Ordinal)];

    /// <summary>The blobs whose data a Distribution tree holds.</summary>
    private static List<string> BlobsOf(string root) =>
        [.. Directory.EnumerateFiles(Path.Combine(root, "docker", "registry", "v2", "blobs"), "data", SearchOption.AllDirectories)
            .Select(f => Path.GetFileName(Path.GetDirectoryName(f)!)).Order(StringComparer.Ordinal)];

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(file));
        }
    }

    private static async Task<HarborGcProcess> RunProcess(params string[] args)
    {
        var process = HarborGcProcess.Start(GcCommandTests.NoGrace(args));
        await process.WaitAsync(TimeSpan.FromMinutes(3));
        process.ExitCode.Should().Be(0, process.Output);
        return process;
    }

    private static JsonElement Result(string report) => JsonDocument.Parse(File.ReadAllText(report)).RootElement.GetProperty("result");

    [Test]
    public async Task Apply_InAFreshProcess_OnACopyOfTheSample_LeavesExactlyTheTreeADirectRealRunLeaves()
    {
        // given two copies of the sample registry, and a dry run's plan of the first (time window 0), saved by a process of its own
        var folder = NewFolder();
        var applied = Path.Combine(folder, "applied");
        var direct = Path.Combine(folder, "direct");
        CopyFolder(Path.Combine(RepositoryRoot.Find(), "samples", "registry"), applied);
        CopyFolder(Path.Combine(RepositoryRoot.Find(), "samples", "registry"), direct);
        var plan = Path.Combine(folder, "plan.json");
        await RunProcess("gc", "--delete-untagged", "true", "--store", $"distribution:{applied}", "--dry-run", "--time-window", "0", "--report-json", plan);

        // when another process applies it, and a direct real run with the same options collects the second copy
        var appliedReport = Path.Combine(folder, "applied.json");
        var directReport = Path.Combine(folder, "direct.json");
        await RunProcess("gc", "--store", $"distribution:{applied}", "--apply", plan, "--report-json", appliedReport);
        await RunProcess("gc", "--delete-untagged", "true", "--store", $"distribution:{direct}", "--time-window", "0", "--report-json", directReport);

        // then both trees hold the same files and folders: every planned blob and layer link went, nothing was kept
        Entries(applied).Should().Equal(Entries(direct));
        BlobsOf(applied).Should().Equal(BlobsOf(direct)).And.HaveCount(35 - 11);
        var result = Result(appliedReport);
        result.GetProperty("artifactsDeleted").GetInt32().Should().Be(4);
        result.GetProperty("blobsDeleted").GetInt32().Should().Be(11);
        result.GetProperty("layerLinksDeleted").GetInt32().Should().Be(7);
        result.GetProperty("blobsKept").GetArrayLength().Should().Be(0, "nothing changed since the plan");
        result.GetProperty("layerLinksKept").GetArrayLength().Should().Be(0);
        Result(directReport).GetProperty("blobsDeleted").GetInt32().Should().Be(11);
    }

    [Test]
    public async Task Apply_OnAGeneratedTree_LeavesExactlyTheTreeADirectRealRunLeaves()
    {
        // given two copies of a generated tree of a few hundred manifests (shared base layers, moved tags, multi-arch indexes,
        // signatures, referrers, unreferenced uploads), and a dry run's plan of the first, saved to a file
        var folder = NewFolder();
        var memory = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(); // thousands of small files: in memory when the system has it
        using var applied = new DistributionTree(Now, Path.Combine(memory, "harbor-gc-tests", Guid.NewGuid().ToString("N")));
        using var direct = new DistributionTree(Now, Path.Combine(memory, "harbor-gc-tests", Guid.NewGuid().ToString("N")));
        foreach (var tree in new[] { applied, direct })
        {
            new DistributionTreeGenerator(tree, seed: 13) { Repositories = 16, Manifests = 320, BaseLayers = 40 }.Generate();
        }

        Entries(applied.Root).Should().Equal(Entries(direct.Root), "the same seed writes the same tree");
        var plan = Path.Combine(folder, "plan.json");
        (await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{applied.Root}", "--dry-run", "--time-window", "0", "--report-json", plan)).Code.Should().Be(0);

        // when the plan is applied by a new store (as in a new process), and a direct real run collects the other copy
        var appliedRun = await Run("gc", "--store", $"distribution:{applied.Root}", "--apply", plan, "--report-json", Path.Combine(folder, "applied.json"));
        var directRun = await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{direct.Root}", "--time-window", "0", "--report-json", Path.Combine(folder, "direct.json"));

        // then the trees are the same, file for file
        appliedRun.Code.Should().Be(0, appliedRun.Err);
        directRun.Code.Should().Be(0, directRun.Err);
        Entries(applied.Root).Should().Equal(Entries(direct.Root));
        var appliedResult = Result(Path.Combine(folder, "applied.json"));
        var directResult = Result(Path.Combine(folder, "direct.json"));
        foreach (var field in new[] { "artifactsDeleted", "blobsDeleted", "layerLinksDeleted", "uploadsDeleted" })
        {
            appliedResult.GetProperty(field).GetInt32().Should().Be(directResult.GetProperty(field).GetInt32(), field);
        }

        directResult.GetProperty("blobsDeleted").GetInt32().Should().BeGreaterThan(100);
        directResult.GetProperty("layerLinksDeleted").GetInt32().Should().BeGreaterThan(100);
        appliedResult.GetProperty("blobsKept").GetArrayLength().Should().Be(0);
    }

    [Test]
    public async Task Apply_OnALiteDbStore_LeavesExactlyTheRecordsAndFilesADirectRealRunLeaves()
    {
        // given two copies of a random LiteDB store (images sharing layers, indexes, accessories, tags that moved, times around the
        // time window, blobs an interrupted run left in delete or deleting), and a dry run's plan of the first
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var template = stores.NewFolder();
        var clock = new ManualClock(RandomRegistry.Now);
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(template, create: true), clock)))
        {
            RandomRegistry.Fill(store, clock, seed: 7, scale: 8);
        }

        var applied = stores.NewFolder();
        var direct = stores.NewFolder();
        CopyFolder(template, applied);
        CopyFolder(template, direct);
        var plan = Path.Combine(NewFolder(), "plan.json");
        var appliedDb = Path.Combine(applied, "harbor-gc.db");
        var directDb = Path.Combine(direct, "harbor-gc.db");
        (await Run("gc", "--delete-untagged", "true", "--store", $"litedb:{appliedDb}", "--dry-run", "--report-json", plan)).Code.Should().Be(0);

        // when the plan is applied, and a direct real run collects the other copy
        var appliedRun = await Run("gc", "--store", $"litedb:{appliedDb}", "--apply", plan, "--report-json", "-");
        var directRun = await Run("gc", "--delete-untagged", "true", "--store", $"litedb:{directDb}", "--report-json", "-");

        // then the stores hold the same records and the same blob files
        appliedRun.Code.Should().Be(0, appliedRun.Err);
        directRun.Code.Should().Be(0, directRun.Err);
        JsonDocument.Parse(directRun.Out).RootElement.GetProperty("result").GetProperty("blobsDeleted").GetInt32().Should().BeGreaterThan(10);
        Records(appliedDb).Should().Equal(Records(directDb));
        Entries(applied).Where(e => e.StartsWith("blobs", StringComparison.Ordinal)).Should()
            .Equal(Entries(direct).Where(e => e.StartsWith("blobs", StringComparison.Ordinal)));
    }

    /// <summary>Every record of a LiteDB store as text, sorted: artifacts with their version, tags, blobs with their status, links.</summary>
    private static List<string> Records(string database)
    {
        using var store = new TestStore(LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database }, new FakeTimeProvider(Now)));
        return
        [
            .. store.GetArtifacts().Select(a => $"artifact {a.Key} {a.Version}")
                .Concat(store.GetTags().Select(t => $"tag {t.Repository}:{t.Name} {t.Digest}"))
                .Concat(store.GetBlobs().Select(b => $"blob {b.Digest} {b.Size} {b.Status} {b.LastTouchedAt:O} {store.HasBlobContent(b.Digest)}"))
                .Concat(store.GetAccessoryLinks().Select(l => $"accessory {l}"))
                .Order(StringComparer.Ordinal),
        ];
    }

    /// <summary>The tree of <see cref="GcCommandTests"/> (v1 tagged, "old" untagged, three days old), and an upload started ten minutes ago.</summary>
    private static Scene NewScene()
    {
        var tree = new DistributionTree(Now);
        var v1 = tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        var old = tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        var upload = tree.UnfinishedUpload("library/app", "still-uploading"u8.ToArray(), TimeSpan.FromMinutes(10));
        return new Scene(tree, v1.Manifest, v1.Layers[1], old.Manifest, old.Layers[1], upload);
    }

    private sealed record Scene(DistributionTree Tree, Digest V1, Digest App1, Digest Old, Digest OldOnly, string Upload) : IDisposable
    {
        public string Store => $"distribution:{Tree.Root}";

        public void Dispose() => Tree.Dispose();
    }

    /// <summary>What a snapshot of the tree says, as a collector would read it (versions, times, sizes, uploads).</summary>
    private static async Task<TestStore.CollectingSink> ReadAsync(string root)
    {
        var records = new TestStore.CollectingSink();
        await new DistributionRegistryStore(root, new FakeTimeProvider(Now)).ReadSnapshotAsync(records);
        return records;
    }

    [Test]
    public async Task Apply_APlanEditedToListLiveThings_DeletesNoneOfThem_AndReportsThemKept()
    {
        // given a dry run's plan (the untagged "old" image) edited by hand to add, with the values the store holds: the tagged
        // image v1 (its true version), its own layer as "deleting" (as if a run had committed it), that layer's link in the
        // repository, and an upload a client is still writing
        using var scene = NewScene();
        var (tree, v1, app1, old, upload) = (scene.Tree, scene.V1, scene.App1, scene.Old, scene.Upload);
        var plan = Path.Combine(NewFolder(), "plan.json");
        (await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{tree.Root}", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var live = await ReadAsync(tree.Root);
        var artifact = live.Artifacts.Single(a => a.Digest == v1);
        var blob = live.Blobs.Single(b => b.Digest == app1);
        var link = live.LayerLinks.Single(l => l.Digest == app1);
        var started = live.Uploads.Single(u => u.Id == upload);
        var json = JsonNode.Parse(File.ReadAllText(plan))!;
        json["artifacts"]!.AsArray().Add(new JsonObject
        {
            ["repository"] = "library/app", ["digest"] = v1.ToString(), ["tags"] = new JsonArray(), ["reason"] = "untagged",
            ["accessoryType"] = null, ["subject"] = null, ["mediaType"] = artifact.MediaType, ["size"] = artifact.Size,
            ["version"] = artifact.Version, ["stage"] = 0, ["dependsOn"] = new JsonArray(),
        });
        json["blobs"]!.AsArray().Add(new JsonObject
        {
            ["digest"] = app1.ToString(), ["size"] = blob.Size, ["lastTouchedAt"] = GcReportWriter.Time(blob.LastTouchedAt), ["status"] = "deleting",
            ["repositories"] = new JsonArray(),
        });
        json["layerLinks"]!.AsArray().Add(new JsonObject
        {
            ["repository"] = "library/app", ["digest"] = app1.ToString(), ["createdAt"] = GcReportWriter.Time(link.CreatedAt),
        });
        json["uploads"]!.AsArray().Add(new JsonObject
        {
            ["repository"] = "library/app", ["id"] = upload, ["startedAt"] = GcReportWriter.Time(started.StartedAt!.Value), ["size"] = started.Size,
            ["lastWrittenAt"] = GcReportWriter.Time(started.LastWrittenAt),
        });
        File.WriteAllText(plan, json.ToJsonString());

        // when it is applied
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{tree.Root}", "--apply", plan, "--report-json", "-");

        // then the garbage goes, every live thing stays, and the report names each as kept
        code.Should().Be(0, errors);
        tree.HasRevision("library/app", old).Should().BeFalse();
        tree.HasRevision("library/app", v1).Should().BeTrue();
        File.Exists(Path.Combine(tree.TagFolder("library/app", "v1"), "current", "link")).Should().BeTrue();
        tree.HasBlob(app1).Should().BeTrue();
        File.Exists(Path.Combine(tree.LayerFolder("library/app", app1), "link")).Should().BeTrue();
        tree.HasUpload("library/app", upload).Should().BeTrue();
        var result = JsonDocument.Parse(output).RootElement.GetProperty("result");
        result.GetProperty("artifactsDeleted").GetInt32().Should().Be(1);
        result.GetProperty("artifactsKept").EnumerateArray().Select(e => e.GetString()).Should().Equal($"library/app@{v1}");
        result.GetProperty("blobsKept").EnumerateArray().Select(e => e.GetString()).Should().Equal(app1.ToString());
        result.GetProperty("layerLinksKept").EnumerateArray().Select(e => e.GetProperty("digest").GetString()).Should().Equal(app1.ToString());
        result.GetProperty("uploadsKept").EnumerateArray().Select(e => e.GetProperty("id").GetString()).Should().Equal(upload);
        errors.Should().Contain("kept after re-check (changed since the plan): 1 artifacts, 1 blobs, 1 layer links, 1 uploads");
    }

    [Test]
    public async Task Apply_APlanThatListsBlobsAndLinksButNotTheirArtifact_KeepsThemAll()
    {
        // given a plan whose untagged "old" image was taken out by hand, its blobs and layer links left in
        using var scene = NewScene();
        var (tree, old) = (scene.Tree, scene.Old);
        var store = new DistributionRegistryStore(tree.Root, new FakeTimeProvider(Now)) { GracePeriod = TimeSpan.Zero }; // the clock is fake: no wait
        var collector = new GarbageCollector(store, new FakeTimeProvider(Now));
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        plan.Artifacts.Should().ContainSingle().Which.Key.Digest.Should().Be(old);
        plan.LayerLinks.Should().NotBeEmpty();
        var edited = new CollectionPlan
        {
            Store = plan.Store, CreatedAt = plan.CreatedAt, DeleteUntagged = plan.DeleteUntagged, TimeWindow = plan.TimeWindow,
            Artifacts = [], Blobs = plan.Blobs, LayerLinks = plan.LayerLinks, Uploads = plan.Uploads,
        };
        var before = tree.Files();

        // when it is applied by the collector that made it
        var result = await collector.ExecuteAsync(edited, new GcOptions { DeleteUntagged = true });

        // then the image is whole, with its blobs and its repository's links to them: they are kept, not deleted
        tree.Files().Should().BeEquivalentTo(before);
        result.BlobsDeleted.Should().Be(0);
        result.LayerLinksDeleted.Should().Be(0);
        result.BlobsSkipped.Should().BeEquivalentTo(plan.Blobs.Select(b => b.Digest));
        result.LayerLinksSkipped.Should().BeEquivalentTo(plan.LayerLinks);
    }

    [Test]
    public async Task Apply_AfterALayerWasMountedSinceThePlan_KeepsTheLayer()
    {
        // given a plan that collects the old image's own layer, and then a client mounting that layer into another repository
        // (a mount writes the repository's link, not the blob's data)
        using var scene = NewScene();
        var (tree, oldOnly) = (scene.Tree, scene.OldOnly);
        var plan = Path.Combine(NewFolder(), "plan.json");
        (await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{tree.Root}", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        File.ReadAllText(plan).Should().Contain(oldOnly.ToString());
        DistributionTree.WriteLink(Path.Combine(tree.LayerFolder("team/tool", oldOnly), "link"), oldOnly, TimeSpan.Zero, Now);

        // when the plan is applied
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{tree.Root}", "--apply", plan, "--report-json", "-");

        // then the layer is kept (the mount touched it within the time window), with the mount's link
        code.Should().Be(0, errors);
        tree.HasBlob(oldOnly).Should().BeTrue();
        File.Exists(Path.Combine(tree.LayerFolder("team/tool", oldOnly), "link")).Should().BeTrue();
        JsonDocument.Parse(output).RootElement.GetProperty("result").GetProperty("blobsKept").EnumerateArray().Select(e => e.GetString())
            .Should().Contain(oldOnly.ToString());
    }

    private static string ReportPath(string scratch, string target) => target switch
    {
        "a folder" => Directory.CreateDirectory(Path.Combine(scratch, "reports")).FullName,
        "a path under a file" => Path.Combine(WriteFile(Path.Combine(scratch, "notes.txt")), "report.out"),
        _ => Path.Combine(scratch, "no-such-folder", "report.out"),
    };

    private static string WriteFile(string path)
    {
        File.WriteAllText(path, "a regular file");
        return path;
    }

    [Test]
    public async Task AReportThatCannotBeWritten_ExitsWith2_NamingIt_BeforeAnythingIsDeleted(
        [Values("--report-json", "--report-html")] string option,
        [Values("a folder", "a path under a file", "a folder that does not exist")] string target,
        [Values("a real run", "--apply")] string run)
    {
        // given a tree with garbage (and for --apply, a dry run's plan of it), and a report path that cannot be written
        using var scene = NewScene();
        var tree = scene.Tree;
        var scratch = NewFolder();
        var plan = Path.Combine(scratch, "plan.json");
        (await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{tree.Root}", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var report = ReportPath(scratch, target);
        var before = tree.Files();
        var planText = File.ReadAllText(plan);
        string[] args = run == "--apply"
            ? ["gc", "--store", $"distribution:{tree.Root}", "--apply", plan, option, report]
            : ["gc", "--delete-untagged", "true", "--store", $"distribution:{tree.Root}", option, report];

        // when the run is asked for
        var (code, _, errors) = await Run(args);

        // then it stops with exit 2 naming the option and the path, and nothing was deleted
        code.Should().Be(2, errors);
        errors.Should().Contain($"{option} {report}");
        tree.Files().Should().BeEquivalentTo(before);
        File.ReadAllText(plan).Should().Be(planText);
    }

    [Test]
    public async Task ARefusedRun_LeavesNoNewReportFile_AndAnExistingReportUnchanged()
    {
        // given a plan made for another store, a report file that exists, and one that does not
        using var scene = NewScene();
        var tree = scene.Tree;
        using var other = new DistributionTree(Now);
        other.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base");
        other.Image("library/app", "old", TimeSpan.FromDays(3), null, "old-only");
        var scratch = NewFolder();
        var plan = Path.Combine(scratch, "plan.json");
        (await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{other.Root}", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var existing = WriteFile(Path.Combine(scratch, "existing.html"));
        var fresh = Path.Combine(scratch, "fresh.json");

        // when the plan is applied to the wrong store
        var (code, _, errors) = await Run("gc", "--store", $"distribution:{tree.Root}", "--apply", plan, "--report-json", fresh, "--report-html", existing);

        // then the run is refused, the new report file is not left behind, and the old one is as it was
        code.Should().Be(2, errors);
        File.Exists(fresh).Should().BeFalse();
        File.ReadAllText(existing).Should().Be("a regular file");
    }

    [Test]
    public async Task TheSameFileForBothReports_ExitsWith2()
    {
        using var scene = NewScene();
        var tree = scene.Tree;
        var report = Path.Combine(NewFolder(), "report");
        var before = tree.Files();

        var (code, _, errors) = await Run("gc", "--delete-untagged", "true", "--store", $"distribution:{tree.Root}", "--report-json", report, "--report-html", report);

        code.Should().Be(2);
        errors.Should().Contain($"--report-json and --report-html both name {report}");
        tree.Files().Should().BeEquivalentTo(before);
    }
}
