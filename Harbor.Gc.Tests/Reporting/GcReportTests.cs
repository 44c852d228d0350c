using System.Text;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Reporting;

public class GcReportTests
{
    private static async Task<(ScenarioRegistry Registry, GcResult Result, Artifact Image, Artifact Signature)> DryRunAsync()
    {
        var r = new ScenarioRegistry();
        var image = r.Image("library/app", [r.Blob(1000)]);
        var signature = r.Accessory(image);
        r.Image("library/app", [r.Blob()], tag: "v1");
        r.Age();
        return (r, await r.RunAsync(dryRun: true), image, signature);
    }

    [Test]
    public async Task Write_DryRun_HasTheFieldsOfDesign8()
    {
        var (_, result, image, signature) = await DryRunAsync();

        using var json = JsonDocument.Parse(GcReportWriter.ToJson(result));
        var root = json.RootElement;

        root.GetProperty("kind").GetString().Should().Be("gc");
        root.GetProperty("dryRun").GetBoolean().Should().BeTrue();
        root.GetProperty("options").GetProperty("timeWindow").GetString().Should().Be("2h", "durations are written as the command line takes them");
        root.GetProperty("options").GetProperty("deleteUntagged").GetBoolean().Should().BeTrue();
        root.GetProperty("options").GetProperty("workers").GetInt32().Should().Be(1);
        var summary = root.GetProperty("summary");
        summary.GetProperty("artifacts").GetInt32().Should().Be(2);
        summary.GetProperty("manifests").GetInt32().Should().Be(2);
        summary.GetProperty("blobs").GetInt32().Should().Be(result.Plan.Blobs.Count);
        summary.GetProperty("bytes").GetInt64().Should().Be(root.GetProperty("blobs").EnumerateArray().Sum(b => b.GetProperty("size").GetInt64()),
            "summary.bytes is the total of the listed blobs");
        var artifacts = root.GetProperty("artifacts").EnumerateArray().ToList();
        artifacts[0].GetProperty("repository").GetString().Should().Be("library/app");
        artifacts[0].GetProperty("digest").GetString().Should().Be(image.Digest.ToString());
        artifacts[0].GetProperty("reason").GetString().Should().Be("untagged");
        artifacts[0].GetProperty("accessoryType").ValueKind.Should().Be(JsonValueKind.Null);
        artifacts[1].GetProperty("reason").GetString().Should().Be("accessory-of-deleted-subject");
        artifacts[1].GetProperty("accessoryType").GetString().Should().Be("signature.cosign");
        artifacts[1].GetProperty("subject").GetString().Should().Be(image.Digest.ToString());
        artifacts[1].GetProperty("digest").GetString().Should().Be(signature.Digest.ToString());
        root.TryGetProperty("result", out _).Should().BeFalse("a dry run did nothing");
    }

