namespace Harbor.Gc.Runner.Commands;

/// <summary>Opens a file a command was given; one it cannot open is bad input (exit code 2), named with the option it came from.</summary>
internal static class InputFile
{
    /// <summary>Opens <paramref name="path"/> for reading.</summary>
    /// <param name="what">The option or argument that named it, for the message (<c>--apply</c>, <c>policy</c>).</param>
    /// <param name="path">The file.</param>
    /// <returns>The stream; the caller disposes it.</returns>
    /// <exception cref="UsageException">The file is missing or cannot be read.</exception>
    public static FileStream OpenRead(string what, string path)
    {
        try
        {
            return File.OpenRead(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            throw new UsageException($"{what} {path}: cannot be read: {e.Message}");
        }
    }
}
