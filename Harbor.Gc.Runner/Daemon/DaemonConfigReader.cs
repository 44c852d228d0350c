using System.Text.Json;
using Cronos;
using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Retention;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Scheduling;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>
/// Reads the daemon's JSON configuration (README, "The daemon"). Every problem is collected, each naming the file, the job and
/// the field, and thrown at once as a <see cref="UsageException"/> (exit code 2). Relative paths are read from the configuration
/// file's folder. Stores are opened (and closed) to check them, policies and immutable rules are read and validated.
/// </summary>
internal sealed class DaemonConfigReader
{
    private static readonly string[] TopFields = ["history", "timeZone", "keep", "metrics", "jobs"];
    private static readonly string[] CommonFields = ["name", "kind", "store", "schedule", "dryRun", "reportJson", "reportHtml", "gracePeriod"];
    private static readonly string[] GcFields = ["deleteUntagged", "timeWindow", "workers", "maxDuration", "allowNoTags"];
    private static readonly string[] RetentionFields = ["policy", "immutableRules", "projectIds"];

    private readonly string _file;
    private readonly string _folder;
    private readonly TimeProvider _time;
    private readonly List<string> _errors = [];

    private DaemonConfigReader(string file, TimeProvider time)
    {
        _file = file;
        _folder = Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";
        _time = time;
    }

