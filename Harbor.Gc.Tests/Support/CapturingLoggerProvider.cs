using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Tests.Support;

/// <summary>A logger provider that keeps every message written through it, with its category and event id.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>Waits (real time, polling) until a message satisfies <paramref name="match"/>; fails after <paramref name="timeout"/>.</summary>
    public async Task<Entry> WaitFor(Func<Entry, bool> match, TimeSpan timeout)
    {
        var until = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            if (Entries.FirstOrDefault(match) is { } entry)
            {
                return entry;
            }

            if (Environment.TickCount64 > until)
            {
                throw new TimeoutException($"No such log message within {timeout}; got: {string.Join(" | ", Entries.Select(e => e.Message))}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }
    }

    internal sealed record Entry(string Category, EventId EventId, LogLevel Level, string Message, Exception? Exception);

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(category, eventId, logLevel, formatter(state, exception), exception));
    }
}
