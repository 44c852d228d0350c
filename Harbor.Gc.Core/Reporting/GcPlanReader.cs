using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Reporting;

/// <summary>
/// Reads a plan back from a GC report (DESIGN.md §8), so that <c>plan → save → review → apply</c> works. Every digest and
/// repository name is validated before it can reach a store. A plan read here authorizes nothing by itself: applying it
/// (<see cref="GarbageCollector.ExecuteAsync"/>) plans again on the live store and deletes only what both plans list, unchanged.
/// </summary>
public static class GcPlanReader
{
    /// <summary>Reads the plan in a report.</summary>
    /// <param name="stream">The UTF-8 JSON report.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="PlanFormatException">The report is malformed; the message names the field.</exception>
    public static CollectionPlan Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new PlanFormatException("$", $"not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new PlanFormatException("$", "expected a JSON object");
            }

            if (String(root, "kind", "$") != "gc")
            {
                throw new PlanFormatException("kind", "expected \"gc\"");
            }

            if (root.TryGetProperty("planned", out var planned) && planned.ValueKind == JsonValueKind.False)
            {
                throw new PlanFormatException("planned", "the run stopped before its plan was made, so the report holds no plan to apply");
            }

            var options = Property(root, "options", "$");
            return new CollectionPlan
            {
                Store = String(root, "store", "$"),
                CreatedAt = Time(root, "planCreatedAt", "$"),
                DeleteUntagged = Property(options, "deleteUntagged", "options").ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new PlanFormatException("options.deleteUntagged", "expected true or false"),
                },
                // Duration's grammar: "2h" as reports write it now, "02:00:00" as older reports did
                TimeWindow = Duration.TryParse(String(options, "timeWindow", "options"), out var window)
                    ? window : throw new PlanFormatException("options.timeWindow", $"'{String(options, "timeWindow", "options")}' is not a duration; {Duration.Grammar}"),
                Artifacts = Array(root, "artifacts", ReadArtifact),
                Blobs = Array(root, "blobs", (e, path) => new PlannedBlob(
                    DigestOf(e, "digest", path), Long(e, "size", path), Time(e, "lastTouchedAt", path), Status(e, path))
                {
                    Repositories = BlobRepositories(e, path),
                }),
                LayerLinks = Array(root, "layerLinks", (e, path) => new LayerLink(
                    Repository(e, "repository", path), DigestOf(e, "digest", path), Time(e, "createdAt", path))),

