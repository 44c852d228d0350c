using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage.LiteDb;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>
/// <c>harbor-gc daemon --config FILE</c> (DESIGN.md §9): the configured jobs on their cron schedules, on the generic host, until
/// SIGTERM, SIGINT (Ctrl-C) or SIGQUIT; the runs in progress then stop after the item in hand, are recorded as stopped, and the
/// daemon exits 0. The signals are handled by <see cref="StopSignals"/>, as for every command (a second one ends the process at
/// once): the host's own console lifetime, which would handle them too, is replaced by <see cref="SignalledLifetime"/>.
/// </summary>
internal static class DaemonCommand
{
    public const string Usage = """
        harbor-gc daemon --config FILE
          runs the GC and retention jobs FILE configures on their cron schedules, keeping a run history (README: "The daemon")
        """;

    /// <summary>How long the host waits for the runs in progress to stop after the item in hand.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromMinutes(5);

    public static async Task<int> RunAsync(string[] args, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken)
    {
        var file = args switch
        {
            ["--config", var path] => path,
            _ => throw new UsageException($"daemon: give the configuration file.\n{Usage}"),
        };
        var config = DaemonConfigReader.Load(file, time);
        RunHistory opened;
        try
        {
            opened = RunHistory.Open(config.HistoryPath, create: true);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"{file}: history: {e.Message}");
        }

        using var ownedHistory = opened;

        var provider = new RunLogProvider(stderr, time);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        builder.Logging.ClearProviders().AddProvider(provider).SetMinimumLevel(LogLevel.Information);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddSingleton<IHostLifetime, SignalledLifetime>(); // signals are Program's (StopSignals), as in every command
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(opened);
        builder.Services.AddSingleton<IRetentionJob, RetentionJob>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddHostedService<DaemonService>();
        using var host = builder.Build();

        var history = host.Services.GetRequiredService<RunHistory>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger<DaemonService>();
        foreach (var run in history.MarkInterrupted(time.GetUtcNow()))
        {
            Log.Interrupted(logger, run.Id, run.Job);
        }

        try
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopped (Ctrl-C) while the host was starting: nothing was running
        }

        return ExitCodes.Done;
    }
}

/// <summary>
/// The host's lifetime when the process's signals are <see cref="StopSignals"/>'s: the host stops when the token given to
/// <c>RunAsync</c> is cancelled, and registers no signal handler of its own (the console lifetime's would keep a second signal from
/// ending the process).
/// </summary>
internal sealed class SignalledLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
