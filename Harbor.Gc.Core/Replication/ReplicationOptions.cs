namespace Harbor.Gc.Replication;

/// <summary>Options of <see cref="ReplicationClosure"/>.</summary>
public sealed record ReplicationOptions
{
    /// <summary>The defaults: hard accessories only.</summary>
    public static ReplicationOptions Default { get; } = new();

    /// <summary>
    /// Whether soft accessories are copied with their subject, as hard ones are. Default <see langword="false"/>: a soft accessory
    /// is an ordinary artifact that merely points at its subject (§4), copied when a selector selects it. Harbor copies every
    /// accessory with its subject, but every type Harbor ships is hard, so with Harbor's types the default copies what Harbor
    /// copies; soft types exist only where an embedding registry registered them, and set this to copy them too.
    /// </summary>
    public bool IncludeSoftAccessories { get; init; }
}
