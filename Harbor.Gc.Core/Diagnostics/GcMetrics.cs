using System.Diagnostics;
using System.Diagnostics.Metrics;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Diagnostics;

/// <summary>
/// The collector's metrics, on the <see cref="Meter"/> named <see cref="MeterName"/>, for an OpenTelemetry or Prometheus exporter
/// (<c>AddMeter("Harbor.Gc")</c>). Every run records its duration when it ends; a real run adds each deletion to the counters
/// as it is made (an exporter sees a long sweep progress, and what a run deleted before it failed or was stopped is counted); a
/// dry run deletes nothing and adds nothing.
/// </summary>
/// <remarks>
/// Instruments: <c>harbor_gc.artifacts.deleted</c>, <c>harbor_gc.blobs.deleted</c>, <c>harbor_gc.bytes.freed</c> (blob bytes),
/// <c>harbor_gc.uploads.deleted</c> (stale uploads) and <c>harbor_gc.upload_bytes.freed</c>, counters tagged with
/// <c>store.kind</c>; <c>harbor_gc.run.duration</c>, a histogram in seconds tagged with <c>dry_run</c>, <c>store.kind</c> and
/// <c>outcome</c> (<c>completed</c>, <c>stopped</c> or <c>failed</c>).
/// </remarks>
public sealed class GcMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Harbor.Gc";

    private static readonly Lazy<GcMetrics> Shared = new(() => new GcMetrics(new Meter(MeterName, Version)));

    private static string? Version => typeof(GcMetrics).Assembly.GetName().Version?.ToString();

    private readonly Counter<long> _artifactsDeleted;
    private readonly Counter<long> _blobsDeleted;
    private readonly Counter<long> _bytesFreed;
    private readonly Counter<long> _uploadsDeleted;
    private readonly Counter<long> _uploadBytesFreed;
    private readonly Histogram<double> _runDuration;

    private GcMetrics(Meter meter)
    {
        Meter = meter;
        _artifactsDeleted = meter.CreateCounter<long>("harbor_gc.artifacts.deleted", "{artifact}", "Artifacts (manifests in a repository) deleted by GC.");
        _blobsDeleted = meter.CreateCounter<long>("harbor_gc.blobs.deleted", "{blob}", "Blobs deleted by GC.");
        _bytesFreed = meter.CreateCounter<long>("harbor_gc.bytes.freed", "By", "Bytes freed by the blobs GC deleted.");
        _uploadsDeleted = meter.CreateCounter<long>("harbor_gc.uploads.deleted", "{upload}", "Stale unfinished uploads GC removed.");
        _uploadBytesFreed = meter.CreateCounter<long>("harbor_gc.upload_bytes.freed", "By", "Bytes freed by the stale uploads GC removed.");
        _runDuration = meter.CreateHistogram<double>("harbor_gc.run.duration", "s", "How long a GC run took, planning included.");
    }

    /// <summary>The meter the instruments are on.</summary>
    public Meter Meter { get; }

    /// <summary>The metrics on the meter <paramref name="factory"/> creates, or on the process's shared meter when it is null.</summary>
    /// <param name="factory">The meter factory (from dependency injection), or null.</param>
    /// <returns>The metrics.</returns>
    public static GcMetrics Create(IMeterFactory? factory) =>
        factory is null ? Shared.Value : new GcMetrics(factory.Create(new MeterOptions(MeterName) { Version = Version }));

    /// <summary>Records a finished run's duration (its deletions were counted as they were made, see <see cref="ForSweep"/>).</summary>
    internal void Record(GcResult result) =>
        RecordDuration(result.FinishedAt - result.StartedAt, result.DryRun, StoreKind(result.Plan.Store), result.Outcome == GcOutcome.Completed ? "completed" : "stopped");

    /// <summary>The counters a sweep of the store <paramref name="store"/> (its description) adds its deletions to, one by one.</summary>
    internal SweepCounters ForSweep(string store) => new(this, new KeyValuePair<string, object?>("store.kind", StoreKind(store)));

    /// <summary>Records a run that threw after <paramref name="elapsed"/>: <c>stopped</c> (cancelled while planning) or <c>failed</c>.</summary>
    internal void RecordFailure(TimeSpan elapsed, bool dryRun, string store, string outcome) => RecordDuration(elapsed, dryRun, StoreKind(store), outcome);

    private void RecordDuration(TimeSpan elapsed, bool dryRun, string kind, string outcome)
    {
        var tags = new TagList { { "dry_run", dryRun }, { "store.kind", kind }, { "outcome", outcome } };
        _runDuration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary><c>distribution</c>, <c>litedb</c>, <c>memory</c>: a store description up to its first colon.</summary>
    internal static string StoreKind(string description) => description.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0 ? description[..colon] : description;

    /// <summary>A sweep's view of the counters, tagged with its store's kind; thread-safe (the instruments are).</summary>
    internal sealed class SweepCounters(GcMetrics metrics, KeyValuePair<string, object?> store)
    {
        public void ArtifactDeleted() => metrics._artifactsDeleted.Add(1, store);

        public void BlobDeleted(long size)
        {
            metrics._blobsDeleted.Add(1, store);
            metrics._bytesFreed.Add(size, store);
        }

        public void UploadDeleted(long size)
        {
            metrics._uploadsDeleted.Add(1, store);
            metrics._uploadBytesFreed.Add(size, store);
        }
    }
}
