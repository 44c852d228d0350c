using System.Collections;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Harbor.Gc.Runner.Daemon;

/// <summary>The logging options of <c>daemon</c>, <c>daemon run-now</c>, <c>gc</c> and <c>retention run</c>: <c>--log-format</c> and <c>--log-level</c>, unset when null.</summary>
/// <param name="Format">A console formatter's name: <c>simple</c>, <c>json</c> or <c>systemd</c>.</param>
/// <param name="Level">A <see cref="LogLevel"/>'s name.</param>
internal sealed record LogOptions(string? Format, string? Level)
{
    /// <summary>The console formatters of Microsoft.Extensions.Logging.Console, by name.</summary>
    public static readonly string[] Formats = [ConsoleFormatterNames.Simple, ConsoleFormatterNames.Json, ConsoleFormatterNames.Systemd];

    /// <summary>The level names, as <c>--log-level</c> and the configuration take them (case-insensitive).</summary>
    public static readonly string[] Levels = ["trace", "debug", "information", "warning", "error", "critical", "none"];
}

/// <summary>
/// How <c>daemon</c> and <c>daemon run-now</c> log (DESIGN.md §9): the standard console formatters of
/// Microsoft.Extensions.Logging (<c>simple</c>, on one line with a UTC timestamp unless configured otherwise; <c>json</c>;
/// <c>systemd</c>) writing to stderr, configured the .NET way: the <c>Logging</c> section of the configuration read from the
/// environment (<c>Logging__LogLevel__Default</c>, <c>Logging__Console__FormatterName</c>, and the same with the
/// <c>HARBOR_GC_</c> prefix), then <c>HARBOR_GC_LOG_LEVEL</c> and <c>HARBOR_GC_LOG_FORMAT</c>, then the command's
/// <c>--log-level</c> and <c>--log-format</c> (the later wins). Whatever the level, each run's own log lines (information and
/// above) still go into its history record (<see cref="RunLogProvider"/>).
/// </summary>
internal static class RunnerLogging
{
    /// <summary>The environment variables' prefix for harbor-gc's own host configuration.</summary>
    public const string EnvironmentPrefix = "HARBOR_GC_";

    private const string LevelKey = "Logging:LogLevel:Default";
    private const string FormatKey = "Logging:Console:FormatterName";

    /// <summary>Adds the configuration sources, in order of precedence (the last wins); checks the level and format they set.</summary>
    /// <exception cref="UsageException">A level or format, from an option or the environment, is not one (exit code 2).</exception>
    public static void AddSources(IConfigurationBuilder configuration, LogOptions options, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        configuration.AddEnvironmentVariables();
        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        var own = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (environment[EnvironmentPrefix + "LOG_LEVEL"] is string level)
        {
            own[LevelKey] = level;
        }

        if (environment[EnvironmentPrefix + "LOG_FORMAT"] is string format)
        {
            own[FormatKey] = format;
        }

        if (options.Level is not null)
        {
            own[LevelKey] = options.Level;
        }

        if (options.Format is not null)
        {
            own[FormatKey] = options.Format;
        }

        configuration.AddInMemoryCollection(own);
        Check(configuration.Build(), options);
    }

    /// <summary>
    /// Logs to <paramref name="stderr"/> through the configured console formatter, and each run's lines into its history record.
    /// </summary>
    public static void Configure(ILoggingBuilder logging, IConfiguration configuration, TextWriter stderr, TimeProvider time)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddConfiguration(configuration.GetSection("Logging"));

