using System.Diagnostics.Metrics;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Harbor.Gc.Collection;

/// <summary>
/// Garbage collection over a registry store: snapshot → graph → mark → plan → (unless dry) execute. One run covers every
/// repository.
/// </summary>
/// <remarks>
/// <para>Where this differs from Harbor on purpose: every artifact pushed within the time window is a root (Harbor collects
/// untagged artifacts with no window, so a GC between a multi-arch push's children and its index deletes the children,
/// goharbor/harbor#21266); every blob is re-checked before it is deleted (a cross-repository mount during Harbor's GC can
/// lose the blob, goharbor/harbor#23116); and the dry run is the plan (Harbor's dry run over-counts shared blobs).</para>
/// <para>Orphan accessories (a signature whose image does not exist) are collected once older than the time window; Harbor
/// keeps them forever.</para>
/// </remarks>
public sealed class GarbageCollector
{
    private readonly IRegistryStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GcMetrics _metrics;

    /// <summary>Creates a collector over <paramref name="store"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="logger">The logger; none when null.</param>
    /// <param name="meterFactory">Creates the <see cref="GcMetrics.MeterName"/> meter; the process's shared one when null.</param>
    public GarbageCollector(IRegistryStore store, TimeProvider? timeProvider = null, ILogger<GarbageCollector>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _metrics = GcMetrics.Create(meterFactory);
    }

    /// <summary>Reads a snapshot of the store, marks what is live and plans what to delete. Deletes nothing.</summary>
    /// <param name="options">The options (<see cref="GcOptions.DryRun"/>, workers and max duration do not change the plan).</param>
    /// <param name="cancellationToken">Stops the planning; nothing has been deleted when it throws.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every bad value.</exception>
    /// <exception cref="OperationCanceledException">Planning was cancelled.</exception>
    public async Task<CollectionPlan> PlanAsync(GcOptions options, CancellationToken cancellationToken = default) =>
        (await PlanCoreAsync(options, cancellationToken).ConfigureAwait(false)).Plan;

    /// <summary>A plan, and the graph it was made from.</summary>
    private async Task<(CollectionPlan Plan, RegistryGraph Graph)> PlanCoreAsync(GcOptions options, CancellationToken cancellationToken)
    {
        var (graph, marks, now) = await MarkAsync(options, cancellationToken).ConfigureAwait(false);
        options.Progress?.Report(new GcProgress(GcPhase.Planning, 0, 1));
        var plan = Planner.Plan(graph, marks, _store.Description, now, options.DeleteUntagged, options.TimeWindow, cancellationToken);
        options.Progress?.Report(new GcProgress(GcPhase.Planning, 1, 1));
        Log.PlanCreated(_logger, plan.Store, plan.Artifacts.Count, plan.Blobs.Count, plan.Summary.Bytes, plan.Statistics!.LiveArtifacts, graph.ArtifactCount);
        if (plan.Uploads.Count > 0)
        {
            Log.UploadsPlanned(_logger, plan.Store, plan.Uploads.Count, plan.Summary.UploadBytes);
        }
        foreach (var warning in plan.Warnings.Take(100))
        {
            Log.PlanWarning(_logger, warning.ToString());
        }

        return (plan, graph);
    }

