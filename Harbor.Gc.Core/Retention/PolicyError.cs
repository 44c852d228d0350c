namespace Harbor.Gc.Retention;

/// <summary>One problem in a retention or immutability policy.</summary>
/// <param name="Path">Where: a JSON path such as <c>$.rules[2].params.latestPushedK</c>.</param>
/// <param name="Rule">The rule concerned, such as <c>rule 3 (latestPushedK)</c>, or <see langword="null"/> for the policy.</param>
/// <param name="Message">What is wrong.</param>
public sealed record PolicyError(string Path, string? Rule, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Rule is null ? $"{Path}: {Message}" : $"{Path}: {Rule}: {Message}";
}

/// <summary>A policy file or typed policy that cannot be used; <see cref="Errors"/> lists every problem found.</summary>
public sealed class PolicyException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="source">What was read (a file name or "policy").</param>
    /// <param name="errors">Every problem found.</param>
    public PolicyException(string source, IReadOnlyList<PolicyError> errors)
        : base(Describe(source, errors)) => Errors = errors;

    /// <summary>Creates the exception.</summary>
    public PolicyException()
        : this("policy", [])
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    public PolicyException(string message)
        : base(message) => Errors = [];

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public PolicyException(string message, Exception innerException)
        : base(message, innerException) => Errors = [];

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<PolicyError> Errors { get; }

    private static string Describe(string source, IReadOnlyList<PolicyError> errors) =>
        $"{source}: {errors.Count} problem(s):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors);
}
