using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Retention;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Reporting;

/// <summary>
/// <c>harbor-gc retention run --report-html</c> (DESIGN.md §9): the page of a retention run, rendered in a real headless Chromium,
/// shows the JSON report's numbers (summary, per repository, each artifact retained or deleted), nests accessories under the
/// artifact they follow, and keeps markup from the store as text.
/// </summary>
public class RetentionHtmlReportTests
{
    private const string Hostile = "<img src=x onerror=alert(1)>";
    private DistributionTree _tree = null!;
    private Digest _v1;
    private Digest _v2;
    private Digest _sbom;
    private Digest _sbomSignature;
    private Digest _multi;

    [SetUp]
    public void SetUp()
    {
        // Given library/app: v1 (5 days old) with a cosign signature, an SBOM (OCI subject) and a notation signature of the SBOM,
        // and v2 (1 day old); library/web: w1 (3 days), w2 (2 days) and a multi-arch index (4 days) whose amd64 child is tagged
    // "amd64" (a candidate of its own, as in Harbor) and whose arm64 child is untagged; and in library/odd a tag folder whose name is markup
        // with no link in it (Distribution does not forbid it on disk), which the store reports as a problem
        _tree = new DistributionTree(GcCommandTests.Now);
        _v1 = _tree.Image("library/app", "v1", TimeSpan.FromDays(5), "v1", "base", "v1-layer").Manifest;
        _v2 = _tree.Image("library/app", "v2", TimeSpan.FromDays(1), "v2", "base", "v2-layer").Manifest;
        _tree.CosignSignature("library/app", _v1, TimeSpan.FromDays(5));
        var age = TimeSpan.FromDays(5);
        _sbom = _tree.Push("library/app", Support.Manifests.Referrer(_v1, "application/spdx+json", _tree.Upload("library/app", "spdx", age)), age);
        _sbomSignature = _tree.Push("library/app", Support.Manifests.Referrer(_sbom, "application/vnd.cncf.notary.signature", _tree.Upload("library/app", "notation", age)), age);
        _tree.Image("library/web", "w1", TimeSpan.FromDays(3), "w1", "web-base", "w1-layer");
        _tree.Image("library/web", "w2", TimeSpan.FromDays(2), "w2", "web-base", "w2-layer");
        var amd = _tree.Image("library/web", "amd", TimeSpan.FromDays(4), "amd64", "web-base", "amd-layer").Manifest;
        var arm = _tree.Image("library/web", "arm", TimeSpan.FromDays(4), null, "web-base", "arm-layer").Manifest;
        _multi = _tree.Push("library/web", Support.Manifests.Index([amd, arm]), TimeSpan.FromDays(4), "multi");
        _tree.Image("library/odd", "odd", TimeSpan.FromDays(1), "odd", "odd-layer");
        Directory.CreateDirectory(Path.Combine(_tree.TagFolder("library/odd", Hostile), "current"));
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    /// <summary>Rule 1 keeps the newest pushed artifact of each repository; rule 2 (never pulled in Distribution) keeps none and warns.</summary>
    private string WritePolicy()
    {
        var path = Path.Combine(_tree.Root, "policy.json");
        const string selectors = """
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
            """;
        File.WriteAllText(path, $$$"""
            {"algorithm": "or", "rules": [
              {"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1}, {{{selectors}}}},
              {"disabled": false, "action": "retain", "template": "nDaysSinceLastPull", "params": {"nDaysSinceLastPull": 7}, {{{selectors}}}}],
             "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}}, "scope": {"level": "project", "ref": "library"}}
            """);
        return path;
    }

    [TestCase(true, TestName = "Retention_DryRun_TheRenderedPage_ShowsTheJsonReportsNumbers")]
    [TestCase(false, TestName = "Retention_RealRun_TheRenderedPage_ShowsTheJsonReportsNumbers")]
    public async Task RenderedPage_ShowsTheJsonReportsNumbers(bool dryRun)
    {
        var json = Path.Combine(_tree.Root, "report.json");
        var html = Path.Combine(_tree.Root, "report.html");
        string[] args = ["retention", "run", "--policy", WritePolicy(), "--store", $"distribution:{_tree.Root}", "--grace-period", "0", "--report-json", json, "--report-html", html];
        var (code, output, errors) = await GcCommandTests.Run(dryRun ? [.. args, "--dry-run"] : args);
        code.Should().Be(0, errors);
        output.Should().Contain($"HTML report: {html}");

        var source = await File.ReadAllTextAsync(html);
        var dom = await Chromium.DumpDomAsync(html);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = report.RootElement;

        // self-contained, and the markup from the store stayed text
        Regex.IsMatch(source, "<(script|link|img|iframe|object)", RegexOptions.IgnoreCase).Should().BeFalse();
        Regex.IsMatch(dom, "<(script|img)", RegexOptions.IgnoreCase).Should().BeFalse("the tag folder's name is text, not an element");
        dom.Should().Contain("&lt;img src=x onerror=alert(1)&gt;").And.Contain("</html>");
        dom.Should().Contain($"<title>Retention {(dryRun ? "dry run" : "run")} on distribution:");

        // the summary is the JSON's, warnings included (the pull-times one among them)
        var summary = Regex.Matches(dom, "<td data-key=\"(\\w+)\" class=\"num\" data-value=\"(\\d+)\">([\\d,]+)</td>").ToDictionary(
            m => m.Groups[1].Value,
            m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture).Should().Be(long.Parse(m.Groups[3].Value.Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture)).And.Subject);
        var s = root.GetProperty("summary");
        (summary["total"], summary["retained"], summary["deleted"]).Should().Be((s.GetProperty("total").GetInt64(), s.GetProperty("retained").GetInt64(), s.GetProperty("deleted").GetInt64()));
        (summary["artifacts"], summary["artifactsToDelete"]).Should().Be((s.GetProperty("artifacts").GetInt64(), s.GetProperty("artifactsToDelete").GetInt64()));
        (summary["total"], summary["retained"], summary["deleted"]).Should().Be((7L, 3L, 4L), "candidates: app's v1 goes, v2 stays; web: w1, the index and its tagged amd64 child go, w2 stays; odd: its one image stays");
        (summary["artifacts"], summary["artifactsToDelete"]).Should().Be((11L, 8L), "v1 takes its signature, SBOM and the SBOM's signature with it, the index its untagged arm64 child");
        summary["warnings"].Should().Be(root.GetProperty("warnings").GetArrayLength());
        root.GetProperty("warnings").EnumerateArray().Should().Contain(w => w.GetString() == RetentionRunner.PullTimesUnknownWarning);
        dom.Should().Contain(RetentionRunner.PullTimesUnknownWarning, "the warning is on the page");
        if (dryRun)
        {
            summary.Should().NotContainKey("artifactsDeleted");
        }
        else
        {
            summary["artifactsDeleted"].Should().Be(root.GetProperty("result").GetProperty("artifactsDeleted").GetInt64()).And.Be(8);
        }

        // per repository, table and chart: the JSON's repositories
        var repositories = root.GetProperty("repositories").EnumerateArray()
            .Select(r => (r.GetProperty("repository").GetString()!, r.GetProperty("total").GetInt32(), r.GetProperty("retained").GetInt32(), r.GetProperty("deleted").GetInt32())).ToList();
        Regex.Matches(dom, "<tr data-repository=\"([^\"]*)\" data-total=\"(\\d+)\" data-retained=\"(\\d+)\" data-deleted=\"(\\d+)\">")
            .Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture)))
            .Should().Equal(repositories);
        Regex.Matches(dom, "<g class=\"bar\" data-label=\"([^\"]*)\" data-bytes=\"(\\d+)\">").ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))
            .Should().Equal(root.GetProperty("repositories").EnumerateArray().Where(r => r.GetProperty("artifactsToDelete").GetInt32() > 0)
                .ToDictionary(r => r.GetProperty("repository").GetString()!, r => r.GetProperty("artifactsToDelete").GetInt32()), "the bars count every artifact deleted");
        dom.Should().Contain("Retention frees no bytes itself");

        // each JSON artifact is one row of its repository's group with its outcome, type and size; an accessory or index child
        // sits right under the artifact it follows, one level deeper
        var groups = Regex.Matches(dom, "<details class=\"repository\" open=\"\" data-repository=\"([^\"]*)\" data-total=\"(\\d+)\" data-retained=\"(\\d+)\" data-deleted=\"(\\d+)\">(.*?)</details>", RegexOptions.Singleline).ToList();
        groups.Select(g => (g.Groups[1].Value, int.Parse(g.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(g.Groups[3].Value, CultureInfo.InvariantCulture), int.Parse(g.Groups[4].Value, CultureInfo.InvariantCulture)))
            .Should().Equal(repositories);
        var rows = groups.SelectMany(g => Regex.Matches(g.Groups[5].Value, "<tr class=\"d(\\d)\" data-size=\"(\\d+)\"><td>(↳ )?<code>([^<]*)</code></td><td>.*?</td><td>([^<]*)</td><td>(retained|deleted)</td>")
            .Select(m => (Depth: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Key: $"{g.Groups[1].Value}@{m.Groups[4].Value}", Status: m.Groups[6].Value, Type: m.Groups[5].Value, Size: long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))).ToList();
        var artifacts = root.GetProperty("artifacts").EnumerateArray().ToDictionary(
            a => $"{a.GetProperty("repository").GetString()}@{a.GetProperty("digest").GetString()}",
            a => (Outcome: a.GetProperty("outcome").GetString(),
                Follows: a.GetProperty("reason").GetString() is "accessory-of-retained" or "accessory-of-deleted" or "child-kept" or "child-of-deleted"
                    ? $"{a.GetProperty("repository").GetString()}@{a.GetProperty("cause").GetString()}" : null,
                Size: a.GetProperty("size").GetInt64(),
                Type: a.TryGetProperty("accessoryType", out var type) ? type.GetString() : null));
        rows.Select(r => (r.Key, r.Status, r.Size)).Should().BeEquivalentTo(artifacts.Select(a => (a.Key, a.Value.Outcome, a.Value.Size)));
        rows.Should().OnlyContain(r => r.Size > 0, "the manifests' sizes");
        rows.Where(r => artifacts[r.Key].Type != null).Should().OnlyContain(r => r.Type == artifacts[r.Key].Type, "an accessory shows its type");
        rows.Single(r => r.Key == $"library/app@{_sbom}").Type.Should().Be(AccessoryTypes.SubjectAccessory);
        for (var i = 0; i < rows.Count; i++)
        {
            if (artifacts[rows[i].Key].Follows is { } subject)
            {
                rows.Take(i).Last(r => r.Depth == rows[i].Depth - 1).Key.Should().Be(subject, $"{rows[i].Key} is nested under its subject");
            }
            else
            {
                rows[i].Depth.Should().Be(0);
            }
        }

        rows.Single(r => r.Key == $"library/app@{_sbomSignature}").Depth.Should().Be(2, "the notation signature of the SBOM of v1");
        rows.Single(r => r.Key == $"library/app@{_sbom}").Depth.Should().Be(1);
        // each row says why in the console's words, digests whole: a tagged child no rule retains goes because its index goes
        // (the page said "not-retained of sha256:…", naming the index without saying what it is)
        dom.Should().Contain("retained-by-rule: retained by rule 1 (latestPushedK(1))")
            .And.Contain($"accessory-of-deleted: accessory of the deleted {_v1}")
            .And.Contain($"not-retained: no rule retains it and its index {_multi} goes");
        Regex.IsMatch(dom, "<table id=\"blobs\"").Should().BeFalse("retention deletes no blob");
        rows.Single(r => r.Key == $"library/app@{_v2}").Status.Should().Be("retained");
    }

    [Test]
    public void TagsOfARetentionRun_AreHtmlEncoded()
    {
        // given a tag as a registry could hold it (stores validate names; the page does not rely on it)
        var policy = new RetentionPolicy("library<i>", []);
        var digest = Digest.Sha256Of("x"u8);
        var plan = new RetentionPlan(
            policy,
            GcCommandTests.Now,
            [new RepositoryRetention(RepositoryName.Parse("library/app"), 1, 0, 1, [new ArtifactRetention(digest, ["<script>alert(\"tag\")</script>"], RetentionOutcome.Deleted, RetentionReason.NotRetained, [])])],
            [],
            [new ArtifactKey(RepositoryName.Parse("library/app"), digest)]);
        var result = new RetentionResult("memory", true, GcCommandTests.Now, GcCommandTests.Now, plan, null, ["library/app:<b>bold</b> & 'quoted'"]);

        var html = HtmlReportWriter.ToHtml(HtmlReport.FromRetention(result));

        html.Should().NotContain("<script").And.NotContain("<b>").And.NotContain("<i>");
        html.Should().Contain("&lt;script&gt;alert(&quot;tag&quot;)&lt;/script&gt;").And.Contain("&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;").And.Contain("library&lt;i&gt;");
        html.Should().Contain("data-key=\"deleted\" class=\"num\" data-value=\"1\"");
    }
}
