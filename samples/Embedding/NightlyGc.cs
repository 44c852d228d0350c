using Harbor.Gc.Collection;
using Harbor.Gc.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harbor.Gc.Samples.Embedding;

/// <summary>The sample's registration: Harbor.Gc from the "HarborGc" configuration section, and the nightly GC worker.</summary>
public static class NightlyGcRegistration
{
    /// <summary>Adds Harbor.Gc (store, collector, registry API) and <see cref="NightlyGc"/> to the host.</summary>
    /// <param name="builder">The host builder.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHostApplicationBuilder AddNightlyGc(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHarborGc(builder.Configuration);   // or: AddHarborGc(options => options.Store.UseLiteDb("harbor-gc.db"))
        builder.Services.AddHostedService<NightlyGc>();
        return builder;
    }
}

/// <summary>On start, a GC dry run whose plan is logged; then every night at <see cref="RunAt"/> (UTC), a dry run and a real run of its plan.</summary>
/// <param name="collector">The collector over the configured store.</param>
/// <param name="options">The configured GC defaults.</param>
/// <param name="time">The host's clock.</param>
/// <param name="logger">The worker's logger.</param>
public sealed partial class NightlyGc(GarbageCollector collector, IOptions<HarborGcOptions> options, TimeProvider time, ILogger<NightlyGc> logger)
    : BackgroundService
{
    /// <summary>The time of day of a run, UTC.</summary>
    public static readonly TimeSpan RunAt = TimeSpan.FromHours(3);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // on start, a dry run: the log shows at once what the store holds and what tonight's run would delete
            var onStart = options.Value.Gc.Clone();
            onStart.DryRun = true;
            var plan = (await collector.RunAsync(onStart, stoppingToken).ConfigureAwait(false)).Plan;
            LogPlannedOnStart(logger, plan.Artifacts.Count, plan.Blobs.Count, plan.Summary.Bytes);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailedOnStart(logger, e); // the nightly runs go on
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var next = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero) + RunAt;
            next = next > now ? next : next.AddDays(1);
            LogNextRun(logger, next);
            await Task.Delay(next - now, time, stoppingToken).ConfigureAwait(false);
            try
            {
                // the dry run is the plan a real run executes: review it in the log
                var dryRun = options.Value.Gc.Clone();
                dryRun.DryRun = true;
                var plan = (await collector.RunAsync(dryRun, stoppingToken).ConfigureAwait(false)).Plan;
                LogPlanned(logger, plan.Artifacts.Count, plan.Blobs.Count, plan.Summary.Bytes);

                // the real run applies that plan: it plans again on the live store and deletes what both plans list, unchanged
                // since, each item re-checked as it goes (pushes go on meanwhile)
                var result = await collector.ExecuteAsync(plan, options.Value.Gc, stoppingToken).ConfigureAwait(false);
                LogCollected(logger, result.Outcome, result.ArtifactsDeleted, result.BlobsDeleted, result.BytesFreed);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e); // the next night's run carries on where this one stopped
            }
        }
    }

    [LoggerMessage(EventId = 0, Level = LogLevel.Information, Message = "Nightly GC: next run at {NextRun:u}")]
    private static partial void LogNextRun(ILogger logger, DateTimeOffset nextRun);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Nightly GC dry run: {Artifacts} artifacts and {Blobs} blobs to delete, {Bytes} bytes")]
    private static partial void LogPlanned(ILogger logger, int artifacts, int blobs, long bytes);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Nightly GC {Outcome}: deleted {Artifacts} artifacts and {Blobs} blobs, freed {Bytes} bytes")]
    private static partial void LogCollected(ILogger logger, GcOutcome outcome, int artifacts, int blobs, long bytes);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "GC dry run on start: {Artifacts} artifacts and {Blobs} blobs to delete, {Bytes} bytes")]
    private static partial void LogPlannedOnStart(ILogger logger, int artifacts, int blobs, long bytes);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "GC dry run on start failed")]
    private static partial void LogFailedOnStart(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Nightly GC failed; it runs again tomorrow")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
