using System.Buffers.Binary;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// An artifact's references as the ids of their blob rows (the column <c>artifacts.ref_keys</c>, schema version 5), in the manifest's
/// order, each: a tag byte, then what it names, then the reference's kind (1 byte). Tag 4: the blob row's id (<c>blobs.id</c>) in
/// 4 bytes; tag 8: in 8 bytes; tag 32 or 64: no row id, the raw digest of that length follows. Integers big-endian, as PostgreSQL's
/// <c>int4send</c> and <c>int8send</c> write them: the server packs this column itself on each push and in migration 5.
/// </summary>
/// <remarks>
/// Why: a collection's snapshot needs of a reference only which blob it is and its kind. At 1M artifacts the references were 8.9M
/// digests, 419 bytes an artifact as <see cref="PackedReferences"/> and 45 as ids, and each digest was one lookup in a hash table of
/// every digest on the client; an id is an array index (Harbor.Gc.Benchmarks/README.md).
/// </remarks>
internal static class PackedReferenceKeys
{
    /// <summary>The tag of an id in 4 bytes.</summary>
    public const byte Id32 = 4;

    /// <summary>The tag of an id in 8 bytes.</summary>
    public const byte Id64 = 8;

    /// <summary>The bytes of the smallest entry: a 4-byte id's.</summary>
    public const int SmallestEntry = 1 + 4 + 1;

    /// <summary>
    /// Packs <paramref name="references"/> as the server does: each non-foreign reference whose digest <paramref name="idOf"/> gives an id
    /// (a blob row's) as that id, every other as its digest. For writers of rows outside a push (the benchmark's bulk load, tests).
    /// </summary>
    public static byte[] Pack(IReadOnlyList<BlobReference> references, Func<Digest, long?> idOf)
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(idOf);
        var ids = new long?[references.Count];
        var size = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            var reference = references[i];
            ids[i] = reference.IsForeign ? null : idOf(reference.Digest);
            size += (ids[i] is { } id ? (id <= int.MaxValue ? 5 : 9) : 1 + reference.Digest.HashLength) + 1;
        }

        var packed = new byte[size];
        var at = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            var to = packed.AsSpan(at);
            var length = ids[i] is not { } id ? WriteDigest(to, references[i].Digest)
                : id <= int.MaxValue ? WriteId32(to, (int)id)
                : WriteId64(to, id);
            to[length] = (byte)references[i].Kind;
            at += length + 1;
        }

        return packed;

        static int WriteDigest(Span<byte> to, Digest digest)
        {
            var hashLength = digest.HashLength;
            to[0] = (byte)hashLength;
            digest.WriteHash(to.Slice(1, hashLength));
            return 1 + hashLength;
        }

        static int WriteId32(Span<byte> to, int id)
        {
            to[0] = Id32;
            BinaryPrimitives.WriteInt32BigEndian(to[1..], id);
            return 5;
        }

        static int WriteId64(Span<byte> to, long id)
        {
            to[0] = Id64;
            BinaryPrimitives.WriteInt64BigEndian(to[1..], id);
            return 9;
        }
    }

    /// <summary>
    /// Unpacks what <see cref="Pack"/> (or the server) wrote into <paramref name="ids"/> (the row id, or -1 for a digest entry),
    /// <paramref name="digests"/> (the digest of a digest entry; left as it was for an id) and <paramref name="kinds"/>, each grown
    /// when short: the number of references.
    /// </summary>
    /// <param name="packed">The column.</param>
    /// <param name="ids">Per reference, its blob row's id or -1.</param>
    /// <param name="digests">Per reference without an id, its digest.</param>
    /// <param name="kinds">Per reference, its kind.</param>
    /// <exception cref="InvalidDataException">The bytes are not packed reference keys (the column was written by something else).</exception>
    public static int Unpack(ReadOnlySpan<byte> packed, ref long[] ids, ref Digest[] digests, ref BlobReferenceKind[] kinds)
    {
        var count = 0;
        var total = packed.Length;
        while (!packed.IsEmpty)
        {
            var tag = packed[0];
            var entry = tag switch
            {
                Id32 => 1 + 4 + 1,
                Id64 => 1 + 8 + 1,
                32 or 64 => 1 + tag + 1,
                _ => int.MaxValue,
            };
            if (entry > packed.Length)
            {
                throw new InvalidDataException($"artifacts.ref_keys is damaged: an entry at byte {total - packed.Length} of {total} does not fit (tag {tag}).");
            }

            if (count == ids.Length)
            {
                var grown = Math.Max(16, count * 2);
                Array.Resize(ref ids, grown);
                Array.Resize(ref digests, grown);
                Array.Resize(ref kinds, grown);
            }

            switch (tag)
            {
                case Id32:
                    ids[count] = BinaryPrimitives.ReadInt32BigEndian(packed[1..]);
                    break;
                case Id64:
                    ids[count] = BinaryPrimitives.ReadInt64BigEndian(packed[1..]);
                    break;
                default:
                    ids[count] = -1;
                    digests[count] = Digest.FromHash(packed.Slice(1, tag));
                    break;
            }

            if (tag is Id32 or Id64 && ids[count] < 1)
            {
                throw new InvalidDataException($"artifacts.ref_keys is damaged: an entry at byte {total - packed.Length} of {total} names blob row id {ids[count]}.");
            }

            kinds[count++] = (BlobReferenceKind)packed[entry - 1];
            packed = packed[entry..];
        }

        return count;
    }
}
