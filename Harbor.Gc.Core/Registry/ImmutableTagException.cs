using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>An operation was refused because an immutable-tag rule protects a tag (DESIGN.md §7); nothing was changed.</summary>
public sealed class ImmutableTagException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="operation">What was refused, such as <c>move tag library/app:v1 to sha256:…</c>.</param>
    /// <param name="repository">The repository of the protected tag.</param>
    /// <param name="tag">The protected tag.</param>
    /// <param name="rule">The rule that protects it.</param>
    public ImmutableTagException(string operation, RepositoryName repository, string tag, string rule)
        : base($"Refused to {operation}: tag {repository}:{tag} is immutable under rule '{rule}'.")
    {
        Operation = operation;
        Repository = repository;
        Tag = tag;
        Rule = rule;
    }

    /// <summary>What was refused.</summary>
    public string Operation { get; }

    /// <summary>The repository of the protected tag.</summary>
    public RepositoryName Repository { get; }

    /// <summary>The protected tag.</summary>
    public string Tag { get; }

    /// <summary>The rule that protects it.</summary>
    public string Rule { get; }
}
