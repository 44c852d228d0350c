using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Harbor.Gc.Runner.History;

/// <summary>
/// The history as JSON (<c>history --json</c>: an array of runs, latest first; <c>show ID --json</c>: one run). Field names as
/// <see cref="RunRecord"/>'s, camelCase; times in ISO 8601 UTC; status, trigger and kind in lower case, as the table writes them.
/// </summary>
internal static class RunRecordJson
{
    /// <summary>The runs as a JSON array, their logs left out (<c>show ID --json</c> has them).</summary>
    public static string ToJson(IEnumerable<RunRecord> runs) => Write(json =>
    {
        json.WriteStartArray();
        foreach (var run in runs)
        {
            WriteRun(json, run, log: false);
        }

        json.WriteEndArray();
    });

    /// <summary>One run as a JSON object, with its log lines.</summary>
    public static string ToJson(RunRecord run) => Write(json => WriteRun(json, run, log: true));

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, Harbor.Gc.Reporting.GcReportWriter.WriterOptions(indented: true))) // relaxed escaping, as the reports
        {
            write(json);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteRun(Utf8JsonWriter json, RunRecord run, bool log)
    {
        json.WriteStartObject();
        json.WriteNumber("id", run.Id);
        json.WriteString("job", run.Job);
        json.WriteString("kind", run.Kind);
        json.WriteString("trigger", run.Trigger.ToString().ToLowerInvariant());
        json.WriteString("status", run.Status.ToString().ToLowerInvariant());
        json.WriteBoolean("dryRun", run.DryRun);
        json.WriteString("store", run.Store);
        json.WriteString("startedAt", Time(run.StartedAt));
        json.WriteString("finishedAt", run.FinishedAt is { } finished ? Time(finished) : null); // a null string is written as null
        json.WriteString("message", run.Message);

        json.WriteNumber("artifacts", run.Artifacts);
        json.WriteNumber("blobs", run.Blobs);
        json.WriteNumber("bytes", run.Bytes);
        json.WriteNumber("uploads", run.Uploads);
        json.WriteBoolean("hasReport", run.HasReport);
        json.WriteStartObject("options");
        foreach (var (key, value) in run.Options)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
        if (log)
        {
            json.WriteStartArray("log");
            foreach (var line in run.Log)
            {
                json.WriteStringValue(line);
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
