using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>
/// The scheduler: one loop per job waits (on the injected clock) for the job's next cron occurrence and starts a run through
/// the <see cref="JobRunner"/>, without waiting for it, so an occurrence during a long run is recorded as skipped. On stop,
/// the runs in progress are cancelled (each stops after the item in hand) and awaited.
/// </summary>
internal sealed class DaemonService(DaemonConfig config, JobRunner runner, TimeProvider time, ILogger<DaemonService> logger) : BackgroundService
{
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.DaemonStarted(logger, config.Jobs.Count, config.HistoryPath);
        await Task.WhenAll(config.Jobs.Select(job => ScheduleAsync(job, stoppingToken))).ConfigureAwait(false);
    }

    private async Task ScheduleAsync(DaemonJob job, CancellationToken stoppingToken)
    {
        var runs = new List<Task>();
        var from = time.GetUtcNow();
        try
        {
            while (job.Schedule.GetNextOccurrence(from, config.TimeZone) is { } next)
            {
                Log.NextRun(logger, job.Name, next);
                for (var wait = next - time.GetUtcNow(); wait > TimeSpan.Zero; wait = next - time.GetUtcNow())
                {
                    await Task.Delay(wait < LongestWait ? wait : LongestWait, time, stoppingToken).ConfigureAwait(false);
                }

                from = next;
                var now = time.GetUtcNow();
                if (now - next > TimeSpan.FromMinutes(1))
                {
                    Log.Missed(logger, job.Name, next);
                    from = now;
                    continue;
                }

                runs.RemoveAll(r => r.IsCompleted);
                runs.Add(Task.Run(() => runner.RunAsync(job, RunTrigger.Schedule, stoppingToken), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            if (runs.Any(r => !r.IsCompleted))
            {
                Log.Stopping(logger);
            }
        }

        await Task.WhenAll(runs).ConfigureAwait(false);
    }
}
