using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harbor.Gc.Collection;
using Harbor.Gc.DependencyInjection;
using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// Untagged deletion is opt-in on every surface (issue 14, DESIGN.md §5), as Distribution's <c>garbage-collect
/// --delete-untagged</c> and Harbor's "Allow garbage collection on untagged artifacts" are: an image deployed only by digest has
/// no tag, and a collector that deletes untagged artifacts unless told not to would delete it. Left unsaid, the option is off in
/// the library, the daemon configuration, the <c>HarborGc</c> configuration section and the command line; unreferenced blobs are
/// still collected.
/// </summary>
public partial class DeleteUntaggedDefaultTests
{
    /// <summary>The blob <c>samples/make-sample.sh</c> uploads to <c>library/app</c> and no manifest references.</summary>
    private static readonly string SampleUnreferencedBlob =
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("uploaded, never referenced")));

    private StoreFactory _folders = null!;

    [SetUp]
    public void SetUp() => _folders = new StoreFactory(StoreKind.LiteDb);

    [TearDown]
    public void TearDown() => _folders.Dispose();

    [Test]
    public async Task Library_NewGcOptions_KeepsAnOldUntaggedImage_AndStillCollectsAnUnreferencedBlob()
    {
        // given a store holding a tagged image, an untagged image and a blob no manifest references, all a day old
        var r = new ScenarioRegistry();
        var tagged = r.Image("library/app", [r.Blob()], tag: "v1");
        var untagged = r.Image("library/app", [r.Blob()]);
        var unreferenced = r.Blob();
        r.Age();

        // when a real run uses options as constructed
        var options = new GcOptions();
        var result = await r.Collector().RunAsync(options);

        // then the options say untagged deletion is off, the run deleted no artifact but did delete the unreferenced blob
        options.DeleteUntagged.Should().BeFalse("untagged deletion is opt-in");
        result.Plan.DeleteUntagged.Should().BeFalse();
        result.Plan.Artifacts.Should().BeEmpty();
        result.Plan.Blobs.Select(b => b.Digest).Should().Equal(unreferenced);
        r.Store.GetArtifact(untagged.Key).Should().NotBeNull("an image deployed by digest alone has no tag");
        r.Store.GetArtifact(tagged.Key).Should().NotBeNull();
        untagged.References.Should().OnlyContain(x => r.Store.HasBlobContent(x.Digest));
        r.Store.HasBlobContent(unreferenced).Should().BeFalse("what no manifest references is collected whatever the option says");
    }

    [Test]
    public void DaemonConfig_AGcJobWithoutDeleteUntagged_DoesNotDeleteUntagged_AndOneThatAsksDoes()
    {
        // given a daemon configuration with a GC job that leaves deleteUntagged out and one that sets it
        var folder = _folders.NewFolder();
        Directory.CreateDirectory(Path.Combine(folder, "registry", "docker", "registry", "v2", "repositories"));
        var file = Path.Combine(folder, "daemon.json");
        File.WriteAllText(file, """
            {
              "jobs": [
                { "name": "plain", "kind": "gc", "store": "distribution:registry", "schedule": "@daily" },
                { "name": "untagged", "kind": "gc", "store": "distribution:registry", "schedule": "@weekly", "deleteUntagged": true }
              ]
            }
            """);

        // when it is loaded
        var config = DaemonConfigReader.Load(file, TimeProvider.System);

        // then only the job that asked for it deletes untagged artifacts
        config.Jobs.Select(j => (j.Name, j.Gc.DeleteUntagged)).Should().Equal(("plain", false), ("untagged", true));
    }

    [Test]
    public async Task Configuration_AHarborGcSectionWithoutDeleteUntagged_DoesNotDeleteUntagged_AndOneThatAsksDoes()
    {
        // given two HarborGc configuration sections, one without HarborGc:Gc:DeleteUntagged and one with it true
        var root = _folders.NewFolder();
        Directory.CreateDirectory(Path.Combine(root, "docker", "registry", "v2"));
        var without = new Dictionary<string, string?> { ["HarborGc:Store:Kind"] = "Distribution", ["HarborGc:Store:Root"] = root, ["HarborGc:Gc:Workers"] = "2" };
        var with = new Dictionary<string, string?>(without) { ["HarborGc:Gc:DeleteUntagged"] = "true" };

        // when the options are bound
        var bound = new List<GcOptions>();
        foreach (var values in new[] { without, with })
        {
            var services = new ServiceCollection();
            services.AddHarborGc(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
            await using var provider = services.BuildServiceProvider();
            bound.Add(provider.GetRequiredService<IOptions<HarborGcOptions>>().Value.Gc);
        }

        // then the section that says nothing leaves untagged deletion off (and the rest of it is bound), the other turns it on
        bound.Select(o => (o.DeleteUntagged, o.Workers)).Should().Equal((false, 2), (true, 2));
    }

    [Test]
    public async Task Cli_ADryRunOnTheSampleWithoutTheFlag_PlansNoUntaggedArtifact_ButPlansTheUnreferencedUploadedBlob()
    {
        // given the bundled sample tree (dated three days back; git does not keep file times, so the window is 0)
        var sample = Path.Combine(RepositoryRoot.Find(), "samples", "registry");
        var before = FolderSnapshot.Take(sample);

        // when the README's dry run runs without --delete-untagged
        var (code, stdout, stderr) = await Run("gc", "--store", $"distribution:{sample}", "--dry-run", "--time-window", "0", "--report-json", "-");

        // then it plans no artifact (the untagged old image, its signature and the untagged index all stay), only the blob
        // uploaded and never referenced and its repository's link to it, says so in the summary, and changes nothing
        code.Should().Be(0, stderr);
        using var report = JsonDocument.Parse(stdout);
        report.RootElement.GetProperty("options").GetProperty("deleteUntagged").GetBoolean().Should().BeFalse();
        report.RootElement.GetProperty("artifacts").GetArrayLength().Should().Be(0);
        report.RootElement.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString())
            .Should().Equal(SampleUnreferencedBlob);
        report.RootElement.GetProperty("layerLinks").EnumerateArray()
            .Select(l => (l.GetProperty("repository").GetString(), l.GetProperty("digest").GetString()))
            .Should().Equal(("library/app", SampleUnreferencedBlob));
        stderr.Should().Contain("delete untagged: no").And.Contain("scanned 2 repositories, 13 artifacts, 5 tags, 35 blobs");
        before.ShouldBeUnchanged("a dry run deletes nothing");
    }

    [Test]
    public async Task Cli_ExplainWithoutTheFlag_SaysTheSamplesOldUntaggedImageIsKept_AndWithItThatItIsCollected()
    {
        // given the sample's old image, untagged since its temporary tag was removed
        var store = $"distribution:{Path.Combine(RepositoryRoot.Find(), "samples", "registry")}";
        const string Old = "library/app@sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";

        // when explain is asked about it with a run's defaults, then with untagged deletion asked for
        var plain = await Run("explain", Old, "--store", store, "--time-window", "0");
        var asked = await Run("explain", Old, "--store", store, "--time-window", "0", "--delete-untagged", "true");

        // then a default run keeps it because untagged deletion is off, and only the asking run collects it
        plain.Code.Should().Be(0, plain.Err);
        plain.Out.Should().StartWith($"{Old}: kept (untagged artifacts are kept (delete untagged is off))");
        asked.Code.Should().Be(0, asked.Err);
        asked.Out.Should().StartWith($"{Old}: collected by the next run");
    }

    [Test]
    public async Task Cli_TheReadmesFirstCommand_AsksForUntaggedDeletion_AndPlansTheDocumentedCollection()
    {
        // given the README's first set-up command, as written there
        var root = RepositoryRoot.Find();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var command = SampleDryRun().Match(readme);
        command.Success.Should().BeTrue("the README's top shows the sample dry run");
        var args = command.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a == "distribution:samples/registry" ? $"distribution:{Path.Combine(root, "samples", "registry")}" : a).ToArray();

        // when it runs
        var (code, stdout, stderr) = await Run(args);

        // then it turns untagged deletion on itself, and prints the collection the README describes below it
        args.Should().ContainInConsecutiveOrder("--delete-untagged", "true");
        code.Should().Be(0, stderr);
        SampleRegistryTests.ShouldBeTheDocumentedPlan(stdout, stderr);
    }

    [Test]
    public async Task Cli_OnHarborStorageWithoutTags_ARunWithoutTheFlagDeletesNoImage_AndAskingIsStillRefusedUnlessAllowNoTags()
    {
        // given the storage of Harbor 2.15 or later: repositories with manifests, and not one tags folder (goharbor/harbor#22507)
        using var harbor = new DistributionTree(GcCommandTests.Now);
        harbor.Image("library/app", "v1", TimeSpan.FromDays(3), null, "base", "app1");
        harbor.Image("library/app", "v2", TimeSpan.FromDays(3), null, "base", "app2");
        var before = harbor.Files();

        // when a real run is made as it comes, then one asks for untagged deletion, then one also allows a tagless store
        var plain = await GcCommandTests.Run("gc", "--store", $"distribution:{harbor.Root}");
        var refused = await GcCommandTests.Run("gc", "--store", $"distribution:{harbor.Root}", "--delete-untagged", "true");
        var allowed = await GcCommandTests.Run("gc", "--store", $"distribution:{harbor.Root}", "--delete-untagged", "true", "--allow-no-tags", "--dry-run");

        // then the plain run deletes nothing (every image is kept), asking is exit 2 naming the way out, and only the override plans them
        plain.Code.Should().Be(0, plain.Err);
        plain.Out.Should().Contain("delete untagged: no").And.Contain("0 blobs and 0 manifests (0 artifacts)");
        refused.Code.Should().Be(2, refused.Err);
        refused.Err.Should().Contain("Harbor 2.15").And.Contain("--allow-no-tags").And.Contain("Nothing was planned or deleted")
            .And.Contain("--delete-untagged false, the default");
        harbor.Files().Should().Equal(before);
        allowed.Code.Should().Be(0, allowed.Err);
        allowed.Out.Should().Contain("(2 artifacts) eligible for deletion");
    }

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr, TimeProvider.System, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [GeneratedRegex(@"^dotnet run --project Harbor\.Gc\.Runner -- (?<args>gc --store distribution:samples/registry [^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex SampleDryRun();
}
