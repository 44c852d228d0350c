namespace Harbor.Gc.Graph;

[Flags]
internal enum ArtifactFlags : byte
{
    None = 0,

    /// <summary>At least one tag points at the artifact.</summary>
    Tagged = 1,

    /// <summary>A hard accessory: lives and dies with its subject.</summary>
    HardAccessory = 2,

    /// <summary>A soft accessory: an ordinary artifact linked to a subject.</summary>
    SoftAccessory = 4,

    /// <summary>Its manifest kind is unknown or it could not be parsed: always kept.</summary>
    Unknown = 8,

    /// <summary>Listed as a child by at least one index.</summary>
    Child = 16,

    /// <summary>Deleted in the store's catalog, its manifest still there (<see cref="Model.Artifact.Trashed"/>): never kept for being untagged.</summary>
    Trashed = 32,
}
