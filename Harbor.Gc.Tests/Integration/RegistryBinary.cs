namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Finds Debian's <c>docker-registry</c> (CNCF Distribution 2.8.2) for the integration tests. Without it the tests are ignored
/// with a message saying how to install it, unless <c>HARBOR_GC_REQUIRE_REGISTRY=1</c> is set (as <c>.ci/run</c> does):
/// then they fail, so CI can never skip them silently.
/// </summary>
internal static class RegistryBinary
{
    public const string Name = "docker-registry";
    public const string RequireVariable = "HARBOR_GC_REQUIRE_REGISTRY";
    public const string InstallHint = "apt-get install -y docker-registry";

    /// <summary>The binary's path; ignores or fails the calling test when it is not on PATH (see the class remarks).</summary>
    public static string Require() =>
        Resolve(Environment.GetEnvironmentVariable("PATH"), Environment.GetEnvironmentVariable(RequireVariable)) switch
        {
            { Path: { } path } => path,
            { Required: true, Message: var message } => throw new AssertionException(message),
            { Message: var message } => throw new IgnoreException(message),
        };

    /// <summary>What <see cref="Require"/> decides for a PATH value and a value of <see cref="RequireVariable"/>.</summary>
    public static Resolution Resolve(string? pathVariable, string? requireVariable)
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
            ? $"{Name} is not on PATH and {RequireVariable}=1 asks for the integration tests: {InstallHint}"
            : $"{Name} is not on PATH, so the integration tests are skipped: {InstallHint} (set {RequireVariable}=1 to fail instead)";
        return new Resolution(null, required, message);
    }

    private static bool IsExecutable(string file) =>
        File.Exists(file) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);

    /// <summary>The binary found, or whether its absence fails the test, and the message saying so.</summary>
    internal sealed record Resolution(string? Path, bool Required, string Message);
}