    /// <summary>
    /// Applies a plan made earlier (DESIGN.md §2): plans again from a fresh snapshot of the live store, with the plan's own options
    /// and the time window measured back from now, and executes only what both plans list, unchanged (artifacts with the same
    /// version, blobs with the same last touch and size, layer links with the same time, uploads exactly as they were), in the
    /// crash-safe order of DESIGN.md §5, each item re-checked as it is deleted.
    /// </summary>
    /// <remarks>
    /// The plan only narrows what the live store justifies: nothing it lists is deleted unless a plan made now would delete it too,
    /// whatever its fields say. What it lists that changed or became live since is kept and reported
    /// (<see cref="GcResult.ArtifactsSkipped"/> and the other kept lists); what is gone already is left out; garbage that appeared
    /// since is not in it and waits for the next plan. On a store nothing wrote to since the plan, the result is exactly a real run's.
    /// </remarks>
    /// <param name="plan">The plan, from <see cref="PlanAsync"/> or read back from a saved report; it must be for this store.</param>
    /// <param name="options">Workers, max duration and progress. <see cref="GcOptions.DeleteUntagged"/> and
    /// <see cref="GcOptions.TimeWindow"/> are the plan's, whatever these options say.</param>
    /// <param name="cancellationToken">Stops the run after the item in hand; the result then says <see cref="GcOutcome.Stopped"/>.
    /// Cancellation while planning again throws, before anything was deleted.</param>
    /// <returns>What was done: <see cref="GcResult.Plan"/> is what was executed, <see cref="GcResult.AppliedPlan"/> the plan given.</returns>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every bad value), or the plan is for another store.</exception>
    /// <exception cref="OperationCanceledException">Cancelled while planning again, before anything was deleted.</exception>
    public Task<GcResult> ExecuteAsync(CollectionPlan plan, GcOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        var live = options.Clone();
        live.DeleteUntagged = plan.DeleteUntagged;
        live.TimeWindow = plan.TimeWindow;
        live.EnsureValid();
        if (plan.Store != _store.Description)
        {
            throw new ArgumentException($"The plan is for {plan.Store}, not {_store.Description}.", nameof(plan));
        }

        return MeasureAsync(false, _time.GetUtcNow(), async startedAt =>
        {
            var application = await PlanAgainAsync(plan, live, cancellationToken).ConfigureAwait(false);
            return await ExecuteCoreAsync(application.Executable, options, startedAt, cancellationToken, application).ConfigureAwait(false);
        });
    }

    /// <summary>Plans again from a fresh snapshot and intersects with <paramref name="saved"/> (the graph is not held during the sweep).</summary>
    private async Task<PlanApplication> PlanAgainAsync(CollectionPlan saved, GcOptions options, CancellationToken cancellationToken)
    {
        var (live, graph) = await PlanCoreAsync(options, cancellationToken).ConfigureAwait(false);
        return PlanApplication.Create(saved, live, graph);
    }

    /// <summary>Plans and, unless <see cref="GcOptions.DryRun"/>, executes.</summary>
    /// <param name="options">The options.</param>
    /// <param name="cancellationToken">Stops the run after the item in hand; cancellation while planning throws.</param>
    /// <returns>What was done.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every bad value.</exception>
    /// <exception cref="OperationCanceledException">Cancelled while planning, before anything was deleted.</exception>
    public Task<GcResult> RunAsync(GcOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        return MeasureAsync(options.DryRun, _time.GetUtcNow(), async startedAt =>
        {
            var plan = await PlanAsync(options, cancellationToken).ConfigureAwait(false);
            return options.DryRun
                ? new GcResult
                {
                    Plan = plan,
                    DryRun = true,
                    StartedAt = startedAt,
                    FinishedAt = _time.GetUtcNow(),
                    Outcome = GcOutcome.Completed,
                    Workers = options.Workers,
                }
                : await ExecuteCoreAsync(plan, options, startedAt, cancellationToken).ConfigureAwait(false);
        });
    }

    /// <summary>Runs <paramref name="run"/> and records how long it took, or that it failed (deletions are counted as they are made).</summary>
    private async Task<GcResult> MeasureAsync(bool dryRun, DateTimeOffset startedAt, Func<DateTimeOffset, Task<GcResult>> run)
    {
        GcResult result;
        try
        {
            result = await run(startedAt).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _metrics.RecordFailure(_time.GetUtcNow() - startedAt, dryRun, _store.Description, e is OperationCanceledException ? "stopped" : "failed");
            throw;
        }

        _metrics.Record(result);
        return result;
    }

