namespace Harbor.Gc.Model;

/// <summary>How strongly an accessory is bound to its subject.</summary>
/// <remarks>
/// This follows Harbor's accessory model. A <see cref="Hard"/> accessory lives and dies with its subject: it is invisible to
/// untagged collection, retained with its subject and deleted with it (recursively). A <see cref="Soft"/> accessory is an
/// ordinary artifact for GC and retention; deleting its subject only removes the link. Harbor ships every built-in type as hard;
/// soft exists for types a registry that embeds this library registers.
/// </remarks>
public enum ReferenceStrength : byte
{
    /// <summary>Lives and dies with its subject.</summary>
    Hard = 0,

    /// <summary>An ordinary artifact that points at its subject.</summary>
    Soft = 1,
}
