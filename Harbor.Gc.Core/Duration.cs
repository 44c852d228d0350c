using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Harbor.Gc;

/// <summary>
/// The one way Harbor.Gc writes and reads a duration (DESIGN.md §9): the command line, the daemon configuration, the JSON report
/// and the embedding options all use it.
/// </summary>
/// <remarks>
/// <para>A duration is either <c>0</c>, or whole numbers each followed by a unit <c>d</c>, <c>h</c>, <c>m</c>, <c>s</c> or <c>ms</c>,
/// each unit at most once and in that order (<c>2h30m</c>, <c>1d12h</c>, <c>90s</c>, <c>36h</c>, <c>500ms</c>); or
/// <c>[d.]hh:mm:ss[.fffffff]</c> (<c>02:30:00</c>, <c>1.12:00:00</c>), the form of <see cref="TimeSpan"/>'s <c>"c"</c> format
/// without a sign. Nothing negative, no spaces, units in lower case.</para>
/// <para><see cref="Format"/> writes the shortest unit form (<c>2h30m</c>, <c>1m</c>, <c>0s</c>), or the <c>hh:mm:ss.fffffff</c>
/// form for a duration finer than a millisecond; <see cref="TryParse"/> reads back all it writes.</para>
/// </remarks>
public static class Duration
{
    /// <summary>The grammar, in words, for error messages.</summary>
    public const string Grammar = "write 0, or whole numbers each followed by d, h, m, s or ms, largest unit first (2h30m, 90s, 7d), or [d.]hh:mm:ss (02:30:00)";

    /// <summary>Reads a duration.</summary>
    /// <param name="text">The text.</param>
    /// <param name="value">The duration read, or zero.</param>
    /// <returns>Whether <paramref name="text"/> is a duration of this grammar (and fits a <see cref="TimeSpan"/>).</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (text == "0")
        {
            return true;
        }

        try
        {
            return text.Contains(':', StringComparison.Ordinal) ? TryParseClock(text, out value) : TryParseUnits(text, out value);
        }
        catch (OverflowException)
        {
            value = TimeSpan.Zero;
            return false;
        }
    }

    /// <summary>Reads a duration; an error names <paramref name="name"/> (an option or a configuration key) and the text, and gives the grammar.</summary>
    /// <param name="name">What is being read, for the message: <c>--time-window</c>, <c>HarborGc:Gc:TimeWindow</c>.</param>
    /// <param name="text">The text.</param>
    /// <returns>The duration.</returns>
    /// <exception cref="FormatException"><paramref name="text"/> is not a duration.</exception>
    public static TimeSpan Parse(string name, string? text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"{name}: {Problem(text)}");

    /// <summary>What is wrong with <paramref name="text"/>, for a message that names the place itself: <c>'2x' is not a duration; write …</c>.</summary>
    /// <param name="text">Text that <see cref="TryParse"/> refused.</param>
    /// <returns>The sentence.</returns>
    public static string Problem(string? text) => $"'{text}' is not a duration; {Grammar}.";

    /// <summary>Writes <paramref name="value"/> in the shortest unit form: <c>2h30m</c>, <c>1d</c>, <c>90s</c> is <c>1m30s</c>, zero is <c>0s</c>.</summary>
    /// <param name="value">A duration of 0 or more.</param>
    /// <returns>The text, which <see cref="TryParse"/> reads back to <paramref name="value"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    public static string Format(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        if (value.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            return value.ToString("c", CultureInfo.InvariantCulture);
        }

        var text = new System.Text.StringBuilder();
        Append(text, value.Days, "d");
        Append(text, value.Hours, "h");
        Append(text, value.Minutes, "m");
        Append(text, value.Seconds, "s");
        Append(text, value.Milliseconds, "ms");
        return text.ToString();

        static void Append(System.Text.StringBuilder text, int n, string unit)
        {
            if (n != 0)
            {
                text.Append(n.ToString(CultureInfo.InvariantCulture)).Append(unit);
            }
        }
    }

    private static bool TryParseUnits(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        long ticks = 0;
        var lastRank = -1;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (i == start || i == text.Length || i - start > 18)
            {
                return false;
            }

            var n = long.Parse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
            (int rank, long unit) = text[i] switch
            {
                'd' => (0, TimeSpan.TicksPerDay),
                'h' => (1, TimeSpan.TicksPerHour),
                'm' when i + 1 < text.Length && text[i + 1] == 's' => (4, TimeSpan.TicksPerMillisecond),
                'm' => (2, TimeSpan.TicksPerMinute),
                's' => (3, TimeSpan.TicksPerSecond),
                _ => (-1, 0),
            };
            if (rank <= lastRank)
            {
                return false;
            }

            i += rank == 4 ? 2 : 1;
            lastRank = rank;
            ticks = checked(ticks + checked(n * unit));
        }

        value = new TimeSpan(ticks);
        return true;
    }

    private static bool TryParseClock(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;

        // [d.]hh:mm:ss[.fffffff]: digits only, no sign; TimeSpan's "c" format reads exactly that (and refuses hh ≥ 24, mm or ss ≥ 60)
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && c != ':' && c != '.')
            {
                return false;
            }
        }

        var colons = text.Count(c => c == ':');
        return colons == 2 && TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out value);
    }
}
