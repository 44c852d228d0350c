using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Runner.History;

/// <summary>The log lines of one run, kept for the history.</summary>
internal sealed class RunLog
{
    private readonly List<string> _lines = [];

    /// <summary>Adds a line.</summary>
    public void Add(string line)
    {
        lock (_lines)
        {
            _lines.Add(line);
        }
    }

    /// <summary>The lines so far.</summary>
    public List<string> Lines()
    {
        lock (_lines)
        {
            return [.. _lines];
        }
    }
}

/// <summary>
/// The runner's logger provider: every line goes to the console writer (when there is one) and to the log of the run in hand,
/// <see cref="Current"/>, which flows with the run's async calls, so concurrent runs keep their lines apart.
/// </summary>
internal sealed class RunLogProvider(TextWriter? console, TimeProvider time, LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    private static readonly AsyncLocal<RunLog?> s_current = new();

    /// <summary>The log of the run this async flow works on, if any.</summary>
    public static RunLog? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void Dispose()
    {
    }

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        var line = string.Create(CultureInfo.InvariantCulture, $"{time.GetUtcNow():yyyy-MM-ddTHH:mm:ssZ} {Level(level)} {category}: {message}");
        if (exception is not null)
        {
            line += $" ({exception.GetType().Name}: {exception.Message})";
        }

        Current?.Add(line);
        if (console is not null)
        {
            lock (console) // the writer itself: a test reading it takes the same lock
            {
                console.WriteLine(line);
                console.Flush();
            }
        }
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        _ => "crit",
    };

    private sealed class Logger(RunLogProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= provider.Minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(logLevel, category, formatter(state, exception), exception);
            }
        }

    }

    private LogLevel Minimum => minimum;
}
