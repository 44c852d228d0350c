namespace Harbor.Gc.Tests.Support;

/// <summary>The repository's root folder (the one holding Harbor.Gc.sln), found upwards from the test binaries.</summary>
internal static class RepositoryRoot
{
    public static string Find()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Harbor.Gc.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root was not found");
        }

        return root;
    }
}
