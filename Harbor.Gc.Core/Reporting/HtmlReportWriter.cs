using System.Globalization;
using System.Net;
using System.Text;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Reporting;

/// <summary>
/// Writes the HTML report (DESIGN.md §9 <c>--report-html</c>): one self-contained page, with inline CSS, an inline SVG chart and no
/// script, that loads nothing from the network. Every text from the registry (repository names, tags, accessory types, warning
/// paths) is HTML-encoded. Made to be read at 10,000 artifacts: warnings first, the chart shows the <see cref="ChartBars"/>
/// largest repositories and sums the rest as one bar, artifacts are grouped per repository in collapsible
/// <c>&lt;details&gt;</c> (open when the page is small), and sizes have units.
/// </summary>
/// <remarks>
/// The numbers carry stable hooks for tools: summary cells have <c>data-key</c> and <c>data-value</c>, chart bars
/// <c>data-label</c> and <c>data-bytes</c> (a count when the chart counts artifacts; the bar of the other repositories also
/// <c>data-others</c>, how many), the retention repositories table's rows <c>data-repository</c>, <c>data-total</c>,
/// <c>data-retained</c> and <c>data-deleted</c>, each repository group (<c>details.repository</c>) <c>data-repository</c> and its
/// figures (GC <c>data-artifacts</c>, <c>data-blobs</c>, <c>data-bytes</c>; retention <c>data-total</c>, <c>data-retained</c>,
/// <c>data-deleted</c>), artifact rows the class <c>d0</c> (an artifact), <c>d1</c> (its accessory or index child), <c>d2</c>
/// (one level deeper) and <c>data-size</c>, blob rows <c>data-size</c> and on a real run <c>data-outcome</c>. A digest is shown short; its
/// <c>&lt;code&gt;</c> (the only one in its cell) holds the whole digest: selecting it copies all of it, and hovering shows it whole.
/// </remarks>
public static class HtmlReportWriter
{
    /// <summary>How many repositories the chart shows; the others are summed in one more bar.</summary>
    public const int ChartBars = 20;

    /// <summary>Up to this many artifact rows, the repository groups and the blob list are open when the page loads.</summary>
    public const int OpenBelow = 200;

    private const int ChartWidth = 720;
    private const int LabelWidth = 300;
    private const int BarHeight = 22;

