using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// <c>harbor-gc explain DIGEST</c> (DESIGN.md §5, §9) over the bundled sample registry (samples/README.md lists what it holds):
/// one line per hop of the path from the root, the kind of each link named, or why nothing keeps the digest.
/// </summary>
public class ExplainCommandTests
{
    private static readonly string Sample = Path.Combine(RepositoryRoot.Find(), "samples", "registry");
    private static readonly string Store = $"distribution:{Sample}";

    // The sample's files are as new as the clone, so these use the real clock and a window of 0 (as the README's command does).
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(["explain", .. args], stdout, stderr, TimeProvider.System, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public async Task LayerOfAChildOfTheTaggedIndex_IsKeptByTheTag_ThroughTheIndexChild()
    {
        // given library/multi:latest, an index whose children are untagged (Distribution keeps them through the index)
        var index = TagTarget("library/multi", "latest");
        var child = Digest.Parse(ReadBlob(index).GetProperty("manifests")[0].GetProperty("digest").GetString()!);
        var layer = ReadBlob(child).GetProperty("layers")[0].GetProperty("digest").GetString()!;

        var (code, output, errors) = await Run(layer, "--store", Store, "--time-window", "0");

        code.Should().Be(0, errors);
        Lines(output).Should().Equal(
            $"blob {layer}: kept (tagged)",
            "    tag library/multi:latest",
            $"  → index {index}",
            $"  → index child manifest {child}",
            $"  → layer {layer}");
    }

    [Test]
    public async Task NotationSignatureOfTheSbomOfV1_IsKeptThroughTwoHardAccessoryLinks()
    {
        // given the notation signature of v1's SBOM (OCI 1.1 subject links: v1 ← SBOM ← signature)
        var v1 = TagTarget("library/app", "v1");
        var (code, output, errors) = await Run("sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33", "--repository", "library/app", "--store", Store, "--time-window", "0");

        code.Should().Be(0, errors);
        Lines(output).Take(5).Should().Equal(
            "library/app@sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33: kept (tagged)",
            "    tag library/app:v1",
            $"  → manifest {v1}",
            "  → accessory subject.accessory (hard) sha256:cc7688285f48f5ab9ac76d211e8c99e122481b33c13a8ea828a34f9f7b2b0e64",
            "  → accessory signature.notation (hard) sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33");
    }

    [Test]
    public async Task TheOldUntaggedImage_AndItsCosignSignature_AreCollectedByTheNextRun()
    {
        // given the old image (its tag removed) and its cosign tag-scheme signature sha256-<old>.sig
        var signature = TagTarget("library/app", "sha256-45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317.sig");
        const string Old = "sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";

        var image = await Run(Old, "--store", Store, "--time-window", "0");
        var sig = await Run(signature.ToString(), "--store", Store, "--time-window", "0", "--repository", "library/app");

        image.Code.Should().Be(0, image.Err);
        Lines(image.Out)[0].Should().Be($"library/app@{Old}: collected by the next run");
        Lines(image.Out)[1].Should().StartWith("  untagged, not listed by any live index, not an accessory of a live artifact; pushed ")
            .And.Contain("before the time window");
        Lines(sig.Out)[0].Should().Be($"library/app@{signature}: collected by the next run");
        Lines(sig.Out)[1].Should().Be($"  hard accessory (signature.cosign) of library/app@{Old}, which is collected; an accessory lives and dies with its subject");
    }

    [Test]
    public async Task TheOldImage_IsKeptWhenDeleteUntaggedIsOff_OrWithinTheTimeWindow()
    {
        const string Old = "sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";

        var untaggedKept = await Run(Old, "--store", Store, "--time-window", "0", "--delete-untagged", "false", "--repository", "library/app");
        var fresh = await Run(Old, "--store", Store, "--time-window", "7d", "--repository", "library/app");

        Lines(untaggedKept.Out)[0].Should().Be($"library/app@{Old}: kept (untagged artifacts are kept (delete untagged is off))");
        Lines(fresh.Out)[0].Should().StartWith($"library/app@{Old}: kept (pushed ").And.Contain("within the time window");
    }

    [Test]
    public async Task Json_GivesTheSameEntries()
    {
        var v1 = TagTarget("library/app", "v1");

        var (code, output, errors) = await Run(v1.ToString(), "--store", Store, "--time-window", "0", "--json");

        code.Should().Be(0, errors);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("digest").GetString().Should().Be(v1.ToString());
        var entries = json.RootElement.GetProperty("entries").EnumerateArray().ToList();
        entries.Select(e => e.GetProperty("subject").GetString()).Should().Equal($"library/app@{v1}", $"blob {v1}");
        entries.Should().OnlyContain(e => e.GetProperty("kept").GetBoolean());
        entries[0].GetProperty("path").EnumerateArray().Select(p => p.GetString()).Should().Equal("tag library/app:v1", $"manifest {v1}");
    }

    [Test]
    public async Task BadInput_ExitsWith2_AndSaysWhatIsWrong()
    {
        var unknown = Digest.Sha256Of("not in the sample"u8);
        var v1 = TagTarget("library/app", "v1").ToString();

        var badDigest = await Run("sha256:xyz", "--store", Store);
        var unknownDigest = await Run(unknown.ToString(), "--store", Store);
        var badRepository = await Run(v1, "--store", Store, "--repository", "Library//App");
        var otherRepository = await Run(v1, "--store", Store, "--repository", "library/multi");
        var noDigest = await Run("--store", Store);
        var badStore = await Run(v1, "--store", "distribution:/nonexistent/registry");

        badDigest.Code.Should().Be(2);
        badDigest.Err.Should().Contain("'sha256:xyz' is not a digest");
        unknownDigest.Code.Should().Be(2);
        unknownDigest.Err.Should().Contain($"{unknown} is not in the store {Store}");
        badRepository.Code.Should().Be(2);
        badRepository.Err.Should().Contain("--repository 'Library//App'");
        otherRepository.Code.Should().Be(0, "v1's manifest is also a blob, which any repository can reach");
        Lines(otherRepository.Out).Should().NotContain(l => l.StartsWith("library/app@", StringComparison.Ordinal), "only library/multi's artifacts are explained");
        noDigest.Code.Should().Be(2);
        noDigest.Err.Should().Contain("give the DIGEST");
        badStore.Code.Should().Be(2);
    }

    [Test]
    public async Task LiteDbStore_SharedLayerIsKeptByTheTaggedImage_AndTheDeadImagesOwnLayerIsCollected()
    {
        // given a LiteDB store where an untagged image and a tagged one (sharing a layer) were pushed three days ago
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        var database = Path.Combine(folder, "harbor-gc.db");
        Digest shared, deadLayer;
        Artifact live;
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), new FakeTimeProvider(GcCommandTests.Now - TimeSpan.FromDays(3)))))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            shared = r.Blob("shared");
            deadLayer = r.Blob("dead layer");
            r.Image(r.Blob("dead config"), shared, deadLayer);
            live = r.Image(r.Blob("live config"), shared);
            store.PutTag(live.Repository, "v1", live.Digest);
        }

        var kept = await GcCommandTests.Run("explain", shared.ToString(), "--store", $"litedb:{database}");
        var collected = await GcCommandTests.Run("explain", deadLayer.ToString(), "--store", $"litedb:{database}");

        kept.Code.Should().Be(0, kept.Err);
        Lines(kept.Out).Should().Equal($"blob {shared}: kept (tagged)", "    tag library/app:v1", $"  → manifest {live.Digest}", $"  → layer {shared}");
        collected.Code.Should().Be(0, collected.Err);
        Lines(collected.Out)[0].Should().Be($"blob {deadLayer}: collected by the next run");
        Lines(collected.Out)[1].Should().StartWith("  referenced only by collected artifacts (library/app@");
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    private static Digest TagTarget(string repository, string tag) =>
        Digest.Parse(File.ReadAllText(Path.Combine(Sample, "docker", "registry", "v2", "repositories", repository, "_manifests", "tags", tag, "current", "link")).Trim());

    private static JsonElement ReadBlob(Digest digest)
    {
        var hex = digest.ToString()["sha256:".Length..];
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Sample, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data")));
        return json.RootElement.Clone();
    }
}
