using Harbor.Gc.Graph;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Graph;

public class DigestTableTests
{
    private static Digest Sha256(ulong first, ulong last)
    {
        var hash = new byte[32];
        BitConverter.TryWriteBytes(hash.AsSpan(0, 8), first);
        BitConverter.TryWriteBytes(hash.AsSpan(24, 8), last);
        return Digest.FromHash(hash);
    }

    [Test]
    public void GetOrAdd_InternsEachDigestOnce_AndRoundTrips_ThroughGrowth()
    {
        var table = new DigestTable(16);
        var digests = Enumerable.Range(0, 10_000).Select(i => Digest.Sha256Of(BitConverter.GetBytes(i))).ToArray();

        var ids = digests.Select(table.GetOrAdd).ToArray();

        ids.Should().Equal(Enumerable.Range(0, 10_000), "ids are dense, in order of first sight");
        digests.Select(table.GetOrAdd).Should().Equal(ids, "a second sight returns the same id");
        ids.Select(id => table[id]).Should().Equal(digests, "the table grew several times and kept every digest");
        table.Count.Should().Be(10_000);
    }

    [Test]
    public void GetOrAdd_DigestsSharingTheFirst8Bytes_AreDistinct()
    {
        // the first word picks the slot; the rest of the hash must still tell digests apart
        var table = new DigestTable(16);
        var a = Sha256(0xDEADBEEF, 1);
        var b = Sha256(0xDEADBEEF, 2);

        var idA = table.GetOrAdd(a);
        var idB = table.GetOrAdd(b);

        idA.Should().NotBe(idB);
        table[idA].Should().Be(a);
        table[idB].Should().Be(b);
        table.TryGet(Sha256(0xDEADBEEF, 3), out _).Should().BeFalse();
    }

    [Test]
    public void GetOrAdd_Sha512_IsNotConfusedWithASha256OfTheSameFirst32Bytes()
    {
        var table = new DigestTable(16);
        var sha512Hash = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        var sha512 = Digest.FromHash(sha512Hash);
        var sha256 = Digest.FromHash(sha512Hash.AsSpan(0, 32));
        var otherSha512 = Digest.FromHash([.. sha512Hash[..32], .. new byte[32]]);

        var ids = new[] { table.GetOrAdd(sha512), table.GetOrAdd(sha256), table.GetOrAdd(otherSha512) };

        ids.Should().OnlyHaveUniqueItems();
        table[ids[0]].Should().Be(sha512);
        table[ids[1]].Should().Be(sha256);
        table[ids[2]].Should().Be(otherSha512);
    }

    [Test]
    public void GetOrAddBatch_GivesTheSameIdsAsOneByOne()
    {
        var digests = Enumerable.Range(0, 1000).Select(i => Digest.Sha256Of(BitConverter.GetBytes(i % 700))).ToArray();
        var single = new DigestTable(16);
        var batched = new DigestTable(16);
        var ids = new int[digests.Length];

        for (var start = 0; start < digests.Length; start += 64)
        {
            var n = Math.Min(64, digests.Length - start);
            batched.GetOrAddBatch(digests.AsSpan(start, n), ids.AsSpan(start, n));
        }

        ids.Should().Equal(digests.Select(single.GetOrAdd));
        batched.Count.Should().Be(700);
    }
}
