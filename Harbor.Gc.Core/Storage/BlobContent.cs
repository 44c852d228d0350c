using System.Security.Cryptography;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>Copies blob bytes while hashing them with the algorithm of the digest they are uploaded under.</summary>
internal static class BlobContent
{
    private const int BufferSize = 81_920;

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> to the end, and checks that the bytes hash to
    /// <paramref name="expected"/>.
    /// </summary>
    /// <param name="expected">The digest the bytes must hash to.</param>
    /// <param name="source">The bytes.</param>
    /// <param name="destination">Where they go.</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    /// <returns>The number of bytes copied.</returns>
    /// <exception cref="BlobDigestMismatchException">The bytes hash to another digest (they were copied all the same: the caller discards them).</exception>
    public static async ValueTask<long> CopyVerifiedAsync(Digest expected, Stream source, Stream destination, CancellationToken cancellationToken)
    {
        if (expected.IsEmpty)
        {
            throw new ArgumentException("The digest is empty.", nameof(expected));
        }

        using var hash = IncrementalHash.CreateHash(expected.Algorithm == DigestAlgorithm.Sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
        var buffer = new byte[BufferSize];
        long size = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            size += read;
        }

        var actual = Digest.FromHash(hash.GetHashAndReset());
        if (actual != expected)
        {
            throw new BlobDigestMismatchException(expected, actual, size);
        }

        return size;
    }
}
