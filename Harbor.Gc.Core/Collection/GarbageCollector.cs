using System.Data.Common;
using System.Diagnostics.Metrics;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Postgres;
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
/// <para>On a Harbor installation (<see cref="Storage.Postgres.HarborDatabaseStore"/>) the plan lists each place where Harbor's own GC
/// would decide differently (<see cref="CollectionPlan.DiffersFromHarbor"/>), and <c>explain</c> says it of the artifact or blob
/// asked about.</para>
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
        (await PlanCoreAsync(options, null, cancellationToken).ConfigureAwait(false)).Plan;

    /// <summary>
    /// Reads, marks and plans; <paramref name="enter"/> hears each phase as it starts (and may throw to stop the run). Returns the
    /// plan and the graph it was made from.
    /// </summary>
    private async Task<(CollectionPlan Plan, RegistryGraph Graph)> PlanCoreAsync(GcOptions options, Action<GcPhase>? enter, CancellationToken cancellationToken)
    {
        var (graph, marks, now) = await MarkAsync(options, enter, cancellationToken).ConfigureAwait(false);
        if (options.DeleteUntagged && !options.AllowNoTags && _store is DistributionRegistryStore { TaglessReason: { } tagless })
        {
            throw new InvalidDataException(
                $"{tagless}. Nothing was planned or deleted. Collect without untagged deletion (--delete-untagged false, the default) to free only what no "
                + "manifest references, or, if this registry really has no tags at all, allow it (--allow-no-tags).");
        }

        enter?.Invoke(GcPhase.Planning);
        options.Progress?.Report(new GcProgress(GcPhase.Planning, 0, 1));
        var plan = Planner.Plan(graph, marks, _store.Description, now, options.DeleteUntagged, options.TimeWindow, cancellationToken);
        if (plan.Artifacts.Count == 0 && plan.Blobs.Count == 0 && options.TimeWindow > TimeSpan.Zero)
        {
            // nothing is eligible: say whether the window is why, by marking the same snapshot again with a window of 0
            var bare = Planner.Plan(graph, Marker.Mark(graph, options.DeleteUntagged, now.UtcTicks, cancellationToken), _store.Description, now, options.DeleteUntagged, TimeSpan.Zero, cancellationToken);
            if (bare.Artifacts.Count + bare.Blobs.Count > 0)
            {
                plan = plan.WithKeptByTimeWindow(new TimeWindowKept(bare.Artifacts.Count, bare.Blobs.Count));
            }
        }

        if (_store is IHarborInstallation { Facts: { } facts })
        {
            // where Harbor's own GC would decide differently: needs the plan (its window, delete-untagged, what it keeps and why)
            plan = plan.WithDiffersFromHarbor(HarborComparison.Compare(graph, marks, () => Marker.Mark(graph, true, now.UtcTicks, cancellationToken), plan, facts));
        }

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
    /// Stopped while planning again, it deletes nothing (<see cref="GcResult.Planned"/> false).</param>
    /// <returns>What was done: <see cref="GcResult.Plan"/> is what was executed, <see cref="GcResult.AppliedPlan"/> the plan given.</returns>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every bad value), or the plan is for another store.</exception>
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

        return MeasureAsync(false, options.StartedAt ?? _time.GetUtcNow(), startedAt => InSweepAsync(async () =>
        {
            using var stop = new RunStop(options.MaxDuration, startedAt, _time, cancellationToken);
            var phase = GcPhase.ReadingStore;
            PlanApplication application;
            try
            {
                var (livePlan, graph) = await PlanCoreAsync(live, p =>
                {
                    stop.ThrowIfStopped(); // a stop seen between phases is the earlier phase's
                    phase = p;
                }, stop.Token).ConfigureAwait(false);
                application = PlanApplication.Create(plan, livePlan, graph); // the graph is not held during the sweep
            }
            catch (OperationCanceledException) when (stop.IsStopped)
            {
                return StoppedBeforePlan(live, startedAt, stop, phase);
            }

            return await ExecuteCoreAsync(application.Executable, options, startedAt, stop, application).ConfigureAwait(false);
        }));
    }

    /// <summary>Plans and, unless <see cref="GcOptions.DryRun"/>, executes.</summary>
    /// <param name="options">The options; <see cref="GcOptions.MaxDuration"/> bounds the whole run, reading and planning included.</param>
    /// <param name="cancellationToken">Stops the run: while reading or planning, before anything is deleted; while sweeping, after the item in hand.</param>
    /// <returns>
    /// What was done. A run stopped (cancelled, or past the maximum duration) is <see cref="GcOutcome.Stopped"/>; one stopped before
    /// its plan was made (<see cref="GcResult.Planned"/> false) has an empty plan and deleted nothing.
    /// </returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every bad value.</exception>
    public Task<GcResult> RunAsync(GcOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        return MeasureAsync(options.DryRun, options.StartedAt ?? _time.GetUtcNow(), startedAt => options.DryRun
            ? RunCoreAsync(options, startedAt, cancellationToken)
            : InSweepAsync(() => RunCoreAsync(options, startedAt, cancellationToken)));
    }

    /// <summary>Plans and, unless dry, executes: the body of <see cref="RunAsync"/>.</summary>
    private async Task<GcResult> RunCoreAsync(GcOptions options, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        using var stop = new RunStop(options.MaxDuration, startedAt, _time, cancellationToken);
        var phase = GcPhase.ReadingStore;
        CollectionPlan plan;
        try
        {
            (plan, _) = await PlanCoreAsync(options, p =>
            {
                stop.ThrowIfStopped(); // a stop seen between phases is the earlier phase's
                phase = p;
            }, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsStopped)
        {
            return StoppedBeforePlan(options, startedAt, stop, phase);
        }

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
            : await ExecuteCoreAsync(plan, options, startedAt, stop).ConfigureAwait(false);
    }

    /// <summary>A run stopped while reading or planning: an empty plan, nothing deleted.</summary>
    private GcResult StoppedBeforePlan(GcOptions options, DateTimeOffset startedAt, RunStop stop, GcPhase phase)
    {
        Log.RunStoppedBeforePlan(_logger, stop.Reason == GcStopReason.Cancelled ? "cancelled" : "maximum duration reached", phase.Describe());
        return new GcResult
        {
            Plan = new CollectionPlan
            {
                Store = _store.Description, CreatedAt = startedAt, DeleteUntagged = options.DeleteUntagged, TimeWindow = options.TimeWindow,
                Artifacts = [], Blobs = [],
            },
            DryRun = options.DryRun,
            StartedAt = startedAt,
            FinishedAt = _time.GetUtcNow(),
            Outcome = GcOutcome.Stopped,
            StopReason = stop.Reason,
            StoppedWhile = phase,
            Workers = options.Workers,
        };
    }

    /// <summary>
    /// Runs a real run's work inside the store's sweep when it defers deletions: its lock is taken and what an interrupted run left
    /// out of sight is put back first (so the snapshot sees the store whole), and the lock is released at the end.
    /// </summary>
    private async Task<GcResult> InSweepAsync(Func<Task<GcResult>> run)
    {
        if (_store is not IDeferredSweepStore deferred)
        {
            return await run().ConfigureAwait(false);
        }

        var recovered = deferred.BeginSweep();
        if (recovered > 0)
        {
            Log.Recovered(_logger, recovered);
        }

        try
        {
            var result = await run().ConfigureAwait(false);
            return recovered > 0 ? result.WithRecovered(recovered) : result;
        }
        finally
        {
            deferred.EndSweep();
        }
    }

    /// <summary>Runs <paramref name="run"/> and records how long it took, or that it failed (deletions are counted as they are made).</summary>
    private async Task<GcResult> MeasureAsync(bool dryRun, DateTimeOffset startedAt, Func<DateTimeOffset, Task<GcResult>> run)
    {
        GcResult result;
        try
        {
            result = await run(startedAt).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            // the database went away mid-run (a lost connection, a server stopped): said as the store's failure, naming the store
            _metrics.RecordFailure(_time.GetUtcNow() - startedAt, dryRun, _store.Description, "failed");
            throw new StoreFailedException(_store.Description, e);
        }
        catch (Exception e)
        {
            _metrics.RecordFailure(_time.GetUtcNow() - startedAt, dryRun, _store.Description, e is OperationCanceledException ? "stopped" : "failed");
            throw;
        }

        _metrics.Record(result);
        return result;
    }

    private async Task<GcResult> ExecuteCoreAsync(CollectionPlan plan, GcOptions options, DateTimeOffset startedAt, RunStop stop, PlanApplication? application = null)
    {
        stop.CheckDeadline(); // a deadline passed while planning deletes nothing: the sweep stops before its first item
        // a store several collectors sweep at once: this run claims each blob before deleting it, on a session of its own
        await using var claims = _store is ISharedSweepStore shared ? await shared.BeginClaimsAsync(CancellationToken.None).ConfigureAwait(false) : null;
        var executor = new PlanExecutor(_store, _logger, options.Progress, _metrics.ForSweep(plan.Store), claims);
        if (application is not null)
        {
            executor.Keep(application); // what the saved plan lists and the live store no longer justifies
        }

        var deferred = _store as IDeferredSweepStore;
        bool completed;
        var stoppedWhile = GcPhase.Sweeping;
        try
        {
            completed = await executor.ExecuteAsync(plan, options.Workers, stop.Token).ConfigureAwait(false);
            if (deferred is not null && completed)
            {
                // what the sweep made invisible is deleted only now, after the grace period and a re-read of the store
                stoppedWhile = GcPhase.Settling;
                var settlement = await deferred.SettleAsync(executor, options.Progress, stop.Token).ConfigureAwait(false);
                executor.Apply(settlement, plan);
                completed = !settlement.Stopped;
                Log.Settled(_logger, settlement.DeletedArtifacts.Count, settlement.DeletedBlobs.Count, settlement.DeletedLayerLinks,
                    settlement.RestoredArtifacts.Count, settlement.RestoredBlobs.Count, settlement.RestoredLayerLinks.Count);
            }
            else if (deferred is not null)
            {
                deferred.Abandon(); // stopped: everything made invisible goes back, nothing was deleted
            }
        }
        catch
        {
            deferred?.Abandon();
            throw;
        }

        var reason = completed ? GcStopReason.None : stop.Reason;
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
            StoppedWhile = completed ? null : stoppedWhile,
            ArtifactsDeleted = executor.ArtifactsDeleted,
            ArtifactsSkipped = executor.SkippedArtifacts,
            BlobsDeleted = executor.BlobsDeleted,
            BlobsSkipped = executor.SkippedBlobs,
            BlobsFailed = executor.FailedBlobs,
            ArtifactsFailed = executor.FailedArtifacts,
            LayerLinksFailed = executor.FailedLayerLinks,
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
        var (graph, marks, now) = await MarkAsync(options, null, cancellationToken).ConfigureAwait(false);
        return WithHarbor(Explainer.Explain(graph, marks, digest, repository), graph, marks, now, options, cancellationToken);
    }

    /// <summary>
    /// Explains a reference as <c>harbor-gc explain</c> takes it: a digest (<c>sha256:…</c>); a unique prefix of one of at least
    /// <see cref="MinimumDigestPrefix"/> hex digits, with or without its algorithm (<c>sha256:6d0c74</c>, <c>6d0c74</c>), matched
    /// against the store's manifests and stored blobs; <c>repository:tag</c>; or <c>repository@digest</c> (a prefix too).
    /// </summary>
    /// <param name="reference">The reference.</param>
    /// <param name="repository">Limits a manifest digest to one repository; all repositories when null.</param>
    /// <param name="options">The options a run would use.</param>
    /// <param name="cancellationToken">Stops the snapshot read.</param>
    /// <returns>The explanation.</returns>
    /// <exception cref="UnresolvedReferenceException">The reference is malformed, names nothing in the store, or is an ambiguous prefix (its matches listed).</exception>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every bad value.</exception>
    public async Task<GcExplanation> ExplainAsync(string reference, RepositoryName? repository, GcOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var (inRepository, target) = Explainer.ParseReference(reference, repository);
        var (graph, marks, now) = await MarkAsync(options, null, cancellationToken).ConfigureAwait(false);
        var digest = Explainer.Resolve(graph, reference, inRepository, target);
        return WithHarbor(Explainer.Explain(graph, marks, digest, inRepository), graph, marks, now, options, cancellationToken);
    }

    /// <summary>On a Harbor installation, adds to each entry what Harbor's own GC would do differently about it (the plan's differences).</summary>
    private GcExplanation WithHarbor(GcExplanation explanation, RegistryGraph graph, MarkResult marks, DateTimeOffset now, GcOptions options, CancellationToken cancellationToken)
    {
        if (_store is not IHarborInstallation { Facts: { } facts } || !explanation.Found)
        {
            return explanation;
        }

        var plan = Planner.Plan(graph, marks, _store.Description, now, options.DeleteUntagged, options.TimeWindow, cancellationToken);
        var differences = HarborComparison.Compare(graph, marks, () => Marker.Mark(graph, true, now.UtcTicks, cancellationToken), plan, facts)
            .GroupBy(d => d.Item, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => string.Join("; ", g.Select(d => d.Harbor)), StringComparer.Ordinal);
        return explanation with
        {
            Entries = [.. explanation.Entries.Select(e =>
                differences.TryGetValue(e.Subject.StartsWith("blob ", StringComparison.Ordinal) ? e.Subject[5..] : e.Subject, out var harbor) ? e with { Harbor = harbor } : e)],
        };
    }

    /// <summary>The fewest hex digits a digest prefix must have: 6.</summary>
    public const int MinimumDigestPrefix = Explainer.MinimumPrefix;

    private async Task<(RegistryGraph Graph, MarkResult Marks, DateTimeOffset Now)> MarkAsync(GcOptions options, Action<GcPhase>? enter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        enter?.Invoke(GcPhase.ReadingStore);
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

        enter?.Invoke(GcPhase.Marking);
        progress?.Report(new GcProgress(GcPhase.Marking, 0, 1));
        var graph = builder.Build(cancellationToken);
        var cutoff = (now - options.TimeWindow).UtcTicks;
        var marks = Marker.Mark(graph, options.DeleteUntagged, cutoff, cancellationToken);
        progress?.Report(new GcProgress(GcPhase.Marking, 1, 1));
        return (graph, marks, now);
    }
}
