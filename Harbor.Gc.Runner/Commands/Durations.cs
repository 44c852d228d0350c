namespace Harbor.Gc.Runner.Commands;

/// <summary>Durations of <c>history prune --keep</c> and the daemon's <c>keep</c>: <see cref="Duration"/>'s grammar (DESIGN.md §9), a bad one a usage error naming the option.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string option, string text) =>
        Duration.TryParse(text, out var value) ? value : throw new UsageException($"{option}: {Duration.Problem(text)}");
}
