using Cronos;
using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>What a job does.</summary>
internal enum JobKind
{
    /// <summary>Garbage collection (DESIGN.md §5).</summary>
    Gc,

    /// <summary>Tag retention (DESIGN.md §6).</summary>
    Retention,
}

/// <summary>The daemon's configuration, read and validated by <see cref="DaemonConfigReader"/>.</summary>
/// <param name="Path">The configuration file.</param>
/// <param name="HistoryPath">The run history database.</param>
/// <param name="TimeZone">The zone the schedules are read in.</param>
/// <param name="Jobs">The jobs.</param>
internal sealed record DaemonConfig(string Path, string HistoryPath, TimeZoneInfo TimeZone, IReadOnlyList<DaemonJob> Jobs)
{
    /// <summary>What the history keeps after each run (<c>keep</c>); everything when null.</summary>
    public History.HistoryKeep? Keep { get; init; }

    /// <summary>Where the daemon exports the <c>Harbor.Gc</c> meter (<c>metrics</c>); nowhere when null.</summary>
    public MetricsConfig? Metrics { get; init; }
}

/// <summary>The daemon's metrics exporters (<c>metrics</c>): each off unless configured.</summary>
/// <param name="Prometheus">The Prometheus scrape endpoint, or null.</param>
/// <param name="Otlp">The OTLP exporter, or null.</param>
internal sealed record MetricsConfig(PrometheusConfig? Prometheus, OtlpConfig? Otlp);

/// <summary>A Prometheus scrape endpoint, <c>http://HOST:PORT/metrics</c>.</summary>
/// <param name="Host">The address it listens on; 127.0.0.1 unless configured.</param>
/// <param name="Port">The TCP port.</param>
internal sealed record PrometheusConfig(string Host, int Port);

/// <summary>An OTLP exporter.</summary>
/// <param name="Endpoint">The collector's endpoint.</param>
/// <param name="HttpProtobuf">Whether it takes OTLP over HTTP (protobuf) rather than gRPC.</param>
/// <param name="Interval">How often the metrics are sent (and once more when the daemon stops).</param>
internal sealed record OtlpConfig(Uri Endpoint, bool HttpProtobuf, TimeSpan Interval);

/// <summary>One scheduled job.</summary>
internal sealed class DaemonJob
{
    /// <summary>The job's name, unique in the file.</summary>
    public required string Name { get; init; }

    /// <summary>GC or retention.</summary>
    public required JobKind Kind { get; init; }

    /// <summary>The store, a STORE value with its path made absolute.</summary>
    public required string Store { get; init; }

    /// <summary>The schedule as written.</summary>
    public required string ScheduleText { get; init; }

    /// <summary>The schedule.</summary>
    public required CronExpression Schedule { get; init; }

    /// <summary>Plan only.</summary>
    public bool DryRun { get; init; }

    /// <summary>Where each run writes its JSON report (<c>{id}</c> is replaced by the run id), or null.</summary>
    public string? ReportJson { get; init; }

    /// <summary>Where each run writes its HTML report (<c>{id}</c> is replaced by the run id), or null.</summary>
    public string? ReportHtml { get; init; }

    /// <summary>A distribution: store's grace period (<c>gracePeriod</c>); the store's default when null.</summary>
    public TimeSpan? GracePeriod { get; set; }

    /// <summary>A GC job's options (with <see cref="DryRun"/>).</summary>
    public GcOptions Gc { get; init; } = new();

    /// <summary>A retention job's policy file.</summary>
    public string? PolicyPath { get; init; }

    /// <summary>A retention job's policy.</summary>
    public RetentionPolicy? Policy { get; init; }

    /// <summary>A retention job's immutable-rules file, or null.</summary>
    public string? ImmutableRulesPath { get; init; }

    /// <summary>A retention job's immutable tag rules (<see cref="ImmutabilityRules.None"/> when there is no file).</summary>
    public ImmutabilityRules Immutability { get; init; } = ImmutabilityRules.None;

    /// <summary>The kind as the configuration and the history write it.</summary>
    public string KindName => Kind == JobKind.Gc ? "gc" : "retention";

    /// <summary>The options as the history shows them.</summary>
    public Dictionary<string, string> Options()
    {
        if (Kind == JobKind.Gc)
        {
            var options = History.GcRunRecording.Options(Gc, ReportJson);
            options["schedule"] = ScheduleText;
            options["reportHtml"] = ReportHtml ?? "none";
            return options;
        }

        return new()
        {
            ["schedule"] = ScheduleText,
            ["dryRun"] = DryRun ? "true" : "false",
            ["policy"] = PolicyPath ?? "none",
            ["immutableRules"] = ImmutableRulesPath ?? "none",
            ["reportJson"] = ReportJson ?? "none",
            ["reportHtml"] = ReportHtml ?? "none",
        };
    }

    /// <summary>Whether a run of this job may not run while a run of <paramref name="other"/> does: two GC runs never run at once,
    /// and two runs on the same store (GC and retention, or the same job twice) never do.</summary>
    public bool Overlaps(DaemonJob other) => (Kind == JobKind.Gc && other.Kind == JobKind.Gc) || Store == other.Store;
}
