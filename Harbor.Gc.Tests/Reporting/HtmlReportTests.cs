using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Reporting;

/// <summary>The HTML report's content without a browser: encoding, nesting, and bytes per repository (DESIGN.md §9).</summary>
public class HtmlReportTests
{
    [Test]
    public async Task SharedDeadBlob_IsNamedWithEveryCollectedRepository_AndCountsInEach()
    {
        // given a layer shared by an untagged image in library/app and one in library/web, and a layer shared with a tagged image
        var r = new ScenarioRegistry();
        var shared = r.Blob(1000);
        var kept = r.Blob(700);
        var app = r.Image("library/app", [shared, r.Blob(10), kept]);
        r.Image("library/web", [shared, r.Blob(20)]);
        r.Image("library/live", [kept], tag: "v1");
        r.Age();

        var result = await r.RunAsync(dryRun: true);

        result.Plan.Blobs.Single(b => b.Digest == shared).Repositories.Select(x => x.Value).Should().Equal("library/app", "library/web");
        result.Plan.Blobs.Should().NotContain(b => b.Digest == kept, "a tagged image still uses it");
        result.Plan.Blobs.Single(b => b.Digest == app.Digest).Repositories.Select(x => x.Value).Should().Equal("library/app");
        var bars = HtmlReport.BytesPerRepository(result).ToDictionary(b => b.Label, b => b.Bytes);
        bars["library/app"].Should().Be(result.Plan.Blobs.Where(b => b.Repositories.Any(x => x.Value == "library/app")).Sum(b => b.Size));
        bars["library/web"].Should().Be(result.Plan.Blobs.Where(b => b.Repositories.Any(x => x.Value == "library/web")).Sum(b => b.Size));
        (bars["library/app"] + bars["library/web"]).Should().Be(result.Plan.Summary.Bytes + 1000, "the shared layer counts in both");

        // and the repositories survive the JSON report (plan → save → read)
        var read = GcPlanReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(GcReportWriter.ToJson(result))));
        read.Blobs.Should().BeEquivalentTo(result.Plan.Blobs);
    }

    [Test]
    public async Task TagsAndWarningsFromTheRegistry_AreHtmlEncoded()
    {
        var result = await HostileResultAsync();

        var html = HtmlReportWriter.ToHtml(HtmlReport.FromGc(result));

        html.Should().NotContain("<script").And.NotContain("<b>");
        html.Should().Contain("&lt;script&gt;alert(&quot;tag&quot;)&lt;/script&gt;").And.Contain("&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;");
    }

    [Test]
    [Description("README: a digest shows cut; with the pointer on it, it shows whole, and a click selects all of it. The page holds " +
                 "each digest once, whole, in a <code> the style cuts (with an ellipsis) and lets overflow, on a white box over the " +
                 "next cells, under the pointer; no title repeats it (at 10,000 artifacts, titles were a quarter of the page).")]
    public async Task ADigest_IsWrittenWholeOnce_InACodeTheStyleCuts_AndShowsWholeUnderThePointer()
    {
        // given: a dry run with garbage
        var result = await HostileResultAsync();

        // when: its page is written
        var html = HtmlReportWriter.ToHtml(HtmlReport.FromGc(result));

        // then: every planned artifact's digest is a code's whole text, the style cuts codes in cells and shows them whole on
        // hover, and no attribute repeats a digest
        foreach (var artifact in result.Plan.Artifacts)
        {
            html.Should().Contain($"<code>{artifact.Key.Digest}</code>");
        }

        html.Should().MatchRegex(@"td>code\{[^}]*user-select:all;overflow:hidden;text-overflow:ellipsis;white-space:nowrap")
            .And.MatchRegex(@"td>code:hover\{overflow:visible;position:relative;z-index:1;background:#fff;box-shadow:")
            .And.NotMatchRegex("=\"sha(256|512):");
    }

    [Test]
    public async Task TheRenderedPage_OfAHostileTag_HasNoScriptElement()
    {
        var result = await HostileResultAsync();
        var folder = Directory.CreateTempSubdirectory("harbor-gc-html-");
        var file = Path.Combine(folder.FullName, "report.html");
        await using (var stream = File.Create(file))
        {
            HtmlReportWriter.Write(stream, result);
        }

        try
        {
            var dom = await Chromium.DumpDomAsync(file);

            dom.Should().NotContain("<script").And.Contain("&lt;script&gt;alert(\"tag\")&lt;/script&gt;");
            dom.Should().Contain("<title>GC dry run on memory</title>");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Test]
    public async Task AccessoriesAreNestedUnderTheirSubject_AndAnIndexIsNamedSo()
    {
        var r = new ScenarioRegistry();
        var image = r.Image("library/app", [r.Blob()]);
        var sbom = r.Accessory(image, Harbor.Gc.Model.AccessoryTypes.HarborSbom);
        var signatureOfSbom = r.Accessory(sbom, Harbor.Gc.Model.AccessoryTypes.NotationSignature);
        var index = r.Index("library/app", [r.Image("library/app", [r.Blob()])]);
        r.Age();

        var report = HtmlReport.FromGc(await r.RunAsync(dryRun: true));

        var top = report.Artifacts.Single(a => a.Digest == image.Digest.ToString());
        top.Type.Should().Be("image");
        var nested = top.Accessories.Should().ContainSingle().Subject;
        (nested.Digest, nested.Type).Should().Be((sbom.Digest.ToString(), "sbom.harbor"));
        nested.Accessories.Should().ContainSingle().Which.Digest.Should().Be(signatureOfSbom.Digest.ToString());
        report.Artifacts.Single(a => a.Digest == index.Digest.ToString()).Type.Should().Be("index");
        report.Artifacts.Should().NotContain(a => a.Digest == sbom.Digest.ToString(), "an accessory is listed under its subject only");
    }

    [Test]
    public async Task HostileRepositoryNames_StayText_InTheGroups_TheChart_AndTheBlobs()
    {
        // given repository names as a hostile store could spell them (the stores validate names; the page does not rely on it),
        // with more repositories than the chart shows, so one is summed in the "others" bar
        string[] hostile = ["\"><script>alert(1)</script>", "a' onmouseover='alert(2)", "<img src=x onerror=alert(3)>", "x&amp;y"];
        var names = hostile.Concat(Enumerable.Range(0, HtmlReportWriter.ChartBars).Select(i => $"plain/repo-{i:D2}")).ToList();
        const string digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        var report = new HtmlReport
        {
            Title = hostile[0],
            Summary = [ReportField.Count("artifacts", "Artifacts", names.Count)],
            ChartTitle = hostile[1],
            Bars = [.. names.Select((n, i) => new ReportBar(n, 1000 - i))],
            ArtifactsTitle = "Collected artifacts",
            Artifacts = [.. names.Select(n => new ReportArtifact(n, digest, [n], "collected", "untagged", n))],
            Groups = [.. names.Select(n => new ReportGroup(n, n, [new ReportArtifact(n, digest, [n], "collected", "untagged", n)]) { Values = [new("artifacts", 1), new("blobs", 1), new("bytes", 5)] })],
            Blobs = [new ReportBlob(digest, 5, [.. names])],
            Warnings = hostile,
        };
        var folder = Directory.CreateTempSubdirectory("harbor-gc-html-");
        var file = Path.Combine(folder.FullName, "report.html");
        await File.WriteAllTextAsync(file, HtmlReportWriter.ToHtml(report));

        try
        {
            // when the page is rendered
            var dom = await Chromium.DumpDomAsync(file);

            // then no name became markup or an attribute, and each one is on the page as the text it is
            // (the serializer may leave < and > raw inside attribute values: the markup is looked for with those values blanked)
            var markup = System.Text.RegularExpressions.Regex.Replace(dom, "=\"[^\"]*\"", "=\"\"");
            System.Text.RegularExpressions.Regex.IsMatch(markup, "<(script|img)\\b|<[^>]*\\s(onmouseover|onerror)\\s*=", System.Text.RegularExpressions.RegexOptions.IgnoreCase).Should().BeFalse();
            dom.Should().Contain("<title>\"&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>");
            var groups = HtmlReportScaleTests.Groups(dom);
            groups.Select(g => g.Repository).Should().Equal(names, "each group's data-repository reads back as the name");
            groups.Should().OnlyContain(g => g.Rows.Count == 1 && g.Rows[0].Digest == digest);
            dom.Should().Contain("&lt;img src=x onerror=alert(3)&gt;").And.Contain("x&amp;amp;y");
            System.Text.RegularExpressions.Regex.Matches(dom, "<g class=\"bar\" data-label=\"([^\"]*)\"").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value))
                .Should().Equal([.. names.Take(HtmlReportWriter.ChartBars), "4 other repositories"]);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static async Task<GcResult> HostileResultAsync()
    {
        // given tag and warning text as a registry could hold it (the plan reader and stores validate names; this does not rely on it)
        var r = new ScenarioRegistry();
        r.Image("library/app", [r.Blob()]);
        r.Age();
        var dry = await r.RunAsync(dryRun: true);
        var plan = new CollectionPlan
        {
            Store = dry.Plan.Store,
            CreatedAt = dry.Plan.CreatedAt,
            DeleteUntagged = true,
            TimeWindow = dry.Plan.TimeWindow,
            Artifacts = [dry.Plan.Artifacts[0] with { Tags = ["<script>alert(\"tag\")</script>"] }],
            Blobs = dry.Plan.Blobs,
            Warnings = [new PlanWarning("library/app:<b>bold</b> & 'quoted'", "annotation <script>alert(2)</script>")],
        };
        return new GcResult { Plan = plan, DryRun = true, StartedAt = dry.StartedAt, FinishedAt = dry.FinishedAt, Outcome = GcOutcome.Completed };
    }
}
