using Harbor.Gc.Tests.Support;

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

    private static readonly RequiredTool Tool = new(Name, RequireVariable, InstallHint, "integration tests");

    /// <summary>The binary's path; ignores or fails the calling test when it is not on PATH (see the class remarks).</summary>
    public static string Require() => Tool.Require();

    /// <summary>What <see cref="Require"/> decides for a PATH value and a value of <see cref="RequireVariable"/>.</summary>
    public static RequiredTool.Resolution Resolve(string? pathVariable, string? requireVariable) => Tool.Resolve(pathVariable, requireVariable);
}