    private const string Style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em;color:#1d2733;background:#fff;max-width:100em}
        h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
        table{border-collapse:collapse;margin:.5em 0}th,td{border-bottom:1px solid #dde3ea;padding:.25em .7em;text-align:left;vertical-align:top}
        th{background:#f2f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
        td>code{display:inline-block;width:21ch;user-select:all;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}
        td>code:hover{overflow:visible;position:relative;z-index:1;background:#fff;box-shadow:21ch 0 #fff,42ch 0 #fff,63ch 0 #fff,84ch 0 #fff,105ch 0 #fff,126ch 0 #fff}
        #artifacts td:first-child{white-space:nowrap}#artifacts td:last-child,#blobs td:nth-child(2){text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        tr.d1 td:first-child{padding-left:2.2em}tr.d2 td:first-child{padding-left:3.6em}tr.d3 td:first-child{padding-left:5em}
        tr.d1,tr.d2,tr.d3{background:#fafbfc}
        .tag{display:inline-block;word-break:break-all;background:#e8eef5;border-radius:3px;padding:0 .4em;margin:0 .2em .1em 0}
        .note{color:#5b6b7c;font-size:.9em;max-width:60em}svg text{font-size:12px;fill:#1d2733}
        details.repository{border:1px solid #dde3ea;border-radius:4px;margin:.3em 0;padding:.2em .6em}
        details.repository>summary{cursor:pointer;padding:.2em 0}details.repository>summary strong{word-break:break-all}
        summary .fig{color:#5b6b7c;margin-left:.6em}
        #warnings{background:#fff6e0;border:1px solid #e8c66a;border-radius:4px;padding:.4em 1em;margin:1em 0}
        #warnings li{word-break:break-all}
        .failed{color:#a01818;font-weight:600}.kept{color:#8a5a00}
        """;

    /// <summary>Writes the report of a GC run.</summary>
    /// <param name="stream">Where to write (UTF-8 HTML).</param>
    /// <param name="result">The run.</param>
    public static void Write(Stream stream, GcResult result) => Write(stream, HtmlReport.FromGc(result));

    /// <summary>Writes the report of a retention run.</summary>
    /// <param name="stream">Where to write (UTF-8 HTML).</param>
    /// <param name="result">The run.</param>
    public static void Write(Stream stream, Retention.RetentionResult result) => Write(stream, HtmlReport.FromRetention(result));

    /// <summary>Writes a report.</summary>
    /// <param name="stream">Where to write (UTF-8 HTML).</param>
    /// <param name="report">The report.</param>
    public static void Write(Stream stream, HtmlReport report)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
        writer.Write(ToHtml(report));
    }

    /// <summary>The report as a string.</summary>
    /// <param name="report">The report.</param>
    /// <returns>The HTML text.</returns>
    public static string ToHtml(HtmlReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");

        // nothing may be fetched: no scripts, images, fonts or frames from anywhere
        html.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
        html.Append("<title>").Append(E(report.Title)).Append("</title>\n<style>").Append(Style).Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(E(report.Title)).Append("</h1>\n");
        Warnings(html, report);

        html.Append("<h2>Summary</h2>\n<table id=\"summary\">\n");
        foreach (var field in report.Summary)
        {
            html.Append("<tr><th>").Append(E(field.Label)).Append("</th><td data-key=\"").Append(E(field.Key)).Append('"');
            if (field.Value is { } value)
            {
                html.Append(" class=\"num\" data-value=\"").Append(value.ToString(CultureInfo.InvariantCulture)).Append('"');
            }

            html.Append('>').Append(E(field.Text)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
        DiffersFromHarbor(html, report);
        Repositories(html, report);
        Chart(html, report);
        Artifacts(html, report);
        if (report.ShowBlobs)
        {
            Blobs(html, report);
        }

        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Warnings(StringBuilder html, HtmlReport report)
    {
        if (report.Warnings.Count == 0)
        {
            return;
        }

        // at the top, where they are seen; a long list is folded after its count
        html.Append(CultureInfo.InvariantCulture, $"<details id=\"warnings\"{(report.Warnings.Count <= 20 ? " open" : string.Empty)}><summary><strong>{report.Warnings.Count:N0} warning{(report.Warnings.Count == 1 ? string.Empty : "s")}</strong></summary>\n<ul>\n");
        foreach (var warning in report.Warnings)
        {
            html.Append("<li>").Append(E(warning)).Append("</li>\n");
        }

        html.Append("</ul>\n</details>\n");
    }

    private static void DiffersFromHarbor(StringBuilder html, HtmlReport report)
    {
        if (report.HarborTotals.Count == 0)
        {
            return;
        }

        html.Append("<h2>Where Harbor's own GC differs</h2>\n<ul id=\"harbor-totals\">\n");
        foreach (var total in report.HarborTotals)
        {
            html.Append("<li>").Append(E(total)).Append("</li>\n");
        }

        html.Append(CultureInfo.InvariantCulture, $"</ul>\n<details id=\"differs-from-harbor\"{(report.DiffersFromHarbor.Count <= 20 ? " open" : string.Empty)}><summary>{report.DiffersFromHarbor.Count:N0} items</summary>\n<ul>\n");
        foreach (var item in report.DiffersFromHarbor)
        {
            html.Append("<li>").Append(E(item)).Append("</li>\n");
        }

        html.Append("</ul>\n</details>\n");
    }

    private static void Repositories(StringBuilder html, HtmlReport report)
    {
        if (report.Repositories.Count == 0)
        {
            return;
        }

        html.Append("<h2>Repositories</h2>\n<table id=\"repositories\">\n<thead><tr><th>Repository</th><th>Candidates</th><th>Retained</th><th>Deleted</th></tr></thead>\n<tbody>\n");
        foreach (var r in report.Repositories)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-repository=\"{E(r.Repository)}\" data-total=\"{r.Total}\" data-retained=\"{r.Retained}\" data-deleted=\"{r.Deleted}\">");
            html.Append(CultureInfo.InvariantCulture, $"<td>{E(r.Repository)}</td><td class=\"num\">{r.Total:N0}</td><td class=\"num\">{r.Retained:N0}</td><td class=\"num\">{r.Deleted:N0}</td></tr>\n");
        }

        html.Append("</tbody>\n</table>\n");
    }

    private static void Chart(StringBuilder html, HtmlReport report)
    {
        html.Append("<h2>").Append(E(report.ChartTitle)).Append("</h2>\n");
        if (report.Bars.Count == 0)
        {
            html.Append("<p id=\"chart\">").Append(report.ChartUnit == ChartUnit.Count ? "Nothing to delete." : "Nothing to free.").Append("</p>\n");
            return;
        }

        var inv = CultureInfo.InvariantCulture;
        var bars = report.Bars.OrderByDescending(b => b.Bytes).ThenBy(b => b.Label, StringComparer.Ordinal).ToList();
        var shown = bars.Take(ChartBars).Select(b => (b.Label, b.Bytes, Others: 0)).ToList();
        if (bars.Count > ChartBars)
        {
            var others = bars.Skip(ChartBars).ToList();
            shown.Add((string.Create(inv, $"{others.Count:N0} other {(others.Count == 1 ? "repository" : "repositories")}"), others.Sum(b => b.Bytes), others.Count));
        }

        // scaled to the largest repository: the bar of the others, often larger, is cut at the full width (its figure says how much)
        var max = Math.Max(1, shown.Where(b => b.Others == 0).Max(b => b.Bytes));
        var height = shown.Count * (BarHeight + 6);
        html.Append(inv, $"<svg id=\"chart\" width=\"{ChartWidth + LabelWidth}\" height=\"{height}\" role=\"img\" aria-label=\"{E(report.ChartTitle)}\">\n");
        for (var i = 0; i < shown.Count; i++)
        {
            var bar = shown[i];
            var y = i * (BarHeight + 6);
            var width = Math.Max(1, (int)(Math.Min(bar.Bytes, max) * (ChartWidth - 200) / max));
            var label = bar.Label.Length > 40 ? bar.Label[..18] + "…" + bar.Label[^21..] : bar.Label;
            html.Append(inv, $"<g class=\"bar\" data-label=\"{E(bar.Label)}\" data-bytes=\"{bar.Bytes}\"{(bar.Others > 0 ? $" data-others=\"{bar.Others}\"" : string.Empty)}>");
            html.Append(inv, $"<title>{E(bar.Label)}</title><text x=\"{LabelWidth - 8}\" y=\"{y + 15}\" text-anchor=\"end\">{E(label)}</text>");
            html.Append(inv, $"<rect x=\"{LabelWidth}\" y=\"{y}\" width=\"{width}\" height=\"{BarHeight}\" fill=\"{(bar.Others > 0 ? "#9fb4c8" : "#3c78b4")}\"></rect>");
            html.Append(inv, $"<text x=\"{LabelWidth + width + 6}\" y=\"{y + 15}\">{E(report.ChartUnit == ChartUnit.Count ? bar.Bytes.ToString("N0", inv) : Size(bar.Bytes))}</text></g>\n");
        }

        html.Append("</svg>\n");
        var note = report.ChartNote + (bars.Count > ChartBars
            ? string.Create(inv, $" The {ChartBars} largest repositories are shown; the last bar sums the {bars.Count - ChartBars:N0} others.")
            : string.Empty);
        if (note.Length > 0)
        {
            html.Append("<p class=\"note\">").Append(E(note.Trim())).Append("</p>\n");
        }
    }

    private static void Artifacts(StringBuilder html, HtmlReport report)
    {
        html.Append("<h2>").Append(E(report.ArtifactsTitle)).Append("</h2>\n");
        if (report.Artifacts.Count == 0)
        {
            html.Append("<p id=\"artifacts\">None.</p>\n");
            return;
        }

        if (report.Groups.Count == 0)
        {
            Table(html, report, report.Artifacts, "artifacts");
            return;
        }

        static int Rows(ReportArtifact a) => 1 + a.Accessories.Sum(Rows) + a.Children.Sum(Rows);
        var open = report.Artifacts.Sum(Rows) <= OpenBelow ? " open" : string.Empty;
        html.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{report.Groups.Count:N0} repositories, each folded: open one to see its artifacts, accessories and index children nested under the artifact they belong to.</p>\n<div id=\"artifacts\">\n");
        foreach (var group in report.Groups)
        {
            html.Append("<details class=\"repository\"").Append(open).Append(" data-repository=\"").Append(E(group.Repository)).Append('"');
            foreach (var (key, value) in group.Values)
            {
                html.Append(" data-").Append(E(key)).Append("=\"").Append(value.ToString(CultureInfo.InvariantCulture)).Append('"');
            }

            html.Append("><summary><strong>").Append(E(group.Repository)).Append("</strong><span class=\"fig\">").Append(E(group.Text)).Append("</span></summary>\n");
            Table(html, report, group.Artifacts, null);
            html.Append("</details>\n");
        }

        html.Append("</div>\n");
    }

    private static void Table(StringBuilder html, HtmlReport report, IReadOnlyList<ReportArtifact> artifacts, string? id)
    {
        html.Append("<table").Append(id is null ? string.Empty : $" id=\"{id}\"").Append(">\n<thead><tr><th>Artifact</th>")
            .Append(report.Groups.Count == 0 ? "<th>Repository</th>" : string.Empty)
            .Append("<th>Tags</th><th>Type</th>").Append(report.ShowStatus ? "<th>Status</th>" : string.Empty).Append("<th>Why</th><th>Size</th></tr></thead>\n<tbody>\n");
        foreach (var artifact in artifacts)
        {
            ArtifactRow(html, report, artifact, 0);
        }

        html.Append("</tbody>\n</table>\n");
    }

    private static void ArtifactRow(StringBuilder html, HtmlReport report, ReportArtifact artifact, int depth)
    {
        // the rows are most of a large page's bytes: cells and rows end where the next begins (the end tags are optional in HTML),
        // and the size column is aligned by the style, not a class on every cell
        html.Append(CultureInfo.InvariantCulture, $"<tr class=\"d{depth}\" data-size=\"{artifact.Size ?? 0}\"><td>");
        html.Append(depth > 0 ? "↳ " : string.Empty);
        Digest(html, artifact.Digest);
        if (report.Groups.Count == 0)
        {
            html.Append("<td>").Append(E(artifact.Repository));
        }

        html.Append("<td>");
        foreach (var tag in artifact.Tags)
        {
            html.Append("<span class=\"tag\">").Append(E(tag)).Append("</span>");
        }

        html.Append("<td>").Append(E(artifact.Type));
        if (report.ShowStatus)
        {
            html.Append("<td>").Append(E(artifact.Status));
        }

        html.Append("<td>").Append(E(artifact.Why));
        html.Append("<td>").Append(artifact.Size is { } size ? Size(size) : string.Empty).Append('\n');
        foreach (var nested in artifact.Accessories.Concat(artifact.Children))
        {
            ArtifactRow(html, report, nested, depth + 1);
        }
    }

    private static void Blobs(StringBuilder html, HtmlReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        html.Append(inv, $"<h2>Blobs ({report.Blobs.Count:N0})</h2>\n");
        if (report.Blobs.Count == 0)
        {
            return;
        }

        if (report.ShowBlobOutcomes)
        {
            var outcomes = report.Blobs.GroupBy(b => b.Outcome ?? string.Empty).ToDictionary(g => g.Key, g => g.Count());
            html.Append("<p id=\"blob-outcomes\">");
            html.AppendJoin(", ", new[] { ReportBlob.Deleted, ReportBlob.NotKnown, ReportBlob.Kept, ReportBlob.Failed }
                .Where(outcomes.ContainsKey)
                .Select(o => string.Create(inv, $"<span data-outcome=\"{E(o)}\" data-count=\"{outcomes[o]}\">{outcomes[o]:N0} {E(o)}</span>")));
            html.Append("</p>\n");
        }

        // the ones to look at first: failed, then kept, then the largest
        static int Rank(string? outcome) => outcome switch { ReportBlob.Failed => 0, ReportBlob.Kept => 1, _ => 2 };
        var blobs = report.Blobs.OrderBy(b => Rank(b.Outcome)).ThenByDescending(b => b.Size).ThenBy(b => b.Digest, StringComparer.Ordinal);
        html.Append(inv, $"<details id=\"blob-list\"{(report.Blobs.Count <= OpenBelow ? " open" : string.Empty)}><summary>{report.Blobs.Count:N0} blobs, largest first{(report.ShowBlobOutcomes ? " (failed and kept first)" : string.Empty)}</summary>\n");
        html.Append("<table id=\"blobs\">\n<thead><tr><th>Blob</th><th>Size</th>").Append(report.ShowBlobOutcomes ? "<th>Outcome</th>" : string.Empty).Append("<th>Counted in</th></tr></thead>\n<tbody>\n");
        foreach (var blob in blobs)
        {
            html.Append(inv, $"<tr data-size=\"{blob.Size}\"");
            if (report.ShowBlobOutcomes && blob.Outcome is { } outcome)
            {
                html.Append(" data-outcome=\"").Append(E(outcome)).Append('"');
            }

            html.Append("><td>");
            Digest(html, blob.Digest);
            html.Append("<td>").Append(Size(blob.Size));
            if (report.ShowBlobOutcomes)
            {
                var css = blob.Outcome switch { ReportBlob.Failed => " class=\"failed\"", ReportBlob.Kept => " class=\"kept\"", _ => string.Empty };
                html.Append("<td").Append(css).Append('>').Append(E(blob.Outcome ?? string.Empty));
                if (blob.Error is { } shown)
                {
                    html.Append(": ").Append(E(shown));
                }
            }

            var names = blob.Repositories.IsEmpty ? [HtmlReport.UnreferencedLabel] : blob.Repositories;
            html.Append("<td>").Append(E(string.Join(", ", names.Take(3))));
            if (names.Length > 3)
            {
                html.Append(inv, $" and {names.Length - 3:N0} more");
            }

            html.Append('\n');
        }

        html.Append("</tbody>\n</table>\n</details>\n");
    }

    /// <summary>
    /// A digest, shown as <c>sha256:0123456789ab…</c> by the style: the <c>&lt;code&gt;</c> holds the whole digest, so selecting it
    /// copies all of it, and the style shows it whole while the pointer is on it (over the next cells; no title repeating it: with
    /// 26,000 digests on a page of 10,000 artifacts, a title took a quarter of the page).
    /// </summary>
    private static void Digest(StringBuilder html, string digest) =>
        html.Append("<code>").Append(E(digest)).Append("</code>");

    /// <summary>A size in a table: <c>512 B</c>, <c>1.5 KiB</c>, <c>54.3 MiB</c> (the exact bytes are the row's <c>data-size</c>).</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The text.</returns>
    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
