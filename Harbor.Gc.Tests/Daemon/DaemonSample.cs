using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// The daemon suites' sample: a Distribution tree holding a tagged image (<c>library/app:v1</c>) and an untagged one a GC deletes
/// (its manifest, config and own layer), both three days old, and where the daemon's configuration and history go in its root.
/// </summary>
internal sealed class DaemonSample : IDisposable
{
    public DaemonSample()
    {
        Tree = new DistributionTree(GcCommandTests.Now);
        Tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        Tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        History = Path.Combine(Tree.Root, "history.db");
        Config = Path.Combine(Tree.Root, "daemon.json");
    }

    public DistributionTree Tree { get; }

    /// <summary>The daemon configuration's path (not written: each suite writes its own); its <c>"history"</c> is <c>history.db</c>.</summary>
    public string Config { get; }

    /// <summary>The history database's path, <c>history.db</c> in the root.</summary>
    public string History { get; }

    public void Dispose() => Tree.Dispose();
}
