using System.Globalization;

namespace Harbor.Gc.Runner.Commands;

/// <summary>Durations as the command line writes them (DESIGN.md §9): <c>0</c>, <c>90s</c>, <c>30m</c>, <c>2h</c>, <c>7d</c>.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string option, string text)
    {
        if (text == "0")
        {
            return TimeSpan.Zero;
        }

        if (text.Length >= 2 && long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 100_000)
        {
            switch (text[^1])
            {
                case 's': return TimeSpan.FromSeconds(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'd': return TimeSpan.FromDays(n);
            }
        }

        throw new UsageException($"{option}: '{text}' is not a duration; write 0, or a whole number followed by s, m, h or d (90s, 30m, 2h, 7d).");
    }
}
