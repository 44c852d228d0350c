using System.Buffers.Binary;
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

    /// <summary>A sha256 digest whose first 8 bytes are <paramref name="prefix"/> (<see cref="Digest.Prefix"/>).</summary>
    private static Digest BigEndianSha256(ulong prefix, ulong last)
    {
        var hash = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(hash, prefix);
        BinaryPrimitives.WriteUInt64BigEndian(hash.AsSpan(24), last);
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

    [Test]
    public void InPrefixOrder_GivesTheSelectedIds_ByPrefix_WithTheirSlots()
    {
        // given a grown table of random digests, a third of them selected
        var table = new DigestTable(16);
        var digests = Enumerable.Range(0, 20_000).Select(i => Digest.Sha256Of(BitConverter.GetBytes(i))).ToArray();
        var ids = digests.Select(table.GetOrAdd).ToArray();
        var selected = new BitSet(table.Count);
        var chosen = ids.Where(id => id % 3 == 0).ToArray();
        foreach (var id in chosen)
        {
            selected.Add(id);
        }

        // when they are listed in prefix order
        var (ordered, prefixes, slots) = table.InPrefixOrder(selected, chosen.Length);

        // then each selected id comes once, by its digest's prefix, with that prefix and the slot that gives its digest
        ordered.Order().Should().Equal(chosen.Order(), "each selected id, once");
        ordered.Select(id => digests[id].Prefix).Should().BeInAscendingOrder().And.Equal(prefixes);
        ordered.Select((id, i) => table.At(slots[i], id)).Should().Equal(ordered.Select(id => digests[id]));
    }

    [Test]
    public void InPrefixOrder_DigestsCraftedToShareAHomeSlot_AreStillInPrefixOrder()
    {
        // given 3,000 digests whose first 4 bytes are equal, so they share one home slot and fill a run of slots in the order
        // they came: the reverse of their prefixes' (an insertion sort would move each past all before it)
        var table = new DigestTable(16);
        var digests = Enumerable.Range(0, 3000).Select(i => BigEndianSha256(0x1234_5678_0000_0000UL | (uint)(3000 - i), (ulong)i)).ToArray();
        var selected = new BitSet(digests.Length);
        foreach (var digest in digests)
        {
            selected.Add(table.GetOrAdd(digest));
        }

        // when they are listed in prefix order
        var (ordered, prefixes, _) = table.InPrefixOrder(selected, digests.Length);

        // then they are (sorted as a whole: the run is too long to mend in place)
        prefixes.Should().BeInAscendingOrder();
        ordered.Select(id => table[id]).Should().Equal(digests.Reverse());
    }

    [Test]
    public void InPrefixOrder_DigestsWrappedPastTheTablesEnd_ComeLast()
    {
        // given digests at the top of the range (their home is the last slot, so most wrap to the start) and at the bottom
        var table = new DigestTable(16);
        var top = Enumerable.Range(0, 8).Select(i => BigEndianSha256(ulong.MaxValue - (ulong)i, 1)).ToArray();
        var bottom = Enumerable.Range(0, 3).Select(i => BigEndianSha256((ulong)i, 2)).ToArray();
        var selected = new BitSet(16);
        foreach (var digest in top.Concat(bottom))
        {
            selected.Add(table.GetOrAdd(digest));
        }

        // when they are listed in prefix order
        var (ordered, _, _) = table.InPrefixOrder(selected, 11);

        // then the bottom ones come first and the wrapped ones last, each group by prefix
        ordered.Select(id => table[id]).Should().Equal(bottom.Concat(top.Reverse()));
    }

    [Test]
    public void InPrefixOrder_ACountThatIsNotTheSets_IsRefused()
    {
        var table = new DigestTable(16);
        var selected = new BitSet(16);
        selected.Add(table.GetOrAdd(Sha256(1, 1)));
        selected.Add(table.GetOrAdd(Sha256(2, 2)));

        FluentActions.Invoking(() => table.InPrefixOrder(selected, 1)).Should().Throw<ArgumentException>().WithMessage("*more than the 1 ids*");
        FluentActions.Invoking(() => table.InPrefixOrder(selected, 3)).Should().Throw<ArgumentException>().WithMessage("*holds 2 ids, not the 3*");
    }
}
