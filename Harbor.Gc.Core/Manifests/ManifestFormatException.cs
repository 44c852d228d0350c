namespace Harbor.Gc.Manifests;

/// <summary>A manifest could not be parsed; the message names the field (as a JSON path) and what is wrong with it.</summary>
public sealed class ManifestFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">Where: a JSON path such as <c>layers[2].digest</c>, or <c>$</c> for the whole document.</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public ManifestFormatException(string path, string problem, Exception? inner = null)
        : base($"manifest field '{path}': {problem}", inner)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The JSON path of the offending field.</summary>
    public string Path { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
