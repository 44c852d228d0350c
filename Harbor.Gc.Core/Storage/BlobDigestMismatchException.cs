using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>Bytes uploaded as a blob do not hash to the digest they were uploaded under; nothing was stored.</summary>
public sealed class BlobDigestMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="expected">The digest the client claimed.</param>
    /// <param name="actual">The digest of the bytes received.</param>
    /// <param name="size">How many bytes were received.</param>
    public BlobDigestMismatchException(Digest expected, Digest actual, long size)
        : base($"The uploaded bytes ({size} bytes) hash to {actual}, not to {expected}; nothing was stored.")
    {
        Expected = expected;
        Actual = actual;
        Size = size;
    }

    /// <summary>The digest the client claimed.</summary>
    public Digest Expected { get; }

    /// <summary>The digest of the bytes received.</summary>
    public Digest Actual { get; }

    /// <summary>How many bytes were received.</summary>
    public long Size { get; }
}