                // reports written before uploads were collected have no "uploads": they delete none
                Uploads = root.TryGetProperty("uploads", out _) ? Array(root, "uploads", ReadUpload) : [],
            };
        }
    }

    private static PlannedArtifact ReadArtifact(JsonElement e, string path)
    {
        var reasonName = String(e, "reason", path);
        DeletionReason reason;
        try
        {
            reason = DeletionReasonExtensions.ParseReportName(reasonName);
        }
        catch (FormatException x)
        {
            throw new PlanFormatException($"{path}.reason", x.Message, x);
        }

        var tags = Property(e, "tags", path).EnumerateArray().Select((t, i) =>
        {
            var tag = t.GetString() ?? throw new PlanFormatException($"{path}.tags[{i}]", "expected a string");
            return TagName.Validate(tag) is { } problem ? throw new PlanFormatException($"{path}.tags[{i}]", $"'{tag}' is not a valid tag: {problem}") : tag;
        }).ToImmutableArray();
        var dependsOn = e.TryGetProperty("dependsOn", out var deps)
            ? deps.EnumerateArray().Select((d, i) => ParseKey(d.GetString(), $"{path}.dependsOn[{i}]")).ToImmutableArray()
            : [];
        return new PlannedArtifact(
            new ArtifactKey(Repository(e, "repository", path), DigestOf(e, "digest", path)),
            String(e, "mediaType", path),
            Long(e, "size", path),
            tags,
            reason,
            e.TryGetProperty("accessoryType", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null,
            e.TryGetProperty("subject", out var subject) && subject.ValueKind == JsonValueKind.String ? DigestOf(e, "subject", path) : null,
            Long(e, "version", path))
        {
            DependsOn = dependsOn,
            Stage = e.TryGetProperty("stage", out var stage) && stage.TryGetInt32(out var s) && s >= 0 ? s : 0,
        };
    }

    private static BlobUpload ReadUpload(JsonElement e, string path)
    {
        var id = String(e, "id", path);
        if (BlobUpload.ValidateId(id) is { } problem)
        {
            throw new PlanFormatException($"{path}.id", $"'{id}' is not an upload id: {problem}");
        }

        var startedAt = Property(e, "startedAt", path).ValueKind == JsonValueKind.Null ? (DateTimeOffset?)null : Time(e, "startedAt", path);
        // an upload that belongs to no repository (the LiteDB store's temporary files) has a null repository
        var repository = Property(e, "repository", path).ValueKind == JsonValueKind.Null ? (RepositoryName?)null : Repository(e, "repository", path);
        return new BlobUpload(repository, id, startedAt, Long(e, "size", path), Time(e, "lastWrittenAt", path));
    }

    private static ArtifactKey ParseKey(string? text, string path)
    {
        var at = text?.IndexOf('@', StringComparison.Ordinal) ?? -1;
        if (text is null || at < 0)
        {
            throw new PlanFormatException(path, "expected 'repository@digest'");
        }

        if (RepositoryName.Validate(text.AsSpan(0, at)) is { } repoProblem)
        {
            throw new PlanFormatException(path, $"'{text[..at]}' is not a valid repository name: {repoProblem}");
        }

        if (Digest.Validate(text.AsSpan(at + 1)) is { } digestProblem)
        {
            throw new PlanFormatException(path, $"'{text[(at + 1)..]}' is not a valid digest: {digestProblem}");
        }

        return new ArtifactKey(RepositoryName.Parse(text[..at]), Digest.Parse(text[(at + 1)..]));
    }

    private static List<T> Array<T>(JsonElement root, string name, Func<JsonElement, string, T> read)
    {
        var array = Property(root, name, "$");
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new PlanFormatException(name, "expected an array");
        }

        var list = new List<T>(array.GetArrayLength());
        var i = 0;
        foreach (var element in array.EnumerateArray())
        {
            var path = $"{name}[{i++}]";
            list.Add(element.ValueKind == JsonValueKind.Object ? read(element, path) : throw new PlanFormatException(path, "expected an object"));
        }

        return list;
    }

    private static JsonElement Property(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var value) ? value : throw new PlanFormatException(path == "$" ? name : $"{path}.{name}", "missing");

    private static string String(JsonElement e, string name, string path)
    {
        var value = Property(e, name, path);
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new PlanFormatException(Join(path, name), "expected a string");
    }

    private static long Long(JsonElement e, string name, string path)
    {
        var value = Property(e, name, path);
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n >= 0
            ? n : throw new PlanFormatException(Join(path, name), "expected a non-negative integer");
    }

    private static DateTimeOffset Time(JsonElement e, string name, string path) =>
        DateTimeOffset.TryParse(String(e, name, path), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time : throw new PlanFormatException(Join(path, name), "expected an ISO 8601 time");

    private static Digest DigestOf(JsonElement e, string name, string path)
    {
        var text = String(e, name, path);
        return Digest.Validate(text) is { } problem ? throw new PlanFormatException(Join(path, name), $"'{text}' is not a valid digest: {problem}") : Digest.Parse(text);
    }

    private static RepositoryName Repository(JsonElement e, string name, string path) => ParseRepository(String(e, name, path), Join(path, name));

    private static RepositoryName ParseRepository(string text, string path) =>
        RepositoryName.Validate(text) is { } problem
            ? throw new PlanFormatException(path, $"'{text}' is not a valid repository name: {problem}")
            : RepositoryName.Parse(text);

    /// <summary>A blob's optional <c>repositories</c> (reports written before it have none: empty).</summary>
    private static ImmutableArray<RepositoryName> BlobRepositories(JsonElement e, string path)
    {
        if (!e.TryGetProperty("repositories", out var array))
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new PlanFormatException($"{path}.repositories", "expected an array of repository names");
        }

        var names = ImmutableArray.CreateBuilder<RepositoryName>(array.GetArrayLength());
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var itemPath = $"{path}.repositories[{i++}]";
            var text = item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new PlanFormatException(itemPath, "expected a string");
            names.Add(ParseRepository(text, itemPath));
        }

        return names.MoveToImmutable();
    }

    private static BlobStatus Status(JsonElement e, string path)
    {
        var text = String(e, "status", path);
        return text switch
        {
            "none" => BlobStatus.None,
            "delete" => BlobStatus.Delete,
            "deleting" => BlobStatus.Deleting,
            "deleted" => BlobStatus.Deleted,
            "deletefailed" => BlobStatus.DeleteFailed,
            _ => throw new PlanFormatException($"{path}.status", $"'{text}' is not a blob status (none, delete, deleting, deleted, deletefailed)"),
        };
    }

    private static string Join(string path, string name) => path == "$" ? name : $"{path}.{name}";
}
