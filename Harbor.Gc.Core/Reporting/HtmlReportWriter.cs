using System.Globalization;
using System.Net;
using System.Text;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Reporting;

/// <summary>
/// Writes the HTML report (DESIGN.md §9 <c>--report-html</c>): one self-contained page, with inline CSS, an inline SVG chart and no
/// script, that loads nothing from the network. Every text from the registry (repository names, tags, accessory types, warning
/// paths) is HTML-encoded.
/// </summary>
/// <remarks>
/// The numbers carry stable hooks for tools: summary cells have <c>data-key</c> and <c>data-value</c>, chart bars
/// <c>data-label</c> and <c>data-bytes</c> (a count when the chart counts artifacts), the retention repositories table's rows
/// <c>data-repository</c>, <c>data-total</c>, <c>data-retained</c> and <c>data-deleted</c>, artifact rows <c>data-digest</c>, <c>data-repository</c> and <c>data-depth</c>
/// (0 for an artifact, 1 for its accessory, 2 for an accessory of that accessory).
/// </remarks>
public static class HtmlReportWriter
{
    private const int ChartWidth = 720;
    private const int LabelWidth = 260;
    private const int BarHeight = 22;

    private const string Style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em;color:#1d2733;background:#fff}
        h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
        table{border-collapse:collapse;margin:.5em 0}th,td{border-bottom:1px solid #dde3ea;padding:.3em .8em;text-align:left;vertical-align:top}
        th{background:#f2f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
        code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
        tr[data-depth="1"] td:first-child{padding-left:2.2em}tr[data-depth="2"] td:first-child{padding-left:3.6em}
        tr[data-depth="3"] td:first-child{padding-left:5em}tr.accessory{background:#fafbfc}
        .tag{display:inline-block;word-break:break-all;background:#e8eef5;border-radius:3px;padding:0 .4em;margin:0 .2em .1em 0}
        .note{color:#5b6b7c;font-size:.9em;max-width:60em}svg text{font-size:12px;fill:#1d2733}
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
        Repositories(html, report);
        Chart(html, report);
        Artifacts(html, report);
        if (report.ShowBlobs)
        {
            Blobs(html, report);
        }

        if (report.Warnings.Count > 0)
        {
            html.Append("<h2>Warnings</h2>\n<ul id=\"warnings\">\n");
            foreach (var warning in report.Warnings)
            {
                html.Append("<li>").Append(E(warning)).Append("</li>\n");
            }

            html.Append("</ul>\n");
        }

        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Repositories(StringBuilder html, HtmlReport report)
    {
        if (report.Repositories.Count == 0)
        {
            return;
        }

        html.Append("<h2>Repositories</h2>\n<table id=\"repositories\">\n<thead><tr><th>Repository</th><th>Artifacts</th><th>Retained</th><th>Deleted</th></tr></thead>\n<tbody>\n");
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

        var max = Math.Max(1, report.Bars.Max(b => b.Bytes));
        var height = report.Bars.Count * (BarHeight + 6);
        html.Append(CultureInfo.InvariantCulture, $"<svg id=\"chart\" width=\"{ChartWidth + LabelWidth}\" height=\"{height}\" role=\"img\" aria-label=\"{E(report.ChartTitle)}\">\n");
        for (var i = 0; i < report.Bars.Count; i++)
        {
            var bar = report.Bars[i];
            var y = i * (BarHeight + 6);
            var width = Math.Max(1, (int)(bar.Bytes * (ChartWidth - 200) / max));
            html.Append(CultureInfo.InvariantCulture, $"<g class=\"bar\" data-label=\"{E(bar.Label)}\" data-bytes=\"{bar.Bytes}\">");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth - 8}\" y=\"{y + 15}\" text-anchor=\"end\">{E(bar.Label)}</text>");
            html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{LabelWidth}\" y=\"{y}\" width=\"{width}\" height=\"{BarHeight}\" fill=\"#3c78b4\"></rect>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth + width + 6}\" y=\"{y + 15}\">{E(report.ChartUnit == ChartUnit.Count ? bar.Bytes.ToString("N0", CultureInfo.InvariantCulture) : ConsoleSummary.FormatBytes(bar.Bytes))}</text></g>\n");
        }

        html.Append("</svg>\n");
        if (report.ChartNote.Length > 0)
        {
            html.Append("<p class=\"note\">").Append(E(report.ChartNote)).Append("</p>\n");
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

        html.Append("<table id=\"artifacts\">\n<thead><tr><th>Artifact</th><th>Repository</th><th>Tags</th><th>Type</th><th>Status</th><th>Why</th><th>Size</th></tr></thead>\n<tbody>\n");
        foreach (var artifact in report.Artifacts)
        {
            ArtifactRow(html, artifact, 0);
        }

        html.Append("</tbody>\n</table>\n");
    }

    private static void ArtifactRow(StringBuilder html, ReportArtifact artifact, int depth)
    {
        html.Append(CultureInfo.InvariantCulture, $"<tr class=\"{(depth == 0 ? "artifact" : "accessory")}\" data-depth=\"{depth}\" data-repository=\"{E(artifact.Repository)}\" data-digest=\"{E(artifact.Digest)}\">");
        html.Append("<td>").Append(depth > 0 ? "↳ " : string.Empty).Append("<code title=\"").Append(E(artifact.Digest)).Append("\">").Append(E(Short(artifact.Digest))).Append("</code></td>");
        html.Append("<td>").Append(E(artifact.Repository)).Append("</td><td>");
        foreach (var tag in artifact.Tags)
        {
            html.Append("<span class=\"tag\">").Append(E(tag)).Append("</span>");
        }

        html.Append("</td><td>").Append(E(artifact.Type)).Append("</td>");
        html.Append("<td>").Append(E(artifact.Status)).Append("</td><td>").Append(E(artifact.Why)).Append("</td>");
        html.Append("<td class=\"num\">").Append(artifact.Size is { } size ? size.ToString("N0", CultureInfo.InvariantCulture) : string.Empty).Append("</td></tr>\n");
        foreach (var accessory in artifact.Accessories)
        {
            ArtifactRow(html, accessory, depth + 1);
        }
    }

    private static void Blobs(StringBuilder html, HtmlReport report)
    {
        html.Append(CultureInfo.InvariantCulture, $"<h2>Blobs ({report.Blobs.Count:N0})</h2>\n");
        if (report.Blobs.Count == 0)
        {
            return;
        }

        html.Append("<table id=\"blobs\">\n<thead><tr><th>Blob</th><th>Size</th><th>Counted in</th></tr></thead>\n<tbody>\n");
        foreach (var blob in report.Blobs)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-digest=\"{E(blob.Digest)}\" data-size=\"{blob.Size}\"><td><code>{E(blob.Digest)}</code></td><td class=\"num\">{blob.Size:N0}</td><td>");
            html.Append(E(blob.Repositories.IsEmpty ? HtmlReport.UnreferencedLabel : string.Join(", ", blob.Repositories))).Append("</td></tr>\n");
        }

        html.Append("</tbody>\n</table>\n");
    }

    /// <summary><c>sha256:0123456789ab…</c>: the full digest is in the cell's title and the row's <c>data-digest</c>.</summary>
    private static string Short(string digest) => digest.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0 && digest.Length > colon + 13 ? digest[..(colon + 13)] + "…" : digest;

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
