namespace Harbor.Gc.Runner.Commands;

/// <summary>Durations on the command line: <see cref="Duration"/>'s grammar (DESIGN.md §9), a bad one a usage error naming the option.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string option, string text) =>
        Duration.TryParse(text, out var value) ? value : throw new UsageException($"{option}: {Duration.Problem(text)}");
}
