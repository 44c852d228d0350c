using System.Security.Cryptography;
using FluentAssertions;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Blobs;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The recorded blobs' prefixes an embedded store gathers in its snapshot to tell blob files without a record: every prefix added
/// is found whatever the order it came in and however far past the expected count, and a prefix never added is not (a file of a
/// blob that has no record is listed, so a false "recorded" would keep garbage and a false "not recorded" would list a live blob).
/// </summary>
public class RecordedBlobPrefixesTests
{
    [TestCase(0)]
    [TestCase(100)]
    [TestCase(50_000)]
    public void EveryAddedPrefix_IsFound_AndNoOther_InAnyOrder_PastTheExpectedCount(int expected)
    {
        // given 20,000 random prefixes in random order (the blob table's order is not the digests'), and 20,000 others
        var random = new Random(expected + 7);
        var added = Enumerable.Range(0, 20_000).Select(_ => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63)).Distinct().ToArray();
        var addedSet = added.ToHashSet();
        var others = Enumerable.Range(0, 20_000).Select(_ => (ulong)random.NextInt64()).Where(p => !addedSet.Contains(p)).ToArray();
        var prefixes = new RecordedBlobPrefixes(expected);

        // when they are added
        foreach (var prefix in added)
        {
            prefixes.Add(prefix);
        }

        // then each is found, none of the others is, and the extremes behave
        prefixes.Count.Should().Be(added.Length);
        added.Where(p => !prefixes.Contains(p)).Should().BeEmpty();
        others.Where(prefixes.Contains).Should().BeEmpty();
        prefixes.Contains(0).Should().Be(addedSet.Contains(0));
        prefixes.Contains(ulong.MaxValue).Should().Be(addedSet.Contains(ulong.MaxValue));
    }

    [Test]
    public void APrefixAddedAfterASearch_IsFoundToo()
    {
        // given prefixes already searched (so sorted)
        var prefixes = new RecordedBlobPrefixes(4);
        prefixes.Add(30);
        prefixes.Add(10);
        prefixes.Contains(20).Should().BeFalse();

        // when one more is added below the others
        prefixes.Add(20);
        prefixes.Add(5);

        // then it and the earlier ones are found
        new ulong[] { 5, 10, 20, 30 }.Should().OnlyContain(p => prefixes.Contains(p));
        prefixes.Contains(15).Should().BeFalse();
    }

    [Test]
    public void ABlobFileNamedByItsHexDigest_IsAskedAboutByTheDigestsPrefix_OfEitherAlgorithm()
    {
        // given the prefixes of a recorded sha256 and sha512 blob, added from their digests (as the postgres: store adds them)
        var sha256 = Digest.Sha256Of("recorded"u8);
        var sha512 = Digest.FromHash(SHA512.HashData("recorded"u8));
        var prefixes = new RecordedBlobPrefixes(2);
        prefixes.Add(sha256.Prefix);
        prefixes.Add(sha512.Prefix);

        // when a blob folder asks about files named by hex digests (as FileSystemBlobStore.Leftovers does)
        // then the recorded ones may be recorded, the prefix read from hex is the digest's, and another file is not recorded
        foreach (var digest in new[] { sha256, sha512 })
        {
            var hex = digest.ToString()[(digest.ToString().IndexOf(':', StringComparison.Ordinal) + 1)..];
            RecordedBlobPrefixes.PrefixOf(hex).Should().Be(digest.Prefix);
            prefixes.MayBeRecorded(digest.ToString()[..6], hex).Should().BeTrue();
        }

        prefixes.MayBeRecorded("sha256", Digest.Sha256Of("unrecorded"u8).ToString()["sha256:".Length..]).Should().BeFalse();
    }
}
