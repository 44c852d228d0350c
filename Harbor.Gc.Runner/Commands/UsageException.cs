namespace Harbor.Gc.Runner.Commands;

/// <summary>Bad usage or bad input: the message says what and where; the command exits with code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
