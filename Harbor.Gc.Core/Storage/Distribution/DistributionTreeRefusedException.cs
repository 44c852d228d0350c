namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// The refusals of a tree the Distribution store cannot read safely: a symbolic link in the layout, a repository folder whose name
/// is not a repository name, a quarantine it did not write. They are <see cref="InvalidDataException"/>s (bad input: exit code 2
/// in the CLI) whose message names the path and says that nothing was planned or deleted.
/// </summary>
internal static class DistributionTreeRefusedException
{
    /// <summary>The refusal of <paramref name="store"/> because of <paramref name="path"/>.</summary>
    /// <param name="store">The store's description.</param>
    /// <param name="path">The full path of what is wrong.</param>
    /// <param name="problem">What is wrong with it, as the rest of a sentence whose subject is the path.</param>
    public static InvalidDataException Create(string store, string path, string problem) =>
        new($"{store}: '{path}' {problem}; nothing was planned or deleted.");
}
