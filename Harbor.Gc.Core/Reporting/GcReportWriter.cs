using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Reporting;

/// <summary>Writes the JSON report of DESIGN.md §8 for a GC run, dry or real. The report carries the whole plan, so it can be applied later.</summary>
/// <remarks>
/// Beyond §8 (extra fields are allowed): for a run that applied a saved plan, <c>appliedPlan</c> (that plan's
/// <c>planCreatedAt</c> and how many artifacts, blobs, layer links and uploads it listed; the report's own plan fields are what
/// the run executed, and <c>result</c>'s kept lists name what the saved plan listed that the run kept); on each blob, <c>repositories</c> (the repositories of the collected artifacts that
/// reference it, empty for an unreferenced blob: the HTML report's bytes per repository are computed from them), <c>layerLinks</c>,
/// <c>uploads</c> (stale unfinished uploads: repository, null for the LiteDB store's temporary files, id, startedAt, size,
/// lastWrittenAt), <c>summary.uploads</c> and <c>summary.uploadBytes</c> (not part of <c>summary.bytes</c>, which counts
/// blobs only), and in <c>result</c> what happened to them. These fields are always written, empty or 0 when there are none, so
/// the report has one shape. Only what JSON requires is escaped: <c>+</c> in media types stays <c>+</c>. A stopped run (<c>"outcome": "stopped"</c>) adds <c>stopReason</c> (the signal's name, such as
/// <c>SIGTERM</c>, when the caller named it; <c>max-duration</c>; or <c>cancelled</c>), <c>stoppedWhile</c> (<c>reading-store</c>,
/// <c>marking</c>, <c>planning</c> or <c>sweeping</c>) and <c>planned</c>: false when it stopped before its plan was made, and
/// then the lists are empty and nothing was deleted. A plan of a Harbor installation (the <c>harbor:</c> store) adds
/// <c>differsFromHarbor</c> (where Harbor's own GC would decide differently: <c>kind</c>, <c>item</c> (<c>repository@digest</c> or a blob
/// digest), <c>bytes</c>, <c>count</c>, <c>keptBy</c>, <c>goesWith</c>, and <c>harbor</c>, what Harbor does and why) and
/// <c>differsFromHarborTotals</c> (per kind: <c>items</c>, <c>count</c>, <c>bytes</c>); other stores never write them.
/// </remarks>
public static class GcReportWriter
{
    /// <summary>Writes the report of <paramref name="result"/>.</summary>
    /// <param name="stream">Where to write (UTF-8 JSON).</param>
    /// <param name="result">The run.</param>
    /// <param name="indented">Indent for people to read.</param>
    public static void Write(Stream stream, GcResult result, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(result);
        using var json = new Utf8JsonWriter(stream, WriterOptions(indented));
        var plan = result.Plan;
        json.WriteStartObject();
        json.WriteString("kind", "gc");
        json.WriteBoolean("dryRun", result.DryRun);
        json.WriteString("store", plan.Store);
        json.WriteString("startedAt", Time(result.StartedAt));
        json.WriteString("finishedAt", Time(result.FinishedAt));
        json.WriteString("planCreatedAt", Time(plan.CreatedAt));
        json.WriteString("outcome", result.Outcome == GcOutcome.Completed ? "completed" : "stopped");
        if (result.StopReasonName is { } stopReason)
        {
            json.WriteString("stopReason", stopReason);
            json.WriteString("stoppedWhile", result.StoppedWhile.GetValueOrDefault(GcPhase.Sweeping).ToReportName());
            json.WriteBoolean("planned", result.Planned);
        }

        json.WriteStartObject("options");
        json.WriteBoolean("deleteUntagged", plan.DeleteUntagged);
        json.WriteString("timeWindow", Duration.Format(plan.TimeWindow));
        json.WriteNumber("workers", result.Workers);
        json.WriteEndObject();

        if (result.AppliedPlan is { } applied)
        {
            json.WriteStartObject("appliedPlan");
            json.WriteString("planCreatedAt", Time(applied.CreatedAt));
            json.WriteNumber("artifacts", applied.Artifacts.Count);
            json.WriteNumber("blobs", applied.Blobs.Count);
            json.WriteNumber("layerLinks", applied.LayerLinks.Count);
            json.WriteNumber("uploads", applied.Uploads.Count);
            json.WriteEndObject();
        }

        var summary = plan.Summary;
        json.WriteStartObject("summary");
        json.WriteNumber("artifacts", summary.Artifacts);
        json.WriteNumber("manifests", summary.Manifests);
        json.WriteNumber("blobs", summary.Blobs);
        json.WriteNumber("bytes", summary.Bytes);
        json.WriteNumber("uploads", summary.Uploads);
        json.WriteNumber("uploadBytes", summary.UploadBytes);
        json.WriteEndObject();

        if (!result.DryRun)
        {
            json.WriteStartObject("result");
            json.WriteNumber("artifactsDeleted", result.ArtifactsDeleted);
            json.WriteNumber("blobsDeleted", result.BlobsDeleted);
            json.WriteNumber("bytesFreed", result.BytesFreed);
            json.WriteNumber("layerLinksDeleted", result.LayerLinksDeleted);
            WriteStrings(json, "artifactsKept", result.ArtifactsSkipped.Select(k => k.ToString()));
            WriteStrings(json, "blobsKept", result.BlobsSkipped.Select(d => d.ToString()));
            json.WriteStartArray("layerLinksKept");
            foreach (var link in result.LayerLinksSkipped)
            {
                json.WriteStartObject();
                json.WriteString("repository", link.Repository.Value);
                json.WriteString("digest", link.Digest.ToString());
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("blobsFailed");
            foreach (var (digest, error) in result.BlobsFailed)
            {
                json.WriteStartObject();
                json.WriteString("digest", digest.ToString());
                json.WriteString("error", error);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("artifactsFailed");
            foreach (var (key, error) in result.ArtifactsFailed)
            {
                json.WriteStartObject();
                json.WriteString("repository", key.Repository.Value);
                json.WriteString("digest", key.Digest.ToString());
                json.WriteString("error", error);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("layerLinksFailed");
            foreach (var (link, error) in result.LayerLinksFailed)
            {
                json.WriteStartObject();
                json.WriteString("repository", link.Repository.Value);
                json.WriteString("digest", link.Digest.ToString());
                json.WriteString("error", error);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteNumber("recovered", result.Recovered);
            json.WriteNumber("uploadsDeleted", result.UploadsDeleted);
            json.WriteNumber("uploadBytesFreed", result.UploadBytesFreed);
            json.WriteStartArray("uploadsKept");
            foreach (var upload in result.UploadsSkipped)
            {
                WriteUploadKey(json, upload);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("uploadsFailed");
            foreach (var (upload, error) in result.UploadsFailed)
            {
                WriteUploadKey(json, upload);
                json.WriteString("error", error);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        if (plan.Statistics is { } stats)
        {
            json.WriteStartObject("statistics");
            json.WriteNumber("repositories", stats.Repositories);
            json.WriteNumber("artifacts", stats.Artifacts);
            json.WriteNumber("liveArtifacts", stats.LiveArtifacts);
            json.WriteNumber("blobs", stats.Blobs);
            json.WriteNumber("liveBlobs", stats.LiveBlobs);
            json.WriteNumber("tags", stats.Tags);
            json.WriteNumber("blobReferences", stats.BlobReferences);
            json.WriteEndObject();
        }

        json.WriteStartArray("artifacts");
        foreach (var a in plan.Artifacts)
        {
            json.WriteStartObject();
            json.WriteString("repository", a.Key.Repository.Value);
            json.WriteString("digest", a.Key.Digest.ToString());
            WriteStrings(json, "tags", a.Tags);
            json.WriteString("reason", a.Reason.ToReportName());
            WriteNullable(json, "accessoryType", a.AccessoryType);
            WriteNullable(json, "subject", a.Subject?.ToString());
            json.WriteString("mediaType", a.MediaType);
            json.WriteNumber("size", a.Size);
            json.WriteNumber("version", a.Version);
            json.WriteNumber("stage", a.Stage);
            WriteStrings(json, "dependsOn", a.DependsOn.Select(k => k.ToString()));
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("blobs");
        foreach (var b in plan.Blobs)
        {
            json.WriteStartObject();
            json.WriteString("digest", b.Digest.ToString());
            json.WriteNumber("size", b.Size);
            json.WriteString("lastTouchedAt", Time(b.LastTouchedAt));
            json.WriteString("status", b.Status.ToString().ToLowerInvariant());
            WriteStrings(json, "repositories", b.Repositories.Select(r => r.Value));
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("layerLinks");
        foreach (var l in plan.LayerLinks)
        {
            json.WriteStartObject();
            json.WriteString("repository", l.Repository.Value);
            json.WriteString("digest", l.Digest.ToString());
            json.WriteString("createdAt", Time(l.CreatedAt));
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("uploads");
        foreach (var u in plan.Uploads)
        {
            WriteUploadKey(json, u);
            WriteNullable(json, "startedAt", u.StartedAt is { } started ? Time(started) : null);
            json.WriteNumber("size", u.Size);
            json.WriteString("lastWrittenAt", Time(u.LastWrittenAt));
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("warnings");
        foreach (var w in plan.Warnings)
        {
            json.WriteStartObject();
            json.WriteString("location", w.Location);
            json.WriteString("message", w.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (plan.DiffersFromHarbor is { } differences)
        {
            json.WriteStartArray("differsFromHarborTotals");
            foreach (var total in differences.Totals())
            {
                json.WriteStartObject();
                json.WriteString("kind", total.Kind.ToReportName());
                json.WriteNumber("items", total.Items);
                json.WriteNumber("count", total.Count);
                json.WriteNumber("bytes", total.Bytes);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("differsFromHarbor");
            foreach (var d in differences)
            {
                json.WriteStartObject();
                json.WriteString("kind", d.Kind.ToReportName());
                json.WriteString("item", d.Item);
                json.WriteNumber("bytes", d.Bytes);
                json.WriteNumber("count", d.Count);
                WriteNullable(json, "keptBy", d.KeptBy);
                WriteNullable(json, "goesWith", d.GoesWith);
                json.WriteString("harbor", d.Harbor);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    /// <summary>The report as a string.</summary>
    /// <param name="result">The run.</param>
    /// <returns>The JSON text.</returns>
    public static string ToJson(GcResult result)
    {
        using var stream = new MemoryStream();
        Write(stream, result);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// How every JSON the tool writes is written: escaping only what JSON requires (quotes, backslashes, control characters), so that
    /// <c>application/vnd.oci.image.manifest.v1+json</c> keeps its <c>+</c> and a name its accents. Not for text embedded in HTML
    /// (the HTML report embeds no JSON: it escapes its own text).
    /// </summary>
    internal static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    internal static JsonWriterOptions WriterOptions(bool indented) => new() { Indented = indented, Encoder = Encoder };

    internal static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture);

    internal static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    /// <summary>Opens an object naming an upload; the caller adds fields and closes it.</summary>
    private static void WriteUploadKey(Utf8JsonWriter json, BlobUpload upload)
    {
        json.WriteStartObject();
        WriteNullable(json, "repository", upload.Repository?.Value);
        json.WriteString("id", upload.Id);
    }

    internal static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
