namespace Harbor.Gc.Model;

/// <summary>The hash algorithm of a <see cref="Digest"/>.</summary>
public enum DigestAlgorithm : byte
{
    /// <summary>No algorithm: the value of <c>default(Digest)</c>, which is not a valid digest.</summary>
    None = 0,

    /// <summary>SHA-256: 64 lowercase hexadecimal characters.</summary>
    Sha256 = 1,

    /// <summary>SHA-512: 128 lowercase hexadecimal characters.</summary>
    Sha512 = 2,
}
