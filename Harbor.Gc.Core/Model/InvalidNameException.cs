namespace Harbor.Gc.Model;

/// <summary>Thrown when a repository name or tag does not follow the OCI distribution grammar.</summary>
public sealed class InvalidNameException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">What was being parsed: "repository name" or "tag".</param>
    /// <param name="value">The rejected text.</param>
    /// <param name="problem">What is wrong with it.</param>
    public InvalidNameException(string kind, string value, string problem)
        : base($"'{(value.Length <= 200 ? value : string.Concat(value.AsSpan(0, 200), "…"))}' is not a valid {kind}: {problem}.")
    {
        Kind = kind;
        Value = value;
        Problem = problem;
    }

    /// <summary>What was being parsed.</summary>
    public string Kind { get; }

    /// <summary>The rejected text.</summary>
    public string Value { get; }

    /// <summary>What is wrong with <see cref="Value"/>.</summary>
    public string Problem { get; }
}
