namespace Harbor.Gc.Model;

/// <summary>Validation of tag names: <c>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}</c>, as the distribution specification has it.</summary>
public static class TagName
{
    /// <summary>The longest tag the distribution specification allows.</summary>
    public const int MaxLength = 128;

    /// <summary>Tells why <paramref name="value"/> is not a valid tag, or returns <see langword="null"/>.</summary>
    /// <param name="value">The text to check.</param>
    /// <returns>The problem, or <see langword="null"/> when the tag is valid.</returns>
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

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            var word = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';
            if (word || (i > 0 && c is '.' or '-'))
            {
                continue;
            }

            return i == 0
                ? $"it starts with '{(char.IsControl(c) ? '?' : c)}' (a tag starts with a letter, digit or '_')"
                : $"it has the character '{(char.IsControl(c) ? '?' : c)}' at position {i} (allowed: letters, digits, '_', '.', '-')";
        }

        return null;
    }

    /// <summary>Validates a tag.</summary>
    /// <param name="value">The tag.</param>
    /// <returns><paramref name="value"/>.</returns>
    /// <exception cref="InvalidNameException">The tag is not valid; the message says why.</exception>
    public static string Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var problem = Validate(value);
        return problem is null ? value : throw new InvalidNameException("tag", value, problem);
    }
}
