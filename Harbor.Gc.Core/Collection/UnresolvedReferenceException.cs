namespace Harbor.Gc.Collection;

/// <summary>
/// A reference given to <see cref="GarbageCollector.ExplainAsync(string, Model.RepositoryName?, GcOptions, CancellationToken)"/>
/// names nothing in the store, is ambiguous, or is not a reference at all; the message says which, and
/// <see cref="Matches"/> lists what an ambiguous prefix matches.
/// </summary>
public sealed class UnresolvedReferenceException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="matches">What an ambiguous prefix matches; empty otherwise.</param>
    public UnresolvedReferenceException(string message, IReadOnlyList<string>? matches = null)
        : base(message) => Matches = matches ?? [];

    /// <summary>Creates the exception.</summary>
    public UnresolvedReferenceException()
        : this("The reference names nothing in the store.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="inner">The cause.</param>
    public UnresolvedReferenceException(string message, Exception inner)
        : base(message, inner) => Matches = [];

    /// <summary>What an ambiguous prefix matches (<c>library/app@sha256:…</c> for a manifest, <c>blob sha256:…</c> for a blob), sorted; empty otherwise.</summary>
    public IReadOnlyList<string> Matches { get; }
}
