namespace Harbor.Gc.Reporting;

/// <summary>A saved plan or report could not be read; the message names the field and what is wrong with it.</summary>
public sealed class PlanFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The JSON path of the offending field, such as <c>artifacts[3].digest</c>.</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public PlanFormatException(string path, string problem, Exception? inner = null)
        : base($"plan field '{path}': {problem}", inner)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The JSON path of the offending field.</summary>
    public string Path { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
