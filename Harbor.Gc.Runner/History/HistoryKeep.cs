using System.Globalization;
using Harbor.Gc.Runner.Commands;

namespace Harbor.Gc.Runner.History;

/// <summary>
/// What history pruning keeps (<c>keep</c> in the daemon's configuration, <c>history prune --keep</c>): the newest
/// <see cref="Count"/> runs, or the runs that started within <see cref="Age"/>. A run still <c>running</c> is always kept.
/// </summary>
/// <param name="Count">Keep the newest this many runs (by id), or null.</param>
/// <param name="Age">Keep the runs that started less than this long ago, or null.</param>
internal sealed record HistoryKeep(int? Count, TimeSpan? Age)
{
    /// <summary>Reads a <c>keep</c> value: a whole number from 1 (a count of runs) or a duration (<c>30d</c>, an age).</summary>
    /// <exception cref="UsageException">Neither; the message starts with <paramref name="option"/>.</exception>
    public static HistoryKeep Parse(string option, string text)
    {
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
        {
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= 1
                ? new HistoryKeep(count, null)
                : throw new UsageException($"{option}: '{text}' is not a number of runs from 1 to {int.MaxValue}, nor a duration (30d).");
        }

        var age = Durations.Parse(option, text);
        return age > TimeSpan.Zero ? new HistoryKeep(null, age) : throw new UsageException($"{option}: '{text}': keep runs younger than a duration above 0.");
    }

    /// <summary>As the log and the command write it: <c>the newest 100 runs</c>, <c>runs younger than 30.00:00:00</c>.</summary>
    public override string ToString() => Count is { } n
        ? string.Create(CultureInfo.InvariantCulture, $"the newest {n} runs")
        : string.Create(CultureInfo.InvariantCulture, $"runs started within {Age:c}");
}