    /// <summary>Reads and validates <paramref name="file"/>.</summary>
    /// <exception cref="UsageException">The file is missing, malformed or invalid; every problem is listed.</exception>
    public static DaemonConfig Load(string file, TimeProvider time)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"daemon --config {file}: cannot read the configuration: {e.Message}");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UsageException($"{file}: line {e.LineNumber + 1}: not valid JSON: {e.Message}");
        }

        using (doc)
        {
            var reader = new DaemonConfigReader(file, time);
            var config = reader.Read(doc.RootElement);
            if (reader._errors.Count > 0)
            {
                throw new UsageException($"{file}: {reader._errors.Count} problem(s) in the daemon configuration:\n  " + string.Join("\n  ", reader._errors));
            }

            return config;
        }
    }

    private DaemonConfig Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            Error(null, null, "the configuration must be a JSON object with 'history' and 'jobs'");
            return new DaemonConfig(_file, string.Empty, TimeZoneInfo.Utc, []);
        }

        UnknownFields(root, null, TopFields);
        var history = Path.GetFullPath(String(root, null, "history") ?? "harbor-gc-history.db", _folder);
        if (Path.GetDirectoryName(history) is { } historyFolder && !Directory.Exists(historyFolder))
        {
            Error(null, "history", $"the folder '{historyFolder}' does not exist");
        }

        var zone = TimeZoneInfo.Utc;
        if (String(root, null, "timeZone") is { } zoneName)
        {
            try
            {
                zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName);
            }
            catch (TimeZoneNotFoundException)
            {
                Error(null, "timeZone", $"'{zoneName}' is not a time zone (write an IANA name such as Europe/Berlin, or UTC)");
            }
        }

        var keep = Keep(root);
        var metrics = root.TryGetProperty("metrics", out var metricsElement) ? Metrics(metricsElement) : null;
        var jobs = new List<DaemonJob>();
        if (!root.TryGetProperty("jobs", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            Error(null, "jobs", "missing: give a list of one or more jobs");
        }
        else
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            var index = 0;
            foreach (var element in list.EnumerateArray())
            {
                index++;
                if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                    && !names.Add(name.GetString()!))
                {
                    Error(name.GetString(), "name", "another job has the same name");
                }

                if (ReadJob(element, index) is { } job)
                {
                    jobs.Add(job);
                }
            }
        }

        // LiteDB would take the store's database for a history and write its runs into it (the history is opened in the same way)
        foreach (var job in jobs.Where(j => j.Store == "litedb:" + history))
        {
            Error(null, "history", $"'{history}' is the LiteDB store of job '{job.Name}'; give the history its own file");
        }

        return new DaemonConfig(_file, history, zone, jobs) { Keep = keep, Metrics = metrics };
    }

    /// <summary>Reads <c>"metrics": { "prometheus": { "port": 9464 }, "otlp": { "endpoint": "http://collector:4317" } }</c>.</summary>
    private MetricsConfig? Metrics(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            Error(null, "metrics", $"expected an object with 'prometheus' and/or 'otlp', found {element.GetRawText()}");
            return null;
        }

        UnknownFields(element, null, ["prometheus", "otlp"], "metrics.");
        PrometheusConfig? prometheus = null;
        if (element.TryGetProperty("prometheus", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind != JsonValueKind.Object)
            {
                Error(null, "metrics.prometheus", $"expected an object such as {{ \"port\": 9464 }}, found {p.GetRawText()}");
            }
            else
            {
                UnknownFields(p, null, ["host", "port"], "metrics.prometheus.");
                var host = String(p, null, "host", "metrics.prometheus.host") ?? "127.0.0.1";
                if (!p.TryGetProperty("port", out var port) || port.ValueKind != JsonValueKind.Number || !port.TryGetInt32(out var n) || n is < 1 or > 65535)
                {
                    Error(null, "metrics.prometheus.port", p.TryGetProperty("port", out var given) ? $"{given.GetRawText()} is not a TCP port (1 to 65535)" : "missing: give the TCP port of the scrape endpoint, e.g. 9464");
                }
                else if (host.Length == 0 || Uri.CheckHostName(host) == UriHostNameType.Unknown)
                {
                    Error(null, "metrics.prometheus.host", $"'{host}' is not a host name or address");
                }
                else
                {
                    prometheus = new PrometheusConfig(host, n);
                }
            }
        }

        OtlpConfig? otlp = null;
        if (element.TryGetProperty("otlp", out var o) && o.ValueKind != JsonValueKind.Null)
        {
            if (o.ValueKind != JsonValueKind.Object)
            {
                Error(null, "metrics.otlp", $"expected an object such as {{ \"endpoint\": \"http://127.0.0.1:4317\" }}, found {o.GetRawText()}");
            }
            else
            {
                UnknownFields(o, null, ["endpoint", "protocol", "interval"], "metrics.otlp.");
                var endpoint = String(o, null, "endpoint", "metrics.otlp.endpoint");
                var protocol = String(o, null, "protocol", "metrics.otlp.protocol") ?? "grpc";
                var interval = ReadDuration(o, null, "interval", "metrics.otlp.interval") ?? TimeSpan.FromSeconds(60);
                Uri? uri = null;
                if (endpoint is null)
                {
                    Error(null, "metrics.otlp.endpoint", "missing: give the collector's endpoint, e.g. http://127.0.0.1:4317");
                }
                else if (!Uri.TryCreate(endpoint, UriKind.Absolute, out uri) || uri.Scheme is not ("http" or "https"))
                {
                    Error(null, "metrics.otlp.endpoint", $"'{endpoint}' is not an http:// or https:// address");
                    uri = null;
                }

                if (protocol is not ("grpc" or "http/protobuf"))
                {
                    Error(null, "metrics.otlp.protocol", $"'{protocol}' is not grpc or http/protobuf");
                }

                if (interval <= TimeSpan.Zero)
                {
                    Error(null, "metrics.otlp.interval", "must be more than 0");
                }

                otlp = uri is null || protocol is not ("grpc" or "http/protobuf") || interval <= TimeSpan.Zero ? null : new OtlpConfig(uri, protocol == "http/protobuf", interval);
            }
        }

        return prometheus is null && otlp is null ? null : new MetricsConfig(prometheus, otlp);
    }

    /// <summary>Reads <c>"keep": 100</c> (the newest runs) or <c>"keep": "30d"</c> (the runs younger than that).</summary>
    private HistoryKeep? Keep(JsonElement root)
    {
        if (!root.TryGetProperty("keep", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind is not (JsonValueKind.Number or JsonValueKind.String))
        {
            Error(null, "keep", $"expected a number of runs (100) or a duration (\"30d\"), found {value.GetRawText()}");
            return null;
        }

        try
        {
            return HistoryKeep.Parse("keep", value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText());
        }
        catch (UsageException e)
        {
            Error(null, "keep", e.Message["keep: ".Length..]);
            return null;
        }
    }

    private DaemonJob? ReadJob(JsonElement element, int index)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            Error($"#{index}", null, "a job must be a JSON object");
            return null;
        }

        var name = String(element, $"#{index}", "name");
        if (name is null || name.Trim().Length == 0)
        {
            name ??= $"#{index}";
            Error(name, "name", "missing: every job needs a name");
        }

        var kindText = String(element, name, "kind");
        JobKind? kind = kindText switch
        {
            "gc" => JobKind.Gc,
            "retention" => JobKind.Retention,
            null => null,
            _ => null,
        };
        if (kindText is null)
        {
            Error(name, "kind", "missing: write \"gc\" or \"retention\"");
        }
        else if (kind is null)
        {
            Error(name, "kind", $"unknown job kind '{kindText}': write \"gc\" or \"retention\"");
        }

        UnknownFields(element, name, [.. CommonFields, .. kind == JobKind.Retention ? RetentionFields : kind == JobKind.Gc ? GcFields : [.. GcFields, .. RetentionFields]]);

        var store = ReadStore(element, name, element.TryGetProperty("dryRun", out var dry) && dry.ValueKind == JsonValueKind.True);
        CronExpression? schedule = null;
        var scheduleText = String(element, name, "schedule");
        if (scheduleText is null)
        {
            Error(name, "schedule", "missing: give a cron schedule such as \"0 0 3 * * *\" or \"@daily\"");
        }
        else if (CronSchedule.TryParse(scheduleText, out schedule) is { } problem)
        {
            Error(name, "schedule", problem);
        }

        var dryRun = Bool(element, name, "dryRun") ?? false;
        var report = (Json: ReportPath(element, name, "reportJson"), Html: ReportPath(element, name, "reportHtml"));
        var grace = ReadDuration(element, name, "gracePeriod");
        if (grace is not null && element.TryGetProperty("store", out var spec) && spec.ValueKind == JsonValueKind.String &&
            !(spec.GetString() ?? string.Empty).StartsWith("distribution:", StringComparison.Ordinal))
        {
            Error(name, "gracePeriod", "only a distribution: store waits one (the litedb: store settles each deletion at once, under its lock)");
        }

        var job = kind switch
        {
            JobKind.Gc => ReadGc(element, name, store, scheduleText, schedule, dryRun, report),
            JobKind.Retention => ReadRetention(element, name, store, scheduleText, schedule, dryRun, report),
            _ => null,
        };
        if (job is not null)
        {
            job.GracePeriod = grace;
        }

        return job;
    }

    /// <summary>A report file (<c>reportJson</c>, <c>reportHtml</c>), made absolute; its folder must exist.</summary>
    private string? ReportPath(JsonElement element, string name, string field)
    {
        var report = String(element, name, field) is { } r ? Path.GetFullPath(r, _folder) : null;
        if (report is not null && Path.GetDirectoryName(report) is { } reportFolder && !Directory.Exists(reportFolder))
        {
            Error(name, field, $"the folder '{reportFolder}' does not exist");
        }

        return report;
    }

    private DaemonJob? ReadGc(JsonElement element, string name, string? store, string? scheduleText, CronExpression? schedule, bool dryRun, (string? Json, string? Html) report)
    {
        var options = new GcOptions { DryRun = dryRun };
        options.DeleteUntagged = Bool(element, name, "deleteUntagged") ?? options.DeleteUntagged;
        options.TimeWindow = ReadDuration(element, name, "timeWindow") ?? options.TimeWindow;
        options.MaxDuration = ReadDuration(element, name, "maxDuration");
        options.AllowNoTags = Bool(element, name, "allowNoTags") ?? options.AllowNoTags;
        if (element.TryGetProperty("workers", out var workers))
        {
            if (workers.ValueKind == JsonValueKind.Number && workers.TryGetInt32(out var n) && n is >= 1 and <= GcOptions.MaxWorkers)
            {
                options.Workers = n;
            }
            else
            {
                Error(name, "workers", $"{workers.GetRawText()} is not a whole number from 1 to {GcOptions.MaxWorkers}");
            }
        }

        if (options.MaxDuration is { } max && max <= TimeSpan.Zero)
        {
            Error(name, "maxDuration", "must be more than 0 (leave it out for no limit)");
            options.MaxDuration = null;
        }

        return store is null || scheduleText is null || schedule is null ? null : new DaemonJob { Name = name, Kind = JobKind.Gc, Store = store, ScheduleText = scheduleText, Schedule = schedule, DryRun = dryRun, ReportJson = report.Json, ReportHtml = report.Html, Gc = options };
    }

    private DaemonJob? ReadRetention(JsonElement element, string name, string? store, string? scheduleText, CronExpression? schedule, bool dryRun, (string? Json, string? Html) report)
    {
        RetentionPolicy? policy = null;
        var policyPath = String(element, name, "policy") is { } p ? Path.GetFullPath(p, _folder) : null;
        if (policyPath is null)
        {
            Error(name, "policy", "missing: a retention job needs its policy file (Harbor's retention policy JSON)");
        }
        else if (ReadFile(name, "policy", policyPath) is { } json)
        {
            try
            {
                policy = RetentionPolicyJson.Parse(json, policyPath, ProjectIds(element, name));
            }
            catch (PolicyException e)
            {
                Error(name, "policy", e.Message.ReplaceLineEndings("\n    "));
            }
        }

        var immutability = ImmutabilityRules.None;
        var rulesPath = String(element, name, "immutableRules") is { } i ? Path.GetFullPath(i, _folder) : null;
        if (rulesPath is not null && ReadFile(name, "immutableRules", rulesPath) is { } rules)
        {
            try
            {
                immutability = ImmutableRulesJson.Parse(rules, policy?.Project, rulesPath);
            }
            catch (PolicyException e)
            {
                Error(name, "immutableRules", e.Message.ReplaceLineEndings("\n    "));
            }
        }

        return policy is null || store is null || scheduleText is null || schedule is null ? null : new DaemonJob
        {
            Name = name, Kind = JobKind.Retention, Store = store, ScheduleText = scheduleText, Schedule = schedule, DryRun = dryRun, ReportJson = report.Json, ReportHtml = report.Html,
            PolicyPath = policyPath, Policy = policy, ImmutableRulesPath = rulesPath, Immutability = immutability,
        };
    }

    private string? ReadStore(JsonElement element, string name, bool dryRun)
    {
        var spec = String(element, name, "store");
        if (spec is null)
        {
            Error(name, "store", "missing: write litedb:PATH, distribution:DIR, distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION or postgres:postgresql://USER@HOST/DB?blobs=DIR");
            return null;
        }

        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var harbor = spec.StartsWith("harbor:", StringComparison.Ordinal); // a database address, not a path (its storage= must be absolute)
        var address = harbor || spec.StartsWith("postgres:", StringComparison.Ordinal); // so is a postgres: store's (blobs= absolute)
        if (colon > 0 && colon < spec.Length - 1 && !address && !spec.AsSpan(colon + 1).StartsWith("s3://", StringComparison.Ordinal))
        {
            // the path only, relative to the configuration's folder: a litedb: store's settings (blobs=DIR, or blobs=s3://… with an
            // endpoint URL) are no part of it, and a bucket address (distribution:s3://…) is none (GetFullPath made "s3://" "s3:/")
            var question = spec.StartsWith("litedb:", StringComparison.Ordinal) ? spec.IndexOf('?', colon) : -1; // distribution:DIR is a path whole
            var path = question < 0 ? spec[(colon + 1)..] : spec[(colon + 1)..question];
            var settings = question < 0 ? string.Empty : spec[question..];
            spec = string.Concat(spec.AsSpan(0, colon + 1), Path.GetFullPath(path, _folder), settings);
        }

        try
        {
            // a harbor: store is never written to: a job that would write is refused here, not at its first run
            (StoreSpec.Open(spec, _time, readOnly: !harbor || dryRun) as IDisposable)?.Dispose();
            return spec;
        }
        catch (UsageException e)
        {
            Error(name, "store", e.Message);
            return null;
        }
    }

    private string? ReadFile(string job, string field, string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Error(job, field, $"cannot read '{path}': {e.Message}");
            return null;
        }
    }

    /// <summary>A duration in <see cref="Duration"/>'s grammar, the command line's (<c>"2h30m"</c>, <c>"90s"</c>, <c>"02:30:00"</c>).</summary>
    private TimeSpan? ReadDuration(JsonElement element, string? job, string field, string? shown = null)
    {
        if (String(element, job, field, shown) is not { } text)
        {
            return null;
        }

        if (Duration.TryParse(text, out var value))
        {
            return value;
        }

        Error(job, shown ?? field, Duration.Problem(text));
        return null;
    }

    /// <summary>Reads <c>"projectIds": {"3": "library"}</c>: the names of the projects whose ids policies' <c>scope.ref</c> hold.</summary>
    private Dictionary<long, string> ProjectIds(JsonElement element, string job)
    {
        var ids = new Dictionary<long, string>();
        if (!element.TryGetProperty("projectIds", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return ids;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Error(job, "projectIds", $"expected an object of project ids and names, e.g. {{\"3\": \"library\"}}, found {value.GetRawText()}");
            return ids;
        }

        foreach (var entry in value.EnumerateObject())
        {
            try
            {
                RetentionCommand.AddProjectId(ids, "projectIds", entry.Value.ValueKind == JsonValueKind.String ? $"{entry.Name}={entry.Value.GetString()}" : $"{entry.Name}={entry.Value.GetRawText()}");
            }
            catch (UsageException e)
            {
                Error(job, "projectIds", e.Message["projectIds ".Length..]);
            }
        }

        return ids;
    }

    private string? String(JsonElement element, string? job, string field, string? shown = null)
    {
        if (!element.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            Error(job, shown ?? field, $"expected a string, found {value.GetRawText()}");
            return null;
        }

        return value.GetString();
    }

    private bool? Bool(JsonElement element, string job, string field)
    {
        if (!element.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetBoolean();
        }

        Error(job, field, $"expected true or false, found {value.GetRawText()}");
        return null;
    }

    private void UnknownFields(JsonElement element, string? job, string[] known, string prefix = "")
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                Error(job, prefix + property.Name, $"unknown field (known: {string.Join(", ", known)})");
            }
        }
    }

    private void Error(string? job, string? field, string message)
    {
        var where = (job, field) switch
        {
            (null, null) => string.Empty,
            (null, _) => $"field '{field}': ",
            (_, null) => $"job '{job}': ",
            _ => $"job '{job}', field '{field}': ",
        };
        _errors.Add($"{_file}: {where}{message}");
    }
}