    private async Task<GcResult> ExecuteCoreAsync(CollectionPlan plan, GcOptions options, DateTimeOffset startedAt, CancellationToken cancellationToken,
        PlanApplication? application = null)
    {
        using var deadline = options.MaxDuration is { } max ? new CancellationTokenSource(max, _time) : null;
        using var stop = deadline is null
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken)
            : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);

        var executor = new PlanExecutor(_store, _logger, options.Progress, _metrics.ForSweep(plan.Store));
        if (application is not null)
        {
            executor.Keep(application); // what the saved plan lists and the live store no longer justifies
        }

        var completed = await executor.ExecuteAsync(plan, options.Workers, stop.Token).ConfigureAwait(false);
        var reason = completed ? GcStopReason.None
            : cancellationToken.IsCancellationRequested ? GcStopReason.Cancelled
            : GcStopReason.MaxDuration;
        if (completed)
        {
            Log.RunCompleted(_logger, executor.ArtifactsDeleted, executor.BlobsDeleted, executor.BytesFreed, executor.SkippedArtifacts.Count, executor.SkippedBlobs.Count);
            if (plan.Uploads.Count > 0)
            {
                Log.UploadsDeleted(_logger, executor.UploadsDeleted, executor.UploadBytesFreed, executor.SkippedUploads.Count);
            }
        }
        else
        {
            Log.RunStopped(_logger, reason == GcStopReason.Cancelled ? "cancelled" : "maximum duration reached", executor.ArtifactsDeleted, executor.BlobsDeleted);
        }

        return new GcResult
        {
            Plan = plan,
            DryRun = false,
            StartedAt = startedAt,
            FinishedAt = _time.GetUtcNow(),
            Outcome = completed ? GcOutcome.Completed : GcOutcome.Stopped,
            StopReason = reason,
            ArtifactsDeleted = executor.ArtifactsDeleted,
            ArtifactsSkipped = executor.SkippedArtifacts,
            BlobsDeleted = executor.BlobsDeleted,
            BlobsSkipped = executor.SkippedBlobs,
            BlobsFailed = executor.FailedBlobs,
            BytesFreed = executor.BytesFreed,
            LayerLinksDeleted = executor.LayerLinksDeleted,
            LayerLinksSkipped = executor.SkippedLayerLinks,
            UploadsDeleted = executor.UploadsDeleted,
            UploadBytesFreed = executor.UploadBytesFreed,
            UploadsSkipped = executor.SkippedUploads,
            UploadsFailed = executor.FailedUploads,
            Workers = options.Workers,
            AppliedPlan = application?.Saved,
        };
    }

    /// <summary>Explains why a digest is kept (the path from a root) or why nothing keeps it.</summary>
    /// <param name="digest">A manifest or blob digest.</param>
    /// <param name="repository">Limits a manifest digest to one repository; all repositories when null.</param>
    /// <param name="options">The options a run would use.</param>
    /// <param name="cancellationToken">Stops the snapshot read.</param>
    /// <returns>The explanation.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every bad value.</exception>
    public async Task<GcExplanation> ExplainAsync(Digest digest, RepositoryName? repository, GcOptions options, CancellationToken cancellationToken = default)
    {
        var (graph, marks, _) = await MarkAsync(options, cancellationToken).ConfigureAwait(false);
        return Explainer.Explain(graph, marks, digest, repository);
    }

    private async Task<(RegistryGraph Graph, MarkResult Marks, DateTimeOffset Now)> MarkAsync(GcOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        var now = _time.GetUtcNow();
        var progress = options.Progress;
        using var builder = new GraphBuilder();
        if (progress is null)
        {
            await _store.ReadSnapshotAsync(builder, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var sink = new ProgressSink(builder, progress);
            await _store.ReadSnapshotAsync(sink, cancellationToken).ConfigureAwait(false);
            sink.Complete();
        }

        progress?.Report(new GcProgress(GcPhase.Marking, 0, 1));
        var graph = builder.Build(cancellationToken);
        var cutoff = (now - options.TimeWindow).UtcTicks;
        var marks = Marker.Mark(graph, options.DeleteUntagged, cutoff, cancellationToken);
        progress?.Report(new GcProgress(GcPhase.Marking, 1, 1));
        return (graph, marks, now);
    }
}
