using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Reporting;

/// <summary>
/// <c>harbor-gc gc --report-html</c> rendered in a real headless Chromium with every host name unresolvable: the page renders
/// complete offline, and every number on it (summary, bytes per repository, nested accessory rows, blobs) is the JSON report's of
/// the same run.
/// </summary>
public class HtmlReportBrowserTests
{
    private const string Hostile = "<img src=x onerror=alert(1)>";
    private DistributionTree _tree = null!;

    [SetUp]
    public void SetUp()
    {
        // Given a Distribution tree, everything pushed three days ago:
        var age = TimeSpan.FromDays(3);
        _tree = new DistributionTree(GcCommandTests.Now);
        _tree.WriteBlob("{}"u8.ToArray(), age);

        // library/app: v1 is tagged; "old" is not, and has a cosign tag-scheme signature, an SBOM (OCI subject) and a notation
        // signature of that SBOM: Harbor shows them nested under the image, the signature of the SBOM under the SBOM
        _tree.Image("library/app", "v1", age, "v1", "base", "app1");
        var old = _tree.Image("library/app", "old", age, null, "base", "shared-dead", "old-only").Manifest;
        var cosignConfig = _tree.Upload("library/app", "{\"cosign\":1}", age);
        _tree.Push("library/app", Support.Manifests.Image(cosignConfig, [_tree.Upload("library/app", "cosign payload", age)]), age, $"sha256-{old.Hex}.sig");
        var sbom = _tree.Push("library/app", Support.Manifests.Referrer(old, "application/spdx+json", _tree.Upload("library/app", "spdx", age)), age);
        _tree.Push("library/app", Support.Manifests.Referrer(sbom, "application/vnd.cncf.notary.signature", _tree.Upload("library/app", "notation", age)), age);

        // library/web: an untagged image whose layer "shared-dead" is also the old app image's: its bytes count in both
        _tree.Image("library/web", "web-old", age, null, "shared-dead", "web-only");

        // library/odd: a tag folder whose name is markup (Distribution does not forbid it on disk): a warning, HTML-encoded
        _tree.Image("library/odd", "odd", age, null, "odd-layer");
        Directory.CreateDirectory(Path.Combine(_tree.TagFolder("library/odd", Hostile), "current"));

        _tree.UnfinishedUpload("library/app", "abandoned bytes"u8.ToArray(), age);
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    [TestCase(true, TestName = "DryRun_TheRenderedPage_ShowsTheJsonReportsNumbers_Offline")]
    [TestCase(false, TestName = "RealRun_TheRenderedPage_ShowsTheJsonReportsNumbers_Offline")]
    public async Task RenderedPage_ShowsTheJsonReportsNumbers_Offline(bool dryRun)
    {
        var json = Path.Combine(_tree.Root, "report.json");
        var html = Path.Combine(_tree.Root, "report.html");
        string[] args = ["gc", "--delete-untagged", "true", "--store", $"distribution:{_tree.Root}", "--grace-period", "0", "--report-json", json, "--report-html", html];
        var (code, _, errors) = await GcCommandTests.Run(dryRun ? [.. args, "--dry-run"] : args);
        code.Should().Be(0, errors);

        var source = await File.ReadAllTextAsync(html);
        var dom = await Chromium.DumpDomAsync(html);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = report.RootElement;

        // self-contained: nothing to fetch, no script at all, and the markup from the store stayed text
        Regex.IsMatch(source, @"(src|href)\s*=\s*[""']?\s*(https?:)?//", RegexOptions.IgnoreCase).Should().BeFalse("the page loads nothing");
        Regex.IsMatch(source, "<(script|link|img|iframe|object)", RegexOptions.IgnoreCase).Should().BeFalse();
        Regex.IsMatch(dom, "<(script|img)", RegexOptions.IgnoreCase).Should().BeFalse("the tag name from the store is text, not an element");
        dom.Should().Contain("&lt;img src=x onerror=alert(1)&gt;", "the warning names the tag folder, as text");
        dom.Should().Contain("</html>", "the page rendered completely with no network");

        // the summary is the JSON's
        var summary = Cells(dom);
        var s = root.GetProperty("summary");
        foreach (var key in new[] { "artifacts", "manifests", "blobs", "bytes", "uploads", "uploadBytes" })
        {
            summary[key].Should().Be(s.GetProperty(key).GetInt64(), key);
        }

        summary["warnings"].Should().Be(root.GetProperty("warnings").GetArrayLength()).And.BeGreaterThan(0);
        summary["uploads"].Should().Be(1);
        Text(dom, "run").Should().Be(dryRun ? "dry run (nothing deleted)" : "real run");
        Text(dom, "bytes").Should().Contain($"{s.GetProperty("bytes").GetInt64().ToString("N0", CultureInfo.InvariantCulture)} bytes");
        Text(dom, "startedAt").Should().Be(root.GetProperty("startedAt").GetString());
        if (!dryRun)
        {
            var r = root.GetProperty("result");
            summary["artifactsDeleted"].Should().Be(r.GetProperty("artifactsDeleted").GetInt64());
            summary["blobsDeleted"].Should().Be(r.GetProperty("blobsDeleted").GetInt64());
            summary["bytesFreed"].Should().Be(r.GetProperty("bytesFreed").GetInt64());
            summary["uploadsDeleted"].Should().Be(r.GetProperty("uploadsDeleted").GetInt64());
        }

        // bytes per repository: from the JSON's blobs, each blob's size counted in every repository it names
        var expected = new Dictionary<string, long>();
        foreach (var blob in root.GetProperty("blobs").EnumerateArray())
        {
            var repositories = blob.GetProperty("repositories").EnumerateArray().Select(x => x.GetString()!).DefaultIfEmpty(HtmlReport.UnreferencedLabel);
            foreach (var repository in repositories)
            {
                expected[repository] = expected.GetValueOrDefault(repository) + blob.GetProperty("size").GetInt64();
            }
        }

        var bars = Regex.Matches(dom, "<g class=\"bar\" data-label=\"([^\"]*)\" data-bytes=\"(\\d+)\">(.*?)</g>")
            .ToDictionary(m => WebUtility.HtmlDecode(m.Groups[1].Value), m => (Bytes: long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Inner: m.Groups[3].Value));
        bars.ToDictionary(b => b.Key, b => b.Value.Bytes).Should().Equal(expected);
        bars.Keys.Should().Contain(["library/app", "library/web"]);
        bars.Should().OnlyContain(b => b.Value.Inner.Contains(HtmlReportWriter.Size(b.Value.Bytes), StringComparison.Ordinal), "each bar is labelled with its bytes");
        var sharedDead = Digest.Sha256Of("shared-dead"u8).ToString();
        root.GetProperty("blobs").EnumerateArray().Single(b => b.GetProperty("digest").GetString() == sharedDead)
            .GetProperty("repositories").EnumerateArray().Select(x => x.GetString()).Should().Equal("library/app", "library/web");

        // artifacts, grouped per repository: each JSON artifact is one row of its repository's group, an accessory right under
        // its subject and an index child right under the index that lists it, one level deeper
        var groups = HtmlReportScaleTests.Groups(dom);
        groups.Should().OnlyContain(g => g.Open, "a small page opens its groups");
        var rows = groups.SelectMany(g => g.Rows.Select(r => (r.Depth, Key: $"{g.Repository}@{r.Digest}"))).ToList();
        var artifacts = root.GetProperty("artifacts").EnumerateArray().ToDictionary(
            a => $"{a.GetProperty("repository").GetString()}@{a.GetProperty("digest").GetString()}",
            a => a.GetProperty("subject").GetString() is { } subject ? $"{a.GetProperty("repository").GetString()}@{subject}"
                : a.GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()).FirstOrDefault());
        rows.Select(r => r.Key).Should().BeEquivalentTo(artifacts.Keys);
        foreach (var group in groups)
        {
            group.Artifacts.Should().Be(group.Rows.Count);
            var counted = root.GetProperty("blobs").EnumerateArray().Where(b => b.GetProperty("repositories").EnumerateArray().Any(x => x.GetString() == group.Repository)).ToList();
            (group.Blobs, group.Bytes).Should().Be((counted.Count, counted.Sum(b => b.GetProperty("size").GetInt64())), group.Repository);
        }

        for (var i = 0; i < rows.Count; i++)
        {
            var parent = artifacts[rows[i].Key];
            if (parent is not null && artifacts.ContainsKey(parent))
            {
                rows.Take(i).Last(r => r.Depth == rows[i].Depth - 1).Key.Should().Be(parent, $"{rows[i].Key} is nested under its subject");
            }
            else
            {
                rows[i].Depth.Should().Be(0);
            }
        }

        rows.Max(r => r.Depth).Should().Be(2, "the notation signature of the SBOM of the old image");

        // blobs: the JSON's list, with sizes, and on a real run each one's outcome
        var blobRows = Regex.Matches(dom, "<tr data-size=\"(\\d+)\"( data-outcome=\"([^\"]*)\")?><td><code>([^<]*)</code>")
            .Select(m => (m.Groups[4].Value, long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[3].Success ? m.Groups[3].Value : null)).ToList();
        blobRows.Should().BeEquivalentTo(root.GetProperty("blobs").EnumerateArray().Select(b => (b.GetProperty("digest").GetString(), b.GetProperty("size").GetInt64(), dryRun ? null : ReportBlob.Deleted)));
    }

    private static Dictionary<string, long> Cells(string dom) =>
        Regex.Matches(dom, "<td data-key=\"(\\w+)\" class=\"num\" data-value=\"(\\d+)\">([^<]*)</td>").ToDictionary(
            m => m.Groups[1].Value,
            m =>
            {
                // what people read is the same number: "1,234", or bytes as "… (1,234 bytes)" or "12 bytes"
                var value = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                var shown = Regex.Match(m.Groups[3].Value, @"([\d,]+)( bytes\)?)?$").Groups[1].Value.Replace(",", string.Empty, StringComparison.Ordinal);
                long.Parse(shown, CultureInfo.InvariantCulture).Should().Be(value, m.Value);
                return value;
            });

    private static string Text(string dom, string key) =>
        WebUtility.HtmlDecode(Regex.Match(dom, $"<td data-key=\"{key}\"[^>]*>([^<]*)</td>").Groups[1].Value);
}
