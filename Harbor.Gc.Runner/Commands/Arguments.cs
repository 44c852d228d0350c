namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// Walks a command's arguments one by one; an option that takes a value reads it with <see cref="Value"/>, and a missing value is a
/// usage error naming the option.
/// </summary>
/// <param name="args">The command's arguments.</param>
internal sealed class Arguments(string[] args)
{
    private int _next;

    /// <summary>The argument in hand.</summary>
    public string Current { get; private set; } = string.Empty;

    /// <summary>Moves to the next argument.</summary>
    /// <returns>Whether there was one.</returns>
    public bool MoveNext()
    {
        if (_next >= args.Length)
        {
            return false;
        }

        Current = args[_next++];
        return true;
    }

    /// <summary>Reads the value of the option in hand: the next argument.</summary>
    /// <returns>The value.</returns>
    /// <exception cref="UsageException">There is no next argument.</exception>
    public string Value() => _next < args.Length ? args[_next++] : throw new UsageException($"{Current}: a value is missing.");
}
