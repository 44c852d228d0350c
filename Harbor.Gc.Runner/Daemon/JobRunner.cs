using Harbor.Gc.Collection;
using Harbor.Gc.Reporting;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>
/// Runs jobs and records them in the history: a run that would overlap a run in progress (<see cref="DaemonJob.Overlaps"/>) is
/// not started but recorded as skipped, naming the run it overlapped. Cancellation stops a run after the item in hand (the run
/// is recorded as stopped). After each run, the history is pruned to what <paramref name="keep"/> keeps.
/// </summary>
internal sealed class JobRunner(RunHistory history, IRetentionJob retention, TimeProvider time, ILoggerFactory loggers, HistoryKeep? keep = null)
{
    private readonly Lock _gate = new();
    private readonly List<(DaemonJob Job, int RunId)> _active = [];
    private readonly ILogger _logger = loggers.CreateLogger<JobRunner>();

    /// <summary>Runs <paramref name="job"/> now, unless it would overlap a run in progress.</summary>
    /// <returns>The run as recorded.</returns>
    public async Task<RunRecord> RunAsync(DaemonJob job, RunTrigger trigger, CancellationToken cancellationToken)
    {
        var run = new RunRecord
        {
            Job = job.Name, Kind = job.KindName, Trigger = trigger, Store = job.Store, Options = job.Options(), DryRun = job.DryRun,
            StartedAt = time.GetUtcNow(), Status = RunStatus.Running,
        };
        lock (_gate)
        {
            var conflict = _active.FirstOrDefault(a => a.Job.Overlaps(job));
            if (conflict.Job is not null)
            {
                run.Status = RunStatus.Skipped;
                run.FinishedAt = run.StartedAt;
                run.Message = $"skipped: it would overlap run {conflict.RunId} (job '{conflict.Job.Name}', {conflict.Job.KindName} on {conflict.Job.Store})";
                history.Add(run);
                Log.Skipped(_logger, job.Name, run.Id, conflict.RunId, conflict.Job.Name);
            }
            else
            {
                history.Add(run);
                _active.Add((job, run.Id));
            }
        }

        if (run.Status == RunStatus.Skipped)
        {
            Prune();
            return run;
        }

        var log = new RunLog();
        RunLogProvider.Current = log; // this async flow's lines go into the run's log
        (string Json, HtmlReport? Html)? report = null;
        try
        {
            Log.Started(_logger, job.Name, run.Id, job.KindName, job.Store);
            report = job.Kind == JobKind.Gc
                ? await RunGcAsync(job, run, cancellationToken).ConfigureAwait(false)
                : await RunRetentionAsync(job, run, cancellationToken).ConfigureAwait(false);
            if (report is { } written && job.ReportJson is { } path)
            {
                await File.WriteAllTextAsync(ReportFile(path, run), written.Json, CancellationToken.None).ConfigureAwait(false);
            }

            if (report is { Html: { } html } && job.ReportHtml is { } htmlPath)
            {
                await File.WriteAllTextAsync(ReportFile(htmlPath, run), HtmlReportWriter.ToHtml(html), CancellationToken.None).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // a job's failure is recorded; the daemon keeps running
        catch (Exception e)
#pragma warning restore CA1031
        {
            GcRunRecording.Fail(run, e, time.GetUtcNow());
        }
        finally
        {
            run.FinishedAt ??= time.GetUtcNow();
            Log.Finished(_logger, job.Name, run.Id, run.Status.ToString().ToLowerInvariant(), run.Message is null ? "" : ": " + run.Message, run.Artifacts, run.Blobs, run.Bytes);
            run.Log = log.Lines();
            lock (_gate)
            {
                _active.RemoveAll(a => a.RunId == run.Id);
            }

            history.Update(run, report?.Json); // after leaving the active runs: a run recorded finished no longer blocks others

            RunLogProvider.Current = null;
            Prune();
        }

        return run;
    }

    /// <summary>
    /// Records <paramref name="job"/> as skipped because it would overlap <paramref name="other"/>, a run in progress that another
    /// process recorded (<c>daemon run-now</c> while the daemon, or another run-now, runs).
    /// </summary>
    public RunRecord Skip(DaemonJob job, RunTrigger trigger, RunRecord other)
    {
        var now = time.GetUtcNow();
        var run = new RunRecord
        {
            Job = job.Name, Kind = job.KindName, Trigger = trigger, Store = job.Store, Options = job.Options(), DryRun = job.DryRun,
            StartedAt = now, FinishedAt = now, Status = RunStatus.Skipped,
            Message = $"skipped: it would overlap run {other.Id} (job '{other.Job}', {other.Kind} on {other.Store}), still running",
        };
        history.Add(run);
        Log.Skipped(_logger, job.Name, run.Id, other.Id, other.Job);
        Prune();
        return run;
    }

    /// <summary>Removes what <c>keep</c> does not keep, if set; a failure to prune is logged, never the run's failure.</summary>
    private void Prune()
    {
        if (keep is null)
        {
            return;
        }

        try
        {
            var removed = history.Prune(keep, time.GetUtcNow());
            if (removed > 0)
            {
                Log.Pruned(_logger, removed, keep.ToString());
            }
        }
#pragma warning disable CA1031 // pruning is housekeeping: the next run tries again
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.PruneFailed(_logger, e.Message);
        }
    }

    /// <summary>A report path with <c>{id}</c> replaced by the run id.</summary>
    private static string ReportFile(string path, RunRecord run) =>
        path.Replace("{id}", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private async Task<(string Json, HtmlReport? Html)> RunGcAsync(DaemonJob job, RunRecord run, CancellationToken cancellationToken)
    {
        var options = job.Gc.Clone();
        options.StartedAt = run.StartedAt; // the maximum duration counts from the run's start, opening the store included
        var result = await StoreSpec.UseAsync(job.Store, time, readOnly: job.DryRun, s => new GarbageCollector(s, time, loggers.CreateLogger<GarbageCollector>()).RunAsync(options, cancellationToken), job.GracePeriod).ConfigureAwait(false);
        return (GcRunRecording.Finish(run, result), job.ReportHtml is null ? null : HtmlReport.FromGc(result));
    }

    private async Task<(string Json, HtmlReport? Html)> RunRetentionAsync(DaemonJob job, RunRecord run, CancellationToken cancellationToken)
    {
        var result = await retention.RunAsync(job, cancellationToken).ConfigureAwait(false);
        (run.Status, run.Message, run.Artifacts, run.DryRun) = (result.Stopped ? RunStatus.Stopped : RunStatus.Succeeded, result.Message, result.ArtifactsDeleted, result.DryRun);
        run.FinishedAt = time.GetUtcNow();
        return (result.ReportJson, result.Html);
    }
}
