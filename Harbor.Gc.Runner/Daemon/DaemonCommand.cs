using System.CommandLine;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage.LiteDb;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>
/// <c>harbor-gc daemon --config FILE</c> (DESIGN.md §9): the configured jobs on their cron schedules, on the generic host, until
/// SIGTERM, SIGINT (Ctrl-C) or SIGQUIT; the runs in progress then stop after the item in hand, are recorded as stopped, and the
/// daemon exits 0. The signals are handled by <see cref="StopSignals"/>, as for every command (a second one ends the process at
/// once): the host's own console lifetime, which would handle them too, is replaced by <see cref="SignalledLifetime"/>.
/// </summary>
internal static class DaemonCommand
{
    public const string Notes = """
        LEVEL = trace, debug, information (the default), warning, error, critical or none; also settable by the environment:
                HARBOR_GC_LOG_LEVEL, HARBOR_GC_LOG_FORMAT, Logging__LogLevel__Default, Logging__Console__FormatterName
        """;

    public static Command Create(CommandContext context)
    {
        // the daemon's options are run-now's too (recursive): one definition, the same description and checks for both
        var config = Cli.FileOption("--config", "The daemon's configuration (JSON): jobs, schedules, history, metrics (README: \"The daemon\")");
        var (logFormat, logLevel) = Cli.LogFormatAndLevel();
        config.Recursive = logFormat.Recursive = logLevel.Recursive = true;
        var job = new Argument<string>("JOB") { Description = "The name of a job of the configuration" };
        var runNow = new Command("run-now", "Run a configured job once, now, in this process, recorded in the history as the daemon records a run (trigger manual)")
        {
            job,
        };
        runNow.SetAction((p, _) => RunNowAsync(
            p.GetValue(job)!, p.GetValue(config) ?? throw new UsageException("daemon run-now: give the configuration file (--config FILE)."),
            new LogOptions(p.GetValue(logFormat), p.GetValue(logLevel)), context.Stderr, context.Time, context.Stop.Token));
        runNow.WithNotes(Notes);
        var command = new Command("daemon", "Run the configured GC and retention jobs on their cron schedules, keeping a run history")
        {
            config, logFormat, logLevel, runNow,
        };
        command.SetAction((p, _) => RunAsync(
            p.GetValue(config) ?? throw new UsageException("daemon: give the configuration file (--config FILE)."),
            new LogOptions(p.GetValue(logFormat), p.GetValue(logLevel)), context));
        return command.WithNotes(Notes);
    }

    /// <summary>How long the host waits for the runs in progress to stop after the item in hand.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromMinutes(5);

