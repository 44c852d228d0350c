namespace Harbor.Gc.Samples.Embedding;

/// <summary>The bundled storage tree of a real registry:2 (<c>samples/registry</c>, copied beside the program at build time).</summary>
public static class SampleRegistry
{
    /// <summary>The copy's folder: <c>harbor-gc-embedding/registry</c> in the temp folder.</summary>
    public static string TempRoot { get; } = Path.Combine(Path.GetTempPath(), "harbor-gc-embedding", "registry");

    /// <summary>
    /// Replaces <see cref="TempRoot"/> with a fresh copy of the bundled tree, every file and folder dated a day back (git does not
    /// keep file times, so the tree is as new as the clone, and the default 2 h window would keep all of it), and says so on
    /// <paramref name="output"/>.
    /// </summary>
    /// <param name="time">The clock the copy is dated by.</param>
    /// <param name="output">Where the copy's place is said.</param>
    /// <returns>The copy's root, the registry's storage <c>rootdirectory</c>.</returns>
    public static string CopyToTemp(TimeProvider time, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(output);
        var source = Path.Combine(AppContext.BaseDirectory, "sample-registry");
        if (Directory.Exists(TempRoot))
        {
            Directory.Delete(TempRoot, recursive: true);
        }

        var dayAgo = time.GetUtcNow().UtcDateTime.AddDays(-1);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(TempRoot, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetLastWriteTimeUtc(target, dayAgo);
        }

        foreach (var folder in Directory.EnumerateDirectories(TempRoot, "*", SearchOption.AllDirectories).Prepend(TempRoot))
        {
            Directory.SetLastWriteTimeUtc(folder, dayAgo);
        }

        output.WriteLine($"Harbor.Gc embedding sample: the bundled sample registry copied to {TempRoot} (dated a day back); its GC runs there");
        return TempRoot;
    }
}
