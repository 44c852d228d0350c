using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.PostgresMetadata;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// <see cref="PackedReferenceKeys"/>, the layout of <c>artifacts.ref_keys</c> (schema version 5) that the client packs for bulk loads
/// and the server on each push: an id that fits 4 bytes in 4, a larger one in 8, a reference without a row id or a foreign one as its
/// raw digest (32 or 64 bytes), each followed by its kind; and unpacked back to the same ids, digests and kinds.
/// </summary>
public class PackedReferenceKeysTests
{
    [Test]
    public void Pack_WritesEachReferenceInTheSmallestFormItHas_AndUnpackGivesBackIdsDigestsAndKinds()
    {
        // given five references: two with row ids (one past 32 bits), one without a row, a foreign one with a row, a sha512 one
        var small = Digest.Sha256Of("small"u8);
        var large = Digest.Sha256Of("large"u8);
        var rowless = Digest.Sha256Of("rowless"u8);
        var foreign = Digest.Sha256Of("foreign"u8);
        var sha512 = Digest.Parse("sha512:" + Convert.ToHexStringLower(SHA512.HashData(Encoding.UTF8.GetBytes("sha512"))));
        BlobReference[] references =
        [
            new(small, 1, null, BlobReferenceKind.Config),
            new(large, 2, null, BlobReferenceKind.Layer),
            new(rowless, 3, null, BlobReferenceKind.Layer),
            new(foreign, 4, null, BlobReferenceKind.Layer, IsForeign: true),
            new(sha512, 5, null, BlobReferenceKind.Manifest),
        ];
        var ids = new Dictionary<Digest, long> { [small] = 7, [large] = 5_000_000_000, [foreign] = 9 };

        // when they are packed with those row ids
        var packed = PackedReferenceKeys.Pack(references, d => ids.TryGetValue(d, out var id) ? id : null);

        // then each entry is its tag, its id (big-endian) or raw digest, and its kind, in order, with nothing after
        var expected = new List<byte> { PackedReferenceKeys.Id32, 0, 0, 0, 7, (byte)BlobReferenceKind.Config, PackedReferenceKeys.Id64 };
        var id64 = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(id64, 5_000_000_000);
        expected.AddRange(id64);
        expected.Add((byte)BlobReferenceKind.Layer);
        foreach (var (digest, kind) in new[] { (rowless, BlobReferenceKind.Layer), (foreign, BlobReferenceKind.Layer), (sha512, BlobReferenceKind.Manifest) })
        {
            expected.Add((byte)digest.HashLength);
            expected.AddRange(Convert.FromHexString(digest.Hex));
            expected.Add((byte)kind);
        }

        packed.Should().Equal(expected);

        // and unpacking gives back the ids (-1 for a digest entry), the digests of the digest entries and every kind
        long[] outIds = [];
        Digest[] outDigests = [];
        BlobReferenceKind[] outKinds = [];
        PackedReferenceKeys.Unpack(packed, ref outIds, ref outDigests, ref outKinds).Should().Be(5);
        outIds[..5].Should().Equal(7, 5_000_000_000, -1, -1, -1);
        outDigests[2..5].Should().Equal(rowless, foreign, sha512);
        outKinds[..5].Should().Equal(references.Select(r => r.Kind));
    }

    [Test]
    public void Pack_OfNoReference_IsEmpty() =>
        PackedReferenceKeys.Pack([], _ => throw new InvalidOperationException("no reference to look up")).Should().BeEmpty();
}
