namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A program some tests need from PATH (Debian's <c>docker-registry</c>, <c>chromium</c>). Without it those tests are ignored with a
/// message saying how to install it, unless its variable (<c>HARBOR_GC_REQUIRE_REGISTRY</c>, <c>HARBOR_GC_REQUIRE_BROWSER</c>) is
/// <c>1</c>, as <c>.ci/run</c> sets them: then they fail, so CI can never skip them silently.
/// </summary>
/// <param name="Name">The program's file name.</param>
/// <param name="RequireVariable">The variable that makes its absence a failure.</param>
/// <param name="InstallHint">How to install it.</param>
/// <param name="Tests">Which tests need it (for the message).</param>
internal sealed record RequiredTool(string Name, string RequireVariable, string InstallHint, string Tests)
{
    /// <summary>The program's path; ignores or fails the calling test when it is not on PATH (see the class remarks).</summary>
    public string Require() =>
        Resolve(Environment.GetEnvironmentVariable("PATH"), Environment.GetEnvironmentVariable(RequireVariable)) switch
        {
            { Path: { } path } => path,
            { Required: true, Message: var message } => throw new AssertionException(message),
            { Message: var message } => throw new IgnoreException(message),
        };

    /// <summary>What <see cref="Require"/> decides for a PATH value and a value of <see cref="RequireVariable"/>.</summary>
    public Resolution Resolve(string? pathVariable, string? requireVariable)
    {
        var found = (pathVariable ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, Name))
            .FirstOrDefault(IsExecutable);
        if (found is not null)
        {
            return new Resolution(found, false, string.Empty);
        }

        var required = requireVariable == "1";
        var message = required
            ? $"{Name} is not on PATH and {RequireVariable}=1 asks for the {Tests}: {InstallHint}"
            : $"{Name} is not on PATH, so the {Tests} are skipped: {InstallHint} (set {RequireVariable}=1 to fail instead)";
        return new Resolution(null, required, message);
    }

    private static bool IsExecutable(string file) =>
        File.Exists(file) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);

    /// <summary>The program found, or whether its absence fails the test, and the message saying so.</summary>
    internal sealed record Resolution(string? Path, bool Required, string Message);
}
