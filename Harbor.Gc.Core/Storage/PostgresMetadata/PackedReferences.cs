using System.Buffers.Binary;
using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// An artifact's references as one <c>bytea</c> (the column <c>artifacts.refs</c>, schema version 3), in the manifest's order, each:
/// the digest's length (1 byte: 32 for sha256, 64 for sha512), the raw digest, the size (8 bytes), the media type id (4 bytes,
/// 0 for none; <see cref="PostgresMediaTypes"/>), the kind (1 byte) and whether it is foreign (1 byte, 0 or 1); integers big-endian,
/// as PostgreSQL's <c>int8send</c> and <c>int4send</c> write them (migration 3 packs the older rows in SQL).
/// </summary>
/// <remarks>
/// Why: the server sends a <c>bytea</c> as one copy, and the client decodes it from a span, where five parallel arrays cost the
/// server an output call per element and the client an object per digest and per media type string. Reading the 1M-artifact
/// benchmark store's artifacts went from 3.4 s to 0.9 s of server time with this column (Harbor.Gc.Benchmarks/README.md). The
/// column <c>ref_digests</c> stays beside it for its GIN index ("is this blob referenced"); the snapshot does not read it. Since
/// schema version 5 a collection's snapshot reads <c>ref_keys</c> (<see cref="PackedReferenceKeys"/>) instead; this column is the
/// artifact's record (what a read of the artifact, retention and <c>explain</c> get).
/// </remarks>
internal static class PackedReferences
{
    private const int Fixed = 1 + 8 + 4 + 1 + 1;

    /// <summary>The bytes of the smallest reference: a sha256 digest's.</summary>
    public const int SmallestEntry = Fixed + 32;

    /// <summary>Packs <paramref name="references"/>.</summary>
    public static byte[] Pack(ImmutableArray<BlobReference> references, PostgresMediaTypes mediaTypes)
    {
        var length = 0;
        foreach (var reference in references)
        {
            length += Fixed + reference.Digest.HashLength;
        }

        var packed = new byte[length];
        var span = packed.AsSpan();
        foreach (var reference in references)
        {
            var hashLength = reference.Digest.HashLength;
            span[0] = (byte)hashLength;
            reference.Digest.WriteHash(span.Slice(1, hashLength));
            span = span[(1 + hashLength)..];
            BinaryPrimitives.WriteInt64BigEndian(span, reference.Size);
            BinaryPrimitives.WriteInt32BigEndian(span[8..], mediaTypes.IdOf(reference.MediaType));
            span[12] = (byte)reference.Kind;
            span[13] = reference.IsForeign ? (byte)1 : (byte)0;
            span = span[14..];
        }

        return packed;
    }

    /// <summary>Unpacks what <see cref="Pack"/> wrote.</summary>
    /// <exception cref="InvalidDataException">The bytes are not packed references (the column was written by something else).</exception>
    /// <exception cref="UnknownMediaTypeIdException">A media type id newer than <paramref name="mediaTypes"/> knows.</exception>
    public static ImmutableArray<BlobReference> Unpack(ReadOnlySpan<byte> packed, PostgresMediaTypes mediaTypes)
    {
        var count = 0;
        for (var rest = packed; !rest.IsEmpty; count++)
        {
            rest = rest[EntryLength(rest, packed.Length)..];
        }

        var references = ImmutableArray.CreateBuilder<BlobReference>(count);
        while (!packed.IsEmpty)
        {
            var hashLength = packed[0];
            var digest = Digest.FromHash(packed.Slice(1, hashLength));
            packed = packed[(1 + hashLength)..];
            var size = BinaryPrimitives.ReadInt64BigEndian(packed);
            var mediaType = mediaTypes.NameOf(BinaryPrimitives.ReadInt32BigEndian(packed[8..]));
            references.Add(new BlobReference(digest, size, mediaType, (BlobReferenceKind)packed[12], packed[13] != 0));
            packed = packed[14..];
        }

        return references.MoveToImmutable();
    }

    /// <summary>The length of the entry <paramref name="rest"/> starts with (<paramref name="total"/>: the whole column's, for the message).</summary>
    /// <exception cref="InvalidDataException">The entry's digest length is not 32 or 64, or the entry does not fit in what is left.</exception>
    private static int EntryLength(ReadOnlySpan<byte> rest, int total)
    {
        var entry = rest[0] is 32 or 64 ? Fixed + rest[0] : int.MaxValue;
        return entry <= rest.Length
            ? entry
            : throw new InvalidDataException($"artifacts.refs is damaged: an entry at byte {total - rest.Length} of {total} does not fit (digest length {rest[0]}).");
    }
}
