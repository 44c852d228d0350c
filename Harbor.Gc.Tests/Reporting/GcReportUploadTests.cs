using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Reporting;

/// <summary>Stale uploads in the JSON report (DESIGN.md §8 allows extra fields), the plan reader and the console summary.</summary>
public class GcReportUploadTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Old = TimeSpan.FromDays(3);

    private DistributionTree _tree = null!;
    private FakeTimeProvider _time = null!;
    private string _dated = null!;
    private string _undated = null!;

    [SetUp]
    public void SetUp()
    {
        // given a tagged image, an untagged old one, and two abandoned uploads (19 and 7 bytes; the second with a broken startedat)
        _tree = new DistributionTree(Now);
        _time = new FakeTimeProvider(Now);
        _tree.Image("library/app", "v1", Old, "v1", "base", "app1");
        _tree.Image("library/app", "old", Old, null, "base", "old-only");
        _dated = _tree.UnfinishedUpload("library/app", "hello-partial-bytes"u8.ToArray(), Old);
        _undated = _tree.UnfinishedUpload("other/app", "partial"u8.ToArray(), Old, startedAtText: "not a time");
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    private GarbageCollector Collector() => new(new DistributionRegistryStore(_tree.Root, _time) { GracePeriod = TimeSpan.Zero }, _time);

    [Test]
    public async Task Write_ListsStaleUploads_AndCountsTheirBytesApartFromBlobs()
    {
        var dry = await Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });

        using var json = JsonDocument.Parse(GcReportWriter.ToJson(dry));
        var root = json.RootElement;
        var summary = root.GetProperty("summary");
        summary.GetProperty("uploads").GetInt32().Should().Be(2);
        summary.GetProperty("uploadBytes").GetInt64().Should().Be(26);
        summary.GetProperty("bytes").GetInt64().Should().Be(root.GetProperty("blobs").EnumerateArray().Sum(b => b.GetProperty("size").GetInt64()),
            "summary.bytes stays the total of the listed blobs (DESIGN.md §8)");
        var uploads = root.GetProperty("uploads").EnumerateArray().ToList();
        uploads.Select(u => (u.GetProperty("repository").GetString(), u.GetProperty("id").GetString(), u.GetProperty("size").GetInt64()))
            .Should().Equal(("library/app", _dated, 19L), ("other/app", _undated, 7L));
        uploads[0].GetProperty("startedAt").GetString().Should().Be("2026-02-26T12:00:00Z");
        uploads[0].GetProperty("lastWrittenAt").GetString().Should().Be("2026-02-26T12:00:00Z");
        uploads[1].GetProperty("startedAt").ValueKind.Should().Be(JsonValueKind.Null, "its startedat could not be read");
        root.GetProperty("warnings").EnumerateArray().Should().Contain(w => w.GetProperty("message").GetString()!.Contains("'not a time'", StringComparison.Ordinal));

        var real = await Collector().RunAsync(new GcOptions { DeleteUntagged = true });
        using var realJson = JsonDocument.Parse(GcReportWriter.ToJson(real));
        var result = realJson.RootElement.GetProperty("result");
        result.GetProperty("uploadsDeleted").GetInt32().Should().Be(2);
        result.GetProperty("uploadBytesFreed").GetInt64().Should().Be(26);
        result.GetProperty("bytesFreed").GetInt64().Should().Be(real.Plan.Summary.Bytes, "bytesFreed counts blobs only, as before");
        result.GetProperty("uploadsKept").GetArrayLength().Should().Be(0);
        result.GetProperty("uploadsFailed").GetArrayLength().Should().Be(0);
    }

    [Test]
    public async Task ConsoleSummary_MentionsStaleUploads_InHarborStyle()
    {
        var dry = await Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
        var blobBytes = dry.Plan.Summary.Bytes;
        var text = new StringWriter();

        ConsoleSummary.Write(text, dry);

        var lines = text.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        lines[2].Should().Be("  3 blobs and 1 manifests (1 artifacts) eligible for deletion, and 2 stale uploads (26 bytes)");
        lines[3].Should().Be($"  could free up {ConsoleSummary.FormatBytes(blobBytes + 26)}", "the space a run frees counts the uploads too");

        var real = await Collector().RunAsync(new GcOptions { DeleteUntagged = true });
        var realText = new StringWriter();
        ConsoleSummary.Write(realText, real);

        realText.ToString().Should().Contain($"  deleted 1 artifacts and 3 blobs, and 2 stale uploads (26 bytes), freed {ConsoleSummary.FormatBytes(blobBytes + 26)}");
    }

    [Test]
    public async Task ConsoleSummary_UploadKeptByTheReCheck_IsCounted()
    {
        var collector = Collector();
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });
        _tree.AppendToUpload("library/app", _dated, "-more"u8.ToArray());

        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });
        var text = new StringWriter();
        ConsoleSummary.Write(text, result);

        text.ToString().Should().Contain("  deleted 1 artifacts and 3 blobs, and 1 stale uploads (7 bytes), freed")
            .And.Contain("  kept after re-check (changed since the plan): 0 artifacts, 0 blobs, 1 uploads");
    }

    [Test]
    public async Task ReadPlan_WithUploads_RoundTrips_AndAppliesWithTheReCheck()
    {
        // plan → save → review → apply, with a push resuming one upload in between
        var dry = await Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
        var plan = GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(GcReportWriter.ToJson(dry))));
        plan.Uploads.Should().Equal(dry.Plan.Uploads, "every field, the unreadable start (null) included, survives the report");
        _tree.AppendToUpload("other/app", _undated, "-more"u8.ToArray());

        var applied = await Collector().ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

        applied.UploadsDeleted.Should().Be(1);
        applied.UploadsSkipped.Select(u => u.Id).Should().Equal(_undated);
        _tree.HasUpload("library/app", _dated).Should().BeFalse();
        _tree.HasUpload("other/app", _undated).Should().BeTrue();
    }

    [TestCase("../../../_layers", "plan field 'uploads[0].id': '../../../_layers' is not an upload id: it has the character '.' at position 0")]
    [TestCase("a/b", "plan field 'uploads[0].id': 'a/b' is not an upload id: it has the character '/' at position 1")]
    public async Task ReadPlan_UploadIdWithAPathTrick_FailsNamingTheField(string id, string message)
    {
        var dry = await Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
        var tampered = GcReportWriter.ToJson(dry).Replace($"\"id\": \"{_dated}\"", $"\"id\": \"{id}\"", StringComparison.Ordinal);

        var act = () => GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(tampered)));

        act.Should().Throw<PlanFormatException>().Which.Message.Should().StartWith(message);
    }

    [Test]
    public async Task ReadPlan_WrittenBeforeUploadsWereCollected_RemovesNone()
    {
        var dry = await Collector().RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });
        var report = JsonNode.Parse(GcReportWriter.ToJson(dry))!.AsObject();
        report.Remove("uploads").Should().BeTrue();

        var plan = GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(report.ToJsonString())));
        var applied = await Collector().ExecuteAsync(plan, new GcOptions { DeleteUntagged = true });

        plan.Uploads.Should().BeEmpty();
        applied.UploadsDeleted.Should().Be(0);
        _tree.HasUpload("library/app", _dated).Should().BeTrue();
    }
}
