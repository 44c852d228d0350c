using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary><c>harbor-gc gc</c> over a Distribution storage tree (DESIGN.md §9): output, report, exit codes.</summary>
public class GcCommandTests
{
    internal static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private DistributionTree _tree = null!;

    [SetUp]
    public void SetUp()
    {
        _tree = new DistributionTree(Now);
        _tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        _tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    internal static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        args = NoGrace(args);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr, new FakeTimeProvider(Now), CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// A real run on a Distribution tree with no grace period (unless one is given): these runs have a fake clock, which a wait
    /// would never see pass, and nothing writes to their trees.
    /// </summary>
    internal static string[] NoGrace(string[] args)
    {
        if (!args.Any(a => a.StartsWith("distribution:", StringComparison.Ordinal)) || args.Contains("--dry-run") || args.Contains("--grace-period"))
        {
            return args;
        }

        // right after the command's words, so that a test of an option's missing value still ends with that option
        return args switch
        {
            ["gc", .. var rest] => ["gc", "--grace-period", "0", .. rest],
            ["retention", "run", .. var rest] => ["retention", "run", "--grace-period", "0", .. rest],
            _ => args,
        };
    }

    [Test]
    public async Task DryRun_PrintsTheSummary_WritesTheReport_AndDeletesNothing()
    {
        var report = Path.Combine(_tree.Root, "report.json");
        var before = _tree.Files();

        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", report);

        code.Should().Be(0, errors);
        output.Should().Contain("GC dry run on distribution:").And.Contain("3 blobs and 1 manifests (1 artifacts) eligible for deletion");
        _tree.Files().Should().BeEquivalentTo(before.Append("report.json"));
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        json.RootElement.GetProperty("kind").GetString().Should().Be("gc");
        json.RootElement.GetProperty("dryRun").GetBoolean().Should().BeTrue();
        json.RootElement.GetProperty("artifacts").GetArrayLength().Should().Be(1);
        json.RootElement.GetProperty("summary").GetProperty("blobs").GetInt32().Should().Be(3, "the manifest, its config and its own layer");
    }

    [Test]
    [Platform("Linux")]
    public async Task DryRun_TheReportCanGoToDevNull()
    {
        // given a report thrown away, as a benchmark or a cron job may do (Write truncated every seekable file, and /dev/null refuses
        // truncation: "Invalid argument : '/dev/null'", exit 1)
        // when a dry run writes its JSON and HTML reports to /dev/null
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", "/dev/null");
        var html = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-html", "/dev/null");

        // then both succeed and say what they planned
        code.Should().Be(0, errors);
        output.Should().Contain("3 blobs and 1 manifests (1 artifacts) eligible for deletion");
        html.Code.Should().Be(0, html.Err);
    }

    [Test]
    public async Task RealRun_Deletes_AndTheReportCanGoToStdout()
    {
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--report-json", "-", "--workers", "2", "--grace-period", "0");

        code.Should().Be(0, errors);
        JsonDocument.Parse(output).RootElement.GetProperty("dryRun").GetBoolean().Should().BeFalse();
        errors.Should().Contain("deleted 1 artifacts and 3 blobs");
        (await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run")).Out.Should().Contain("0 blobs and 0 manifests");
    }

    [Test]
    public async Task StaleUpload_IsListedInTheJsonReportOnStdout_AndInTheSummary()
    {
        // given an upload a docker push abandoned three days ago
        var id = _tree.UnfinishedUpload("library/app", "hello-partial-bytes"u8.ToArray(), TimeSpan.FromDays(3));

        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", "-");

        code.Should().Be(0, errors);
        using var report = JsonDocument.Parse(output);
        var upload = report.RootElement.GetProperty("uploads").EnumerateArray().Should().ContainSingle().Subject;
        upload.GetProperty("repository").GetString().Should().Be("library/app");
        upload.GetProperty("id").GetString().Should().Be(id);
        upload.GetProperty("size").GetInt64().Should().Be(19);
        report.RootElement.GetProperty("summary").GetProperty("uploads").GetInt32().Should().Be(1);
        errors.Should().Contain("3 blobs and 1 manifests (1 artifacts) eligible for deletion, and 1 stale uploads (19 bytes)");
        _tree.HasUpload("library/app", id).Should().BeTrue("a dry run deletes nothing");
    }

    [Test]
    public async Task Apply_DeletesExactlyTheSavedPlan_EachItemReChecked_NotWhatBecameGarbageSince()
    {
        // given a dry run's plan saved to a file: the untagged "old" image and its three blobs
        var plan = Path.Combine(_tree.Root, "plan.json");
        var old = _tree.Image("library/app", "older", TimeSpan.FromDays(3), null, "older-only").Manifest;
        (await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        using (var saved = JsonDocument.Parse(File.ReadAllText(plan)))
        {
            saved.RootElement.GetProperty("artifacts").GetArrayLength().Should().Be(2);
        }

        // and after the review, "older" is tagged again, and a third untagged image appears (garbage the plan never saw)
        _tree.Tag("library/app", "kept", old, TimeSpan.Zero);
        var later = _tree.Image("library/app", "later", TimeSpan.FromDays(3), null, "later-only").Manifest;

        // when the saved plan is applied
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--apply", plan, "--report-json", "-", "--grace-period", "0");

        // then "old" goes, "older" is kept by the re-check (tagged since), and "later" stays for the next plan
        code.Should().Be(0, errors);
        using var report = JsonDocument.Parse(output);
        report.RootElement.GetProperty("dryRun").GetBoolean().Should().BeFalse();
        errors.Should().Contain("deleted 1 artifacts");
        _tree.HasRevision("library/app", old).Should().BeTrue("it was tagged after the plan: the re-check keeps it");
        _tree.HasRevision("library/app", later).Should().BeTrue("it is not in the saved plan");
        (await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run")).Out.Should().Contain("(1 artifacts) eligible for deletion");
    }

    [Test]
    public async Task Apply_APlanOfAnotherStore_ExitsWith2_AndDeletesNothing()
    {
        using var other = new DistributionTree(Now);
        other.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base");
        other.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        var plan = Path.Combine(other.Root, "plan.json");
        (await Run("gc", "--store", $"distribution:{other.Root}", "--delete-untagged", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var before = _tree.Files();

        var (code, _, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--apply", plan);

        code.Should().Be(2);
        errors.Should().Contain($"the plan is for distribution:{other.Root}, not distribution:{_tree.Root}; nothing was deleted");
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [TestCase("\"digest\": \"sha256:", "\"digest\": \"sha256:../", "plan field 'artifacts[0].digest'")]
    [TestCase("\"kind\": \"gc\"", "\"kind\": \"retention\"", "plan field 'kind': expected \"gc\"")]
    [TestCase("\"timeWindow\": \"", "\"timeWindow\": \"-", "plan field 'options.timeWindow': '-2h' is not a duration; write 0, or whole numbers each followed by d, h, m, s or ms, largest unit first (2h30m, 90s, 7d), or [d.]hh:mm:ss (02:30:00); nothing was deleted.")]
    public async Task Apply_ATamperedPlan_ExitsWith2_NamingTheField_AndDeletesNothing(string find, string replace, string message)
    {
        var plan = Path.Combine(_tree.Root, "plan.json");
        (await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var text = File.ReadAllText(plan);
        var at = text.IndexOf(find, StringComparison.Ordinal);
        at.Should().BeGreaterThanOrEqualTo(0);
        File.WriteAllText(plan, text[..at] + replace + text[(at + find.Length)..]);
        var before = _tree.Files();

        var (code, _, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--apply", plan);

        code.Should().Be(2);
        errors.Should().Contain($"--apply {plan}: {message}");
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [TestCase("--dry-run")]
    [TestCase("--time-window", "0")]
    [TestCase("--delete-untagged", "false")]
    public async Task Apply_WithAnOptionThePlanFixes_ExitsWith2(params string[] option)
    {
        var plan = Path.Combine(_tree.Root, "plan.json");
        (await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", plan)).Code.Should().Be(0);
        var before = _tree.Files();

        var (code, _, errors) = await Run(["gc", "--store", $"distribution:{_tree.Root}", "--apply", plan, .. option]);

        code.Should().Be(2);
        errors.Should().Contain($"leave {option[0]} out");
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [Test]
    public async Task Apply_AMissingPlan_ExitsWith2()
    {
        var (code, _, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--apply", Path.Combine(_tree.Root, "no-plan.json"));

        code.Should().Be(2);
        errors.Should().Contain("no-plan.json: cannot be read");
    }

    [TestCase("--time-window", "2x", "--time-window: '2x' is not a duration; write 0, or whole numbers each followed by d, h, m, s or ms, largest unit first (2h30m, 90s, 7d), or [d.]hh:mm:ss (02:30:00).")]
    [TestCase("--time-window", "30m2h", "--time-window: '30m2h' is not a duration")]
    [TestCase("--max-duration", "1.5h", "--max-duration: '1.5h' is not a duration")]
    [TestCase("--workers", "99", "Workers")]
    [TestCase("--delete-untagged", "maybe", "'maybe' is not true or false")]
    [TestCase("--bogus", null, "unknown option '--bogus'")]
    [TestCase("--time-window", null, "--time-window: a value is missing.")]
    [TestCase("--report-json", null, "--report-json: a value is missing.")]
    [TestCase("--report-html", "/nonexistent-folder/report.html", "--report-html /nonexistent-folder/report.html: the folder '/nonexistent-folder' does not exist")]
    public async Task BadOption_ExitsWith2_AndSaysWhat(string option, string? value, string message)
    {
        var before = _tree.Files();
        string[] args = value is null ? ["gc", "--store", $"distribution:{_tree.Root}", option] : ["gc", "--store", $"distribution:{_tree.Root}", option, value];

        var (code, _, errors) = await Run(args);

        code.Should().Be(2);
        errors.Should().Contain(message);
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [Test]
    public async Task DryRunList_PrintsOneSortedLinePerManifestAndBlob_ToStdout_AndTheSummaryToStderr()
    {
        // given the untagged 'old' image (its manifest, config and own layer are garbage, the shared base is not), and a blob
        // nothing references, all three days old
        var loose = _tree.WriteBlob("never referenced"u8.ToArray(), TimeSpan.FromDays(3));
        var report = Path.Combine(_tree.Root, "report.json");
        var before = _tree.Files();

        // when a dry run lists what it would delete
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--list", "--report-json", report);

        // then stdout holds exactly one line per artifact then per blob, sorted, each with its reason; the summary is on stderr;
        // the lines are the report's lists; nothing was deleted
        code.Should().Be(0, errors);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var artifact = json.RootElement.GetProperty("artifacts").EnumerateArray().Should().ContainSingle().Subject;
        var blobs = json.RootElement.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString()!).Order(StringComparer.Ordinal).ToList();
        blobs.Should().HaveCount(4).And.Contain(loose.ToString());
        string[] expected =
        [
            $"library/app@{artifact.GetProperty("digest").GetString()} untagged",
            .. blobs.Select(b => b == loose.ToString() ? $"{b} unreferenced" : $"{b} referenced-by-deleted"),
        ];
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(expected);
        errors.Should().Contain("4 blobs and 1 manifests (1 artifacts) eligible for deletion");
        _tree.Files().Should().BeEquivalentTo(before.Append("report.json"));
    }

    [TestCase("--list", "gc --list: lists what a dry run would delete; give --dry-run too (and no --apply).")]
    [TestCase("--list --dry-run --report-json -", "gc --list: the list goes to stdout, so the JSON report cannot; write it to a file (--report-json FILE).")]
    public async Task List_WithoutADryRun_OrWithTheReportOnStdout_ExitsWith2(string options, string message)
    {
        var before = _tree.Files();

        var (code, output, errors) = await Run(["gc", "--store", $"distribution:{_tree.Root}", .. options.Split(' ')]);

        code.Should().Be(2);
        output.Should().BeEmpty();
        errors.Should().Contain(message);
        _tree.Files().Should().BeEquivalentTo(before);
    }

    [Test]
    public async Task DryRun_WhenTheTimeWindowIsWhyNothingIsEligible_TheSummarySaysSo_WithWhatItKept()
    {
        // given the untagged 'old' image, three days old, and a blob nothing references, one day old
        _tree.WriteBlob("never referenced"u8.ToArray(), TimeSpan.FromDays(1));

        // when dry runs use a window longer than everything's age, one that keeps only the blob, and a window that keeps nothing
        var all = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "4d");
        var some = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "2d");
        var none = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "0");

        // then only the first says that the window is why nothing is eligible, counting what it kept
        all.Code.Should().Be(0, all.Err);
        all.Out.Should().Contain("0 blobs and 0 manifests (0 artifacts) eligible for deletion")
            .And.Contain("nothing is eligible because of the 4d time window: 1 artifacts and 4 blobs that nothing else keeps are younger than it (--time-window 0 would collect them)");
        some.Out.Should().Contain("3 blobs and 1 manifests (1 artifacts) eligible").And.NotContain("nothing is eligible");
        none.Out.Should().Contain("4 blobs and 1 manifests (1 artifacts) eligible").And.NotContain("nothing is eligible");
    }

    [Test]
    public async Task DryRun_WhenNothingIsEligibleWhateverTheWindow_TheSummaryDoesNotBlameTheWindow()
    {
        // given a store holding only a tagged image: nothing is garbage with any window
        using var tree = new DistributionTree(Now);
        tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");

        var (code, output, errors) = await Run("gc", "--store", $"distribution:{tree.Root}", "--delete-untagged", "--dry-run", "--time-window", "4d");

        code.Should().Be(0, errors);
        output.Should().Contain("0 blobs and 0 manifests (0 artifacts) eligible").And.NotContain("nothing is eligible");
    }

    [Test]
    public async Task DryRun_ReportOnStdout_KeepsThePlusOfMediaTypes()
    {
        // given the untagged image, a Docker v2 manifest
        // when a dry run writes its report to stdout
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--report-json", "-");

        // then its media type keeps its '+': only what JSON requires is escaped
        code.Should().Be(0, errors);
        var mediaType = JsonDocument.Parse(output).RootElement.GetProperty("artifacts")[0].GetProperty("mediaType").GetString();
        mediaType.Should().EndWith("+json");
        output.Should().Contain($"\"mediaType\": \"{mediaType}\"").And.NotContain("\\u002B");
    }

    [TestCase("2d23h", "2d23h", 1)]
    [TestCase("3d1h", "3d1h", 0)]
    [TestCase("01:00:00", "1h", 1)]
    [TestCase("1.23:00:00", "1d23h", 1)]
    public async Task TimeWindow_TakesDurationsOfSeveralUnitsOrHhMmSs_AndTheReportWritesItBackInUnits(string window, string written, int eligible)
    {
        // given the untagged 'old' image, three days old
        var report = Path.Combine(_tree.Root, "report.json");

        // when a dry run uses a window just under or just over its age
        var (code, output, errors) = await Run("gc", "--store", $"distribution:{_tree.Root}", "--delete-untagged", "--dry-run", "--time-window", window, "--report-json", report);

        // then the window is read, decides what is eligible, and the summary and the report write it in the shortest unit form
        code.Should().Be(0, errors);
        output.Should().Contain($"time window: {written})").And.Contain($"({eligible} artifacts) eligible for deletion");
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        json.RootElement.GetProperty("options").GetProperty("timeWindow").GetString().Should().Be(written);
    }

    [Test]
    public async Task HarborStorageWithoutTags_RefusesDeleteUntagged_WithExit2_UnlessAllowNoTags()
    {
        // given the storage of Harbor 2.15 or later: repositories with manifests, and not one tags folder (goharbor/harbor#22507)
        using var harbor = new DistributionTree(Now);
        harbor.Image("library/app", "v1", TimeSpan.FromDays(3), null, "base", "app1");
        harbor.Image("library/app", "v2", TimeSpan.FromDays(3), null, "base", "app2");
        var before = harbor.Files();

        // when collected as usual, then with delete untagged off, then with the override (dry runs)
        var refused = await Run("gc", "--store", $"distribution:{harbor.Root}", "--delete-untagged", "--grace-period", "0");
        var blobsOnly = await Run("gc", "--store", $"distribution:{harbor.Root}", "--delete-untagged", "false", "--dry-run");
        var allowed = await Run("gc", "--store", $"distribution:{harbor.Root}", "--delete-untagged", "--allow-no-tags", "--dry-run");

        // then the first exits 2 saying why and how to go on, deleting nothing; the others plan as told
        refused.Code.Should().Be(2, refused.Err);
        refused.Err.Should().Contain("none of its 1 repositories with manifests (2 of them) has a tags folder").And.Contain("Harbor 2.15")
            .And.Contain("--delete-untagged false").And.Contain("--allow-no-tags").And.Contain("Nothing was planned or deleted");
        harbor.Files().Should().Equal(before);
        blobsOnly.Code.Should().Be(0, blobsOnly.Err);
        blobsOnly.Out.Should().Contain("0 blobs and 0 manifests");
        allowed.Code.Should().Be(0, allowed.Err);
        allowed.Out.Should().Contain("(2 artifacts) eligible for deletion");
    }

    [Test]
    public async Task MissingStore_OrBadRepositoryFolder_ExitsWith2_AndDeletesNothing()
    {
        var missing = await Run("gc", "--store", $"distribution:{Path.Combine(_tree.Root, "missing")}");
        missing.Code.Should().Be(2);
        missing.Err.Should().Contain("does not exist");

        Directory.CreateDirectory(Path.Combine(_tree.V2, "repositories", "Bad..Name", "_layers"));
        var before = _tree.Files();
        var bad = await Run("gc", "--store", $"distribution:{_tree.Root}");
        bad.Code.Should().Be(2);
        bad.Err.Should().Contain("Bad..Name").And.Contain("not a valid repository name");
        _tree.Files().Should().BeEquivalentTo(before);

        (await Run("frobnicate")).Code.Should().Be(2);
        (await Run("gc", "--store", "s3:bucket")).Err.Should().Contain("unknown store kind 's3'");
    }
}

/// <summary>The README's first command: a dry run on the bundled sample registry (samples/README.md lists what it holds).</summary>
public class SampleRegistryTests
{
    [Test]
    public async Task ReadmeCommand_OnTheSample_PlansTheDocumentedCollection()
    {
        var root = RepositoryRoot.Find();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(["gc", "--store", $"distribution:{Path.Combine(root, "samples", "registry")}", "--dry-run", "--delete-untagged", "true", "--time-window", "0", "--report-json", "-"],
            stdout, stderr, TimeProvider.System, CancellationToken.None);

        code.Should().Be(0, stderr.ToString());
        ShouldBeTheDocumentedPlan(stdout.ToString(), stderr.ToString());
    }

    /// <summary>The README's first command's output: the plan samples/README.md documents, as JSON on stdout, the summary on stderr.</summary>
    internal static void ShouldBeTheDocumentedPlan(string stdout, string stderr)
    {
        using var report = JsonDocument.Parse(stdout);
        var artifacts = report.RootElement.GetProperty("artifacts").EnumerateArray()
            .Select(a => (a.GetProperty("repository").GetString(), a.GetProperty("reason").GetString(), a.GetProperty("tags").GetArrayLength())).ToList();
        artifacts.Should().BeEquivalentTo(new[]
        {
            ("library/app", "untagged", 0),
            ("library/app", "accessory-of-deleted-subject", 1),
            ("library/multi", "untagged", 0),
            ("library/multi", "child-of-deleted-index", 0),
        });
        report.RootElement.GetProperty("summary").GetProperty("blobs").GetInt32().Should().Be(11);
        stderr.Should().Contain("scanned 2 repositories, 13 artifacts, 5 tags, 35 blobs");
    }
}

/// <summary><c>harbor-gc gc --store litedb:PATH</c> (DESIGN.md §9): the default store, opened in shared mode, never created by <c>gc</c>.</summary>
public class GcCommandLiteDbTests
{
    private static readonly DateTimeOffset Now = GcCommandTests.Now;
    private StoreFactory _stores = null!;
    private string _database = null!;
    private Artifact _dead = null!;
    private Artifact _live = null!;

    [SetUp]
    public void SetUp()
    {
        // Given a LiteDB store where an untagged image and a tagged one (sharing a layer) were pushed three days ago
        _stores = new StoreFactory(StoreKind.LiteDb);
        var folder = _stores.NewFolder();
        _database = Path.Combine(folder, "harbor-gc.db");
        var time = new FakeTimeProvider(Now - TimeSpan.FromDays(3));
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), time));
        var r = new ScenarioRegistryOver(store);
        var shared = r.Blob("shared");
        _dead = r.Image(r.Blob("dead config"), shared, r.Blob("dead layer"));
        _live = r.Image(r.Blob("live config"), shared);
        store.PutTag(_live.Repository, "v1", _live.Digest);
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => GcCommandTests.Run(args);

    private TestStore Reopen() => new(LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = _database }, new FakeTimeProvider(Now)));

    [Test]
    public async Task DryRun_PlansTheUntaggedImage_AndDeletesNothing()
    {
        var (code, output, errors) = await Run("gc", "--store", $"litedb:{_database}", "--delete-untagged", "--dry-run", "--report-json", "-");

        code.Should().Be(0, errors);
        using var report = JsonDocument.Parse(output);
        report.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => a.GetProperty("digest").GetString()).Should().Equal(_dead.Digest.ToString());
        report.RootElement.GetProperty("summary").GetProperty("blobs").GetInt32().Should().Be(3, "the manifest, its config and its own layer");
        errors.Should().Contain($"GC dry run on litedb:{_database}");
        using var store = Reopen();
        store.GetArtifacts().Should().HaveCount(2);
        _dead.References.Should().OnlyContain(x => store.HasBlobContent(x.Digest));
    }

    [Test]
    public async Task RealRun_DeletesTheUntaggedImageAndItsOwnBlobFiles_AndASecondRunFindsNothing()
    {
        var (code, _, errors) = await Run("gc", "--store", $"litedb:{_database}", "--delete-untagged");

        code.Should().Be(0, errors);
        using (var store = Reopen())
        {
            store.GetArtifacts().Select(a => a.Key).Should().Equal(_live.Key);
            _live.References.Should().OnlyContain(x => store.HasBlobContent(x.Digest));
            _dead.References.Where(x => !_live.References.Contains(x)).Should().OnlyContain(x => !store.HasBlobContent(x.Digest) && store.GetBlob(x.Digest) == null);
        }

        (await Run("gc", "--store", $"litedb:{_database}", "--delete-untagged", "--dry-run")).Out.Should().Contain("0 blobs and 0 manifests");
    }

    [Test]
    public async Task MissingDatabase_ExitsWith2_AndCreatesNothing()
    {
        var folder = _stores.NewFolder();
        var missing = Path.Combine(folder, "nothing-here.db");

        var (code, _, errors) = await Run("gc", "--store", $"litedb:{missing}");

        code.Should().Be(2);
        errors.Should().Contain(missing).And.Contain("does not exist");
        Directory.EnumerateFileSystemEntries(folder).Should().BeEmpty("gc never creates an empty store");
        (await Run("gc", "--store", "litedb:")).Code.Should().Be(2);
    }

    [Test]
    [NonParallelizable] // changes the process's working directory
    public async Task DefaultStore_IsLiteDbHarborGcDb_InTheWorkingDirectory()
    {
        var folder = _stores.NewFolder();
        var before = Environment.CurrentDirectory;
        Environment.CurrentDirectory = folder;
        try
        {
            var (code, _, errors) = await Run("gc", "--dry-run");

            code.Should().Be(2);
            errors.Should().Contain(Path.Combine(folder, "harbor-gc.db")).And.Contain("does not exist");
        }
        finally
        {
            Environment.CurrentDirectory = before;
        }
    }

    /// <summary>Pushes small images into a store through its API.</summary>
    internal sealed class ScenarioRegistryOver(TestStore store)
    {
        private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

        public Digest Blob(string content) => store.PutBlob(System.Text.Encoding.UTF8.GetBytes(content)).Digest;

        public Artifact Image(Digest config, params Digest[] layers)
        {
            var manifest = store.PutBlob(System.Text.Encoding.UTF8.GetBytes($"manifest of {config}"), MediaTypes.OciManifest);
            return store.PutArtifact(new Artifact
            {
                Repository = Repo, Digest = manifest.Digest, MediaType = MediaTypes.OciManifest, Kind = ManifestKind.OciManifest, PushedAt = Now,
                References = [new(manifest.Digest, manifest.Size, MediaTypes.OciManifest, BlobReferenceKind.Manifest), new(config, 10, MediaTypes.OciConfig, BlobReferenceKind.Config),
                    .. layers.Select(l => new BlobReference(l, 10, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer))],
            });
        }
    }
}