    private static async Task<int> RunAsync(string file, LogOptions logOptions, CommandContext context)
    {
        var (_, stderr, time, stop) = context;
        var cancellationToken = stop.Token;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        RunnerLogging.AddSources(builder.Configuration, logOptions); // checked before the configuration file: bad either way is exit 2
        var config = DaemonConfigReader.Load(file, time);
        using var opened = OpenHistory(config);

        RunnerLogging.Configure(builder.Logging, builder.Configuration, stderr, time);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddSingleton<IHostLifetime, SignalledLifetime>(); // signals are Program's (StopSignals), as in every command
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(opened);
        builder.Services.AddSingleton<IRetentionJob, RetentionJob>();
        builder.Services.AddSingleton(sp => new JobRunner(opened, sp.GetRequiredService<IRetentionJob>(), time, sp.GetRequiredService<ILoggerFactory>(), config.Keep));
        builder.Services.AddHostedService<DaemonService>();
        if (config.Metrics is { } metrics)
        {
            AddMetrics(builder.Services, metrics);
        }

        using var host = builder.Build();
        if (config.Metrics is { Prometheus: { } prometheus })
        {
            try
            {
                host.Services.GetService<MeterProvider>(); // starts the scrape endpoint now: a port that cannot be had is bad input, before any run
            }
            catch (InvalidOperationException e)
            {
                throw new UsageException($"{config.Path}: field 'metrics.prometheus.port': cannot listen on http://{prometheus.Host}:{prometheus.Port}/metrics: {e.InnerException?.Message ?? e.Message}");
            }
        }

        var history = host.Services.GetRequiredService<RunHistory>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger<DaemonService>();
        foreach (var run in history.MarkInterrupted(time.GetUtcNow()))
        {
            Log.Interrupted(logger, run.Id, run.Job);
        }

        // the host stops on a token of its own, cancelled only once "stopping" is logged: with the signal's token the host's own
        // callback could run first (callbacks run in reverse order of registration) and the host end and log "stopped" before it
        using var hostStop = new CancellationTokenSource();
        using var stopping = cancellationToken.Register(() =>
        {
            Log.ShutdownRequested(logger, stop.Signal() ?? "cancellation");
            hostStop.Cancel();
        });
        try
        {
            await host.RunAsync(hostStop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (hostStop.IsCancellationRequested)
        {
            // stopped (Ctrl-C) while the host was starting: nothing was running
        }

        Log.DaemonStopped(logger);
        return ExitCodes.Done;
    }

    /// <summary>
    /// <c>daemon run-now JOB --config FILE</c>: the job, once, now, recorded like a scheduled run (trigger manual), its log on
    /// stderr. A run of another process (the daemon, another run-now) still running that it would overlap makes it a skipped
    /// run. Exit codes as a command's: 0 succeeded, 1 failed or skipped, 3 stopped.
    /// </summary>
    private static async Task<int> RunNowAsync(string name, string file, LogOptions logOptions, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken)
    {
        using var loggers = RunnerLogging.CreateFactory(logOptions, stderr, time);
        var config = DaemonConfigReader.Load(file, time);
        var job = config.Jobs.FirstOrDefault(j => j.Name == name)
            ?? throw new UsageException($"daemon run-now: {file} has no job '{name}' (its jobs: {string.Join(", ", config.Jobs.Select(j => j.Name))}).");
        using var history = OpenHistory(config);
        var runner = new JobRunner(history, new RetentionJob(time), time, loggers, config.Keep);
        var busy = history.Running().FirstOrDefault(r => (r.Kind == "gc" && job.Kind == JobKind.Gc) || r.Store == job.Store);
        var run = busy is not null
            ? runner.Skip(job, RunTrigger.Manual, busy)
            : await runner.RunAsync(job, RunTrigger.Manual, cancellationToken).ConfigureAwait(false);
        return run.Status switch
        {
            RunStatus.Succeeded => ExitCodes.Done,
            RunStatus.Stopped => ExitCodes.Stopped,
            _ => ExitCodes.Failed,
        };
    }

    /// <summary>
    /// Exports the <see cref="GcMetrics.MeterName"/> meter through OpenTelemetry: a Prometheus scrape endpoint
    /// (<c>http://HOST:PORT/metrics</c>) and/or OTLP, as configured.
    /// </summary>
    private static void AddMetrics(IServiceCollection services, MetricsConfig metrics) =>
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("harbor-gc", serviceVersion: typeof(DaemonCommand).Assembly.GetName().Version?.ToString()))
            .WithMetrics(m =>
            {
                m.AddMeter(GcMetrics.MeterName);
                if (metrics.Prometheus is { } prometheus)
                {
                    m.AddPrometheusHttpListener(o => (o.Host, o.Port) = (prometheus.Host, prometheus.Port));
                }

                if (metrics.Otlp is { } otlp)
                {
                    m.AddOtlpExporter((exporter, reader) =>
                    {
                        exporter.Endpoint = otlp.Endpoint;
                        exporter.Protocol = otlp.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)Math.Min(otlp.Interval.TotalMilliseconds, int.MaxValue);
                    });
                }
            });

    private static RunHistory OpenHistory(DaemonConfig config)
    {
        try
        {
            return RunHistory.Open(config.HistoryPath, create: true);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"{config.Path}: history: {e.Message}");
        }
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