        // defaults for a daemon's log (one line per entry, UTC timestamps); the configuration's FormatterOptions still win
        logging.Services.Configure<SimpleConsoleFormatterOptions>(o => (o.SingleLine, o.TimestampFormat, o.UseUtcTimestamp) = (true, "yyyy-MM-ddTHH:mm:ssZ ", true));
        logging.Services.Configure<JsonConsoleFormatterOptions>(o => (o.TimestampFormat, o.UseUtcTimestamp) = ("yyyy-MM-ddTHH:mm:ssZ", true));
        logging.AddConsole(); // the formatters and their options; its provider (the process's console) is replaced by one on stderr
        foreach (var console in logging.Services.Where(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider)).ToList())
        {
            logging.Services.Remove(console);
        }

        logging.Services.AddSingleton<ILoggerProvider>(sp => new FormattedLogProvider(
            stderr, sp.GetServices<ConsoleFormatter>(), sp.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>()));

        // the run log of the history keeps information and above, whatever the console's level
        logging.AddProvider(new RunLogProvider(null, time));
        logging.AddFilter<RunLogProvider>(null, LogLevel.Information);
    }

    /// <summary>A logger factory configured as the daemon's, for <c>daemon run-now</c>.</summary>
    public static ILoggerFactory CreateFactory(LogOptions options, TextWriter stderr, TimeProvider time, IDictionary? environment = null)
    {
        var configuration = new ConfigurationBuilder();
        AddSources(configuration, options, environment);
        var built = configuration.Build();
        return LoggerFactory.Create(logging => Configure(logging, built, stderr, time));
    }

    /// <summary>
    /// The console log of <c>gc</c> and <c>retention run</c>: the daemon's, when <c>--log-format</c>, <c>--log-level</c>,
    /// <c>HARBOR_GC_LOG_FORMAT</c> or <c>HARBOR_GC_LOG_LEVEL</c> asks for one; otherwise null (the summary is their output).
    /// </summary>
    /// <exception cref="UsageException">A level or format is not one (exit code 2).</exception>
    public static ILoggerFactory? ForCommand(LogOptions options, TextWriter stderr, TimeProvider time, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var asked = options.Format is not null || options.Level is not null
            || environment[EnvironmentPrefix + "LOG_LEVEL"] is string || environment[EnvironmentPrefix + "LOG_FORMAT"] is string;
        return asked ? CreateFactory(options, stderr, time, environment) : null;
    }

    private static void Check(IConfiguration configuration, LogOptions options)
    {
        if (configuration[LevelKey] is { } level && !LogOptions.Levels.Contains(level, StringComparer.OrdinalIgnoreCase))
        {
            throw new UsageException($"{Source(options.Level, "--log-level", "LOG_LEVEL", "Logging__LogLevel__Default")}: '{level}' is not a log level; write one of {string.Join(", ", LogOptions.Levels)}.");
        }

        if (configuration[FormatKey] is { } format && !LogOptions.Formats.Contains(format, StringComparer.Ordinal))
        {
            throw new UsageException($"{Source(options.Format, "--log-format", "LOG_FORMAT", "Logging__Console__FormatterName")}: '{format}' is not a log format; write one of {string.Join(", ", LogOptions.Formats)}.");
        }
    }

    private static string Source(string? option, string name, string own, string variable) =>
        option is not null ? name : $"the environment ({EnvironmentPrefix}{own}, {variable} or {EnvironmentPrefix}{variable})";

    /// <summary>
    /// A console logger on a writer of our choosing (stderr, as the command's): each entry formatted by the configured standard
    /// <see cref="ConsoleFormatter"/> and written whole, under the writer's lock.
    /// </summary>
    [ProviderAlias("Console")] // Logging:Console:LogLevel applies to it, as to the console logger it stands for
    private sealed class FormattedLogProvider(TextWriter writer, IEnumerable<ConsoleFormatter> formatters, IOptionsMonitor<ConsoleLoggerOptions> options) : ILoggerProvider, ISupportExternalScope
    {
        private readonly TextWriter _writer = writer;
        private readonly Dictionary<string, ConsoleFormatter> _formatters = formatters.ToDictionary(f => f.Name, StringComparer.Ordinal);
        private IExternalScopeProvider? _scopes;

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private ConsoleFormatter Formatter =>
            _formatters.TryGetValue(options.CurrentValue.FormatterName ?? ConsoleFormatterNames.Simple, out var f) ? f : _formatters[ConsoleFormatterNames.Simple];

        private sealed class Logger(FormattedLogProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => provider._scopes?.Push(state) ?? NullScope.Instance;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                using var text = new StringWriter();
                provider.Formatter.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), provider._scopes, text);
                var entry = text.ToString();
                if (entry.Length == 0)
                {
                    return;
                }

                lock (provider._writer) // the writer itself: a test reading it takes the same lock
                {
                    provider._writer.Write(entry);
                    provider._writer.Flush();
                }
            }
        }

        private sealed class NullScope : IDisposable
        {
            public static readonly NullScope Instance = new();

            public void Dispose()
            {
            }
        }
    }
}
