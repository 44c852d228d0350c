namespace Harbor.Gc.Collection;

/// <summary>Something a plan found that an operator should know, and that GC worked around (never by deleting).</summary>
/// <param name="Location">Where: an artifact, a blob, a path.</param>
/// <param name="Message">What.</param>
public sealed record PlanWarning(string Location, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Location}: {Message}";
}
