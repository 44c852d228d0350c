using System.Globalization;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// The progress of a run as one line on stderr, rewritten in place (<c>\r</c>) at most ten times a second and at each phase's
/// start and end (DESIGN.md §9). Only on a terminal: nothing when stderr is redirected or with <c>--quiet</c>.
/// </summary>
internal sealed class ProgressLine(TextWriter writer, TimeProvider time) : IProgress<GcProgress>
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly Lock _lock = new();
    private GcPhase? _phase;
    private long _lastWrite = long.MinValue;
    private int _width;

    /// <summary>A progress line on <paramref name="stderr"/> when it is the console's stderr and a terminal, and not quiet; else null.</summary>
    public static ProgressLine? ForConsole(TextWriter stderr, bool quiet, TimeProvider time) =>
        !quiet && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected ? new ProgressLine(stderr, time) : null;

    public void Report(GcProgress value)
    {
        lock (_lock)
        {
            var now = time.GetTimestamp();
            var edge = value.Phase != _phase || value.Done == 0 || value.Done == value.Total;
            if (!edge && time.GetElapsedTime(_lastWrite, now) < Interval)
            {
                return;
            }

            _phase = value.Phase;
            _lastWrite = now;
            var text = Describe(value);
            writer.Write("\r" + text.PadRight(_width));
            writer.Flush();
            _width = text.Length;
        }
    }

    /// <summary>Erases the line, so what follows starts on a clean one.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            if (_width > 0)
            {
                writer.Write("\r" + new string(' ', _width) + "\r");
                writer.Flush();
                _width = 0;
            }
        }
    }

    internal static string Describe(GcProgress p)
    {
        var name = p.Phase.Describe();
        var inv = CultureInfo.InvariantCulture;
        return p.Total switch
        {
            null => string.Create(inv, $"{name}: {p.Done:N0} items"),
            1 => p.Done == 0 ? $"{name}…" : $"{name}: done",
            { } total => string.Create(inv, $"{name}: {p.Done:N0} of {total:N0} ({(total == 0 ? 100 : p.Done * 100 / total)}%)"),
        };
    }
}
