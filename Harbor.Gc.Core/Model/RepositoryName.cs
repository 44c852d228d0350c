using System.Diagnostics.CodeAnalysis;

namespace Harbor.Gc.Model;

/// <summary>A repository name such as <c>library/nginx</c>, validated against the OCI distribution grammar.</summary>
/// <remarks>
/// Components are <c>[a-z0-9]+</c> joined by one separator (<c>.</c>, <c>_</c>, <c>__</c> or any run of
/// <c>-</c>), separated by <c>/</c>; at most 255 characters. So <c>..</c>, a leading <c>/</c>, empty
/// components, upper case and a component starting with <c>_</c> (the Distribution layout's own folders)
/// are all rejected before a name can reach a path. The first component is the Harbor project.
/// </remarks>
public readonly struct RepositoryName : IEquatable<RepositoryName>, IComparable<RepositoryName>
{
    /// <summary>The longest name the distribution specification allows.</summary>
    public const int MaxLength = 255;

    private readonly string? _value;

    private RepositoryName(string value) => _value = value;

    /// <summary>The name as text.</summary>
    public string Value => _value ?? string.Empty;

    /// <summary>The Harbor project: the first path component.</summary>
    public string Project
    {
        get
        {
            var slash = Value.IndexOf('/', StringComparison.Ordinal);
            return slash < 0 ? Value : Value[..slash];
        }
    }

    /// <summary>Parses and validates a repository name.</summary>
    /// <param name="value">The text.</param>
    /// <returns>The name.</returns>
    /// <exception cref="InvalidNameException">The text is not a valid repository name; the message says why.</exception>
    public static RepositoryName Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var problem = Validate(value);
        return problem is null ? new RepositoryName(value) : throw new InvalidNameException("repository name", value, problem);
    }

    /// <summary>Parses a repository name, reporting failure with a return value.</summary>
    /// <param name="value">The text.</param>
    /// <param name="name">The name, when valid.</param>
    /// <returns>Whether the text is a valid repository name.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, out RepositoryName name)
    {
        if (value is not null && Validate(value) is null)
        {
            name = new RepositoryName(value);
            return true;
        }

        name = default;
        return false;
    }

    /// <summary>Tells why <paramref name="value"/> is not a valid repository name, or returns <see langword="null"/>.</summary>
    /// <param name="value">The text to check.</param>
    /// <returns>The problem, or <see langword="null"/> when the name is valid.</returns>
    public static string? Validate(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty)
        {
            return "it is empty";
        }

        if (value.Length > MaxLength)
        {
            return $"it is {value.Length} characters long, the limit is {MaxLength}";
        }

        var component = 0;
        var start = 0;
        for (var i = 0; i <= value.Length; i++)
        {
            if (i < value.Length && value[i] != '/')
            {
                continue;
            }

            var problem = ValidateComponent(value[start..i]);
            if (problem is not null)
            {
                return $"path component {component + 1} ('{value[start..i].ToString()}') {problem}";
            }

            component++;
            start = i + 1;
        }

        return null;
    }

    private static string? ValidateComponent(ReadOnlySpan<char> part)
    {
        if (part.IsEmpty)
        {
            return "is empty";
        }

        if (!IsAlphaNumeric(part[0]) || !IsAlphaNumeric(part[^1]))
        {
            return "must start and end with a lowercase letter or digit";
        }

        for (var i = 0; i < part.Length; i++)
        {
            var c = part[i];
            if (IsAlphaNumeric(c))
            {
                continue;
            }

            if (c is '.' or '_')
            {
                var run = 1;
                while (i + run < part.Length && !IsAlphaNumeric(part[i + run]))
                {
                    run++;
                }

                var separator = part.Slice(i, run);
                if (!(separator.SequenceEqual(".") || separator.SequenceEqual("_") || separator.SequenceEqual("__")))
                {
                    return $"has the separator '{separator.ToString()}' (allowed: '.', '_', '__' or dashes)";
                }

                i += run - 1;
                continue;
            }

            if (c == '-')
            {
                continue;
            }

            return $"has the character '{(char.IsControl(c) ? '?' : c)}' (allowed: a-z, 0-9, '.', '_', '-')";
        }

        return null;
    }

    private static bool IsAlphaNumeric(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');

    /// <inheritdoc />
    public bool Equals(RepositoryName other) => string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is RepositoryName other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <inheritdoc />
    public int CompareTo(RepositoryName other) => string.CompareOrdinal(Value, other.Value);

    /// <inheritdoc />
    public override string ToString() => Value;

    /// <summary>Compares two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(RepositoryName left, RepositoryName right) => left.Equals(right);

    /// <summary>Compares two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(RepositoryName left, RepositoryName right) => !left.Equals(right);

    /// <summary>Orders two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether <paramref name="left"/> sorts first.</returns>
    public static bool operator <(RepositoryName left, RepositoryName right) => left.CompareTo(right) < 0;

    /// <summary>Orders two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether <paramref name="left"/> sorts last.</returns>
    public static bool operator >(RepositoryName left, RepositoryName right) => left.CompareTo(right) > 0;

    /// <summary>Orders two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether <paramref name="left"/> sorts first or equal.</returns>
    public static bool operator <=(RepositoryName left, RepositoryName right) => left.CompareTo(right) <= 0;

    /// <summary>Orders two names.</summary>
    /// <param name="left">The first name.</param>
    /// <param name="right">The second name.</param>
    /// <returns>Whether <paramref name="left"/> sorts last or equal.</returns>
    public static bool operator >=(RepositoryName left, RepositoryName right) => left.CompareTo(right) >= 0;
}
