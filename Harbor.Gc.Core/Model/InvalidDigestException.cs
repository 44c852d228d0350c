namespace Harbor.Gc.Model;

/// <summary>Thrown when a string is not a digest this library accepts.</summary>
/// <remarks>
/// The message says what was wrong and quotes the offending value, so that an operator can find it.
/// Digests are parsed before they can reach a file path, so anything that is not exactly
/// <c>sha256:&lt;64 lowercase hex&gt;</c> or <c>sha512:&lt;128 lowercase hex&gt;</c> is rejected.
/// </remarks>
public sealed class InvalidDigestException : FormatException
{
    /// <summary>Creates the exception for <paramref name="value"/>.</summary>
    /// <param name="value">The rejected text.</param>
    /// <param name="problem">What is wrong with it.</param>
    public InvalidDigestException(string value, string problem)
        : base($"'{Truncate(value)}' is not a valid digest: {problem}.")
    {
        Value = value;
        Problem = problem;
    }

    /// <summary>The rejected text.</summary>
    public string Value { get; }

    /// <summary>What is wrong with <see cref="Value"/>.</summary>
    public string Problem { get; }

    private static string Truncate(string value) => value.Length <= 200 ? value : string.Concat(value.AsSpan(0, 200), "…");
}
