using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Reporting;

/// <summary>
/// Writes the JSON report of DESIGN.md §8 for a retention run, dry or real: <c>"kind": "retention"</c>, the per-repository
/// <c>repositories</c> counts, and every artifact of the selected repositories with the rules that retained it or the reason it
/// goes.
/// </summary>
/// <remarks>
/// Beyond §8 (extra fields are allowed): <c>store</c>, <c>policy</c> (project, schedule, rules as <c>latestPushedK(3)</c>),
/// <c>summary</c> (total, retained, deleted: candidates, as Harbor's retention history counts them; artifacts and artifactsToDelete:
/// every artifact, accessories and index children included), per repository the same five counts, <c>untouched</c> (the project's repositories no rule selects), per artifact
/// <c>outcome</c>, <c>reason</c>, <c>candidate</c>, <c>retainedBy</c> (1-based rule numbers, as Harbor's UI counts them), <c>cause</c> and
/// <c>immutableBy</c>, <c>size</c> and <c>accessoryType</c>, <c>deleteOrder</c>, and on a real run <c>result</c> (deleted, already gone, skipped with why, stopped);
/// <c>outcome</c> (<c>completed</c> or <c>stopped</c>) and for a stopped run <c>stopReason</c> (the signal's name, such as
/// <c>SIGTERM</c>, when the caller named it, else <c>cancelled</c>), <c>stoppedWhile</c> (<c>planning</c>: reading the store or
/// evaluating, before the plan was made, nothing deleted and the lists empty; or <c>deleting</c>) and <c>planned</c>.
/// Retention deletes no blob: there is no <c>blobs</c> list; the next GC run frees them. <c>warnings</c> is always written.
/// </remarks>
public static class RetentionReportWriter
{
    /// <summary>Writes the report of <paramref name="result"/>.</summary>
    /// <param name="stream">Where to write (UTF-8 JSON).</param>
    /// <param name="result">The run.</param>
    /// <param name="indented">Indent for people to read.</param>
    public static void Write(Stream stream, RetentionResult result, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(result);
        using var json = new Utf8JsonWriter(stream, GcReportWriter.WriterOptions(indented));
        var plan = result.Plan;
        json.WriteStartObject();
        json.WriteString("kind", "retention");
        json.WriteBoolean("dryRun", result.DryRun);
        json.WriteString("store", result.Store);
        json.WriteString("startedAt", GcReportWriter.Time(result.StartedAt));
        json.WriteString("finishedAt", GcReportWriter.Time(result.FinishedAt));
        json.WriteString("evaluatedAt", GcReportWriter.Time(plan.EvaluatedAt));
        json.WriteString("outcome", result.Stopped ? "stopped" : "completed");
        if (result.StopReasonName is { } stopReason)
        {
            json.WriteString("stopReason", stopReason);
            json.WriteString("stoppedWhile", result.Planned ? "deleting" : "planning");
            json.WriteBoolean("planned", result.Planned);
        }

        json.WriteStartObject("policy");
        json.WriteString("project", plan.Policy.Project);
        if (plan.Policy.Schedule is { } schedule)
        {
            json.WriteString("schedule", schedule);
        }
        else
        {
            json.WriteNull("schedule");
        }

        json.WriteStartArray("rules");
        foreach (var rule in plan.Policy.Rules)
        {
            json.WriteStringValue(RetentionConsoleSummary.Describe(rule));
        }

        json.WriteEndArray();
        json.WriteEndObject();

        json.WriteStartObject("summary");
        json.WriteNumber("total", plan.Total);
        json.WriteNumber("retained", plan.Retained);
        json.WriteNumber("deleted", plan.Deleted);
        json.WriteNumber("artifacts", plan.ArtifactCount);
        json.WriteNumber("artifactsToDelete", plan.ArtifactsToDelete);
        json.WriteEndObject();

        json.WriteStartArray("repositories");
        foreach (var repository in plan.Repositories)
        {
            json.WriteStartObject();
            json.WriteString("repository", repository.Repository.Value);
            json.WriteNumber("total", repository.Total);
            json.WriteNumber("retained", repository.Retained);
            json.WriteNumber("deleted", repository.Deleted);
            json.WriteNumber("artifacts", repository.Artifacts.Length);
            json.WriteNumber("artifactsToDelete", repository.ArtifactsDeleted);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        GcReportWriter.WriteStrings(json, "untouched", plan.Untouched.Select(r => r.Value));

        json.WriteStartArray("artifacts");
        foreach (var repository in plan.Repositories)
        {
            foreach (var a in repository.Artifacts)
            {
                json.WriteStartObject();
                json.WriteString("repository", repository.Repository.Value);
                json.WriteString("digest", a.Digest.ToString());
                GcReportWriter.WriteStrings(json, "tags", a.Tags);
                json.WriteString("outcome", a.Outcome == RetentionOutcome.Retained ? "retained" : "deleted");
                json.WriteString("reason", ReasonName(a.Reason));
                json.WriteBoolean("candidate", a.Candidate);
                json.WriteNumber("size", a.Size);
                if (a.AccessoryType is { } accessoryType)
                {
                    json.WriteString("accessoryType", accessoryType);
                }

                json.WriteStartArray("retainedBy");
                foreach (var index in a.RetainedBy)
                {
                    json.WriteStartObject();
                    json.WriteNumber("rule", index + 1);
                    json.WriteString("template", RetentionConsoleSummary.Describe(plan.Policy.Rules[index]));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                GcReportWriter.WriteNullable(json, "cause", a.Cause?.ToString());
                GcReportWriter.WriteNullable(json, "immutableBy", a.ImmutableBy);
                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
        GcReportWriter.WriteStrings(json, "deleteOrder", plan.DeleteOrder.Select(k => k.ToString()));

        if (result.Execution is { } execution)
        {
            json.WriteStartObject("result");
            json.WriteNumber("artifactsDeleted", execution.Deleted.Length);
            GcReportWriter.WriteStrings(json, "deleted", execution.Deleted.Select(k => k.ToString()));
            GcReportWriter.WriteStrings(json, "alreadyGone", execution.AlreadyGone.Select(k => k.ToString()));
            json.WriteStartArray("skipped");
            foreach (var skipped in execution.Skipped)
            {
                json.WriteStartObject();
                json.WriteString("repository", skipped.Key.Repository.Value);
                json.WriteString("digest", skipped.Key.Digest.ToString());
                json.WriteString("reason", skipped.ReasonName);
                json.WriteString("detail", skipped.Detail);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteBoolean("stopped", execution.Stopped);
            json.WriteEndObject();
        }

        GcReportWriter.WriteStrings(json, "warnings", result.Warnings);
        json.WriteEndObject();
    }

    /// <summary>The report as a string.</summary>
    /// <param name="result">The run.</param>
    /// <returns>The JSON text.</returns>
    public static string ToJson(RetentionResult result)
    {
        using var stream = new MemoryStream();
        Write(stream, result);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A reason as the report and the console write it.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>Its name, such as <c>not-retained</c>.</returns>
    public static string ReasonName(RetentionReason reason) => reason switch
    {
        RetentionReason.RetainedByRule => "retained-by-rule",
        RetentionReason.Immutable => "immutable",
        RetentionReason.AccessoryOfRetained => "accessory-of-retained",
        RetentionReason.ChildKept => "child-kept",
        RetentionReason.OrphanAccessory => "orphan-accessory",
        RetentionReason.NotRetained => "not-retained",
        RetentionReason.AccessoryOfDeleted => "accessory-of-deleted",
        RetentionReason.ChildOfDeleted => "child-of-deleted",
        _ => reason.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