    [Test]
    public async Task Write_KeepsThePlusOfMediaTypes_AndReadsBackTheSame()
    {
        var (_, result, image, _) = await DryRunAsync();

        var json = GcReportWriter.ToJson(result);

        image.MediaType.Should().Contain("+");
        json.Should().Contain($"\"mediaType\": \"{image.MediaType}\"").And.NotContain("\\u002B");
        GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(json))).Artifacts[0].MediaType.Should().Be(image.MediaType);
    }

    [Test]
    public async Task ReadPlan_OfASavedDryRun_AppliesToTheSameOutcomeAsADirectRun()
    {
        // plan → save → review → apply (DESIGN.md §2)
        var (r, dry, _, _) = await DryRunAsync();
        var saved = new MemoryStream(Encoding.UTF8.GetBytes(GcReportWriter.ToJson(dry)));

        var plan = GcPlanReader.Read(saved);
        var applied = await r.Collector().ExecuteAsync(plan, new GcOptions());

        plan.Artifacts.Should().BeEquivalentTo(dry.Plan.Artifacts);
        plan.Blobs.Should().BeEquivalentTo(dry.Plan.Blobs);
        applied.ArtifactsDeleted.Should().Be(2);
        applied.BlobsDeleted.Should().Be(dry.Plan.Blobs.Count);
        applied.BytesFreed.Should().Be(dry.Plan.Summary.Bytes);
        (await r.PlanAsync()).Artifacts.Should().BeEmpty();
    }

    [TestCase("2h", "2h", 2 * 60, Description = "as reports write it now")]
    [TestCase("2h", "1d12h30m", 36 * 60 + 30, Description = "several units")]
    [TestCase("2h", "02:00:00", 2 * 60, Description = "as reports wrote it before")]
    [TestCase("2h", "1.12:30:00", 36 * 60 + 30, Description = "as reports wrote a window of a day or more before")]
    public async Task ReadPlan_ReadsTheTimeWindow_InTheFormItIsWritten_AndInTheFormOfOlderReports(string written, string replace, int minutes)
    {
        // given a report whose time window is written in one of the forms of the duration grammar
        var (_, dry, _, _) = await DryRunAsync();
        var json = GcReportWriter.ToJson(dry);
        json.Should().Contain($"\"timeWindow\": \"{written}\"");
        json = json.Replace($"\"timeWindow\": \"{written}\"", $"\"timeWindow\": \"{replace}\"", StringComparison.Ordinal);

        // when its plan is read
        var plan = GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(json)));

        // then the window is the one written
        plan.TimeWindow.Should().Be(TimeSpan.FromMinutes(minutes));
    }

    [TestCase("\"digest\": \"sha256:", "\"digest\": \"sha256:../../", "plan field 'artifacts[0].digest': 'sha256:../../", Description = "a path trick in a digest")]
    [TestCase("\"repository\": \"library/app\"", "\"repository\": \"../etc\"", "plan field 'artifacts[0].repository': '../etc' is not a valid repository name: path component 1 ('..') must start and end with a lowercase letter or digit", Description = "a path trick in a repository")]
    [TestCase("\"reason\": \"untagged\"", "\"reason\": \"because\"", "plan field 'artifacts[0].reason': 'because' is not a deletion reason", Description = "an unknown reason")]
    [TestCase("\"kind\": \"gc\"", "\"kind\": \"retention\"", "plan field 'kind': expected \"gc\"")]
    [TestCase("\"timeWindow\": \"2h\"", "\"timeWindow\": \"2 hours\"", "plan field 'options.timeWindow': '2 hours' is not a duration; write 0, or whole numbers")]
    public async Task ReadPlan_Tampered_FailsNamingTheField(string find, string replace, string message)
    {
        var (_, dry, _, _) = await DryRunAsync();
        var json = GcReportWriter.ToJson(dry);
        var at = json.IndexOf(find, StringComparison.Ordinal);
        var tampered = json[..at] + replace + json[(at + find.Length)..];

        var act = () => GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(tampered)));

        act.Should().Throw<PlanFormatException>().Which.Message.Should().StartWith(message);
    }

    [Test]
    public void ReadPlan_NotJson_SaysSo()
    {
        var act = () => GcPlanReader.Read(new MemoryStream("{ nope"u8.ToArray()));

        act.Should().Throw<PlanFormatException>().Which.Message.Should().StartWith("plan field '$': not valid JSON");
    }

    [Test]
    public async Task ConsoleSummary_SaysWhatIsEligible_AndWhatItCouldFree()
    {
        var (_, result, _, _) = await DryRunAsync();
        var text = new StringWriter();

        ConsoleSummary.Write(text, result);

        var lines = text.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        lines[0].Should().Be("GC dry run on memory at 2026-01-11T00:00:00Z (delete untagged: yes, time window: 2h)");
        lines[1].Should().Be("  scanned 1 repositories, 3 artifacts, 1 tags, 9 blobs", "three images of manifest, config and one layer each");
        lines[2].Should().Be($"  {result.Plan.Blobs.Count} blobs and 2 manifests (2 artifacts) eligible for deletion");
        lines[3].Should().Be($"  could free up {ConsoleSummary.FormatBytes(result.Plan.Summary.Bytes)}");
        lines[4].Should().Be("  by reason: untagged 1, accessory-of-deleted-subject 1");
    }

    [TestCase(0, "0 bytes")]
    [TestCase(1023, "1,023 bytes")]
    [TestCase(1536, "1.5 KiB (1,536 bytes)")]
    [TestCase(5L * 1024 * 1024 * 1024, "5 GiB (5,368,709,120 bytes)")]
    public void FormatBytes_UsesBinaryUnits(long bytes, string expected) => ConsoleSummary.FormatBytes(bytes).Should().Be(expected);
}
