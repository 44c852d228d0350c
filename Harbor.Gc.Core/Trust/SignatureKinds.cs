namespace Harbor.Gc.Trust;

/// <summary>The signature kinds content trust can require (DESIGN.md §7).</summary>
[Flags]
public enum SignatureKinds
{
    /// <summary>No signature.</summary>
    None = 0,

    /// <summary>A cosign signature: a hard accessory of type <see cref="Model.AccessoryTypes.CosignSignature"/>.</summary>
    Cosign = 1,

    /// <summary>A notation signature: a hard accessory of type <see cref="Model.AccessoryTypes.NotationSignature"/>.</summary>
    Notation = 2,
}

/// <summary>Helpers for <see cref="SignatureKinds"/>.</summary>
public static class SignatureKindsExtensions
{
    /// <summary>The kind an accessory type is, or <see cref="SignatureKinds.None"/> when it is not a signature.</summary>
    /// <param name="accessoryType">The accessory type.</param>
    /// <returns>The signature kind.</returns>
    public static SignatureKinds FromAccessoryType(string? accessoryType) => accessoryType switch
    {
        Model.AccessoryTypes.CosignSignature => SignatureKinds.Cosign,
        Model.AccessoryTypes.NotationSignature => SignatureKinds.Notation,
        _ => SignatureKinds.None,
    };

    /// <summary>The kinds as words, such as <c>cosign and notation</c>; <c>none</c> when empty.</summary>
    /// <param name="kinds">The kinds.</param>
    /// <returns>The text.</returns>
    public static string Describe(this SignatureKinds kinds) => kinds switch
    {
        SignatureKinds.None => "none",
        SignatureKinds.Cosign => "cosign",
        SignatureKinds.Notation => "notation",
        _ => "cosign and notation",
    };
}
