using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Collection;

/// <summary>
/// The order of a plan's blobs: by digest, whatever the digests (sharing their first 8 bytes, of another algorithm, at the top of
/// the range) and however the store lists them (once each, or a blob twice).
/// </summary>
public class PlanOrderTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Old = Now.AddDays(-30);

    [Test]
    public async Task DeadBlobs_ArePlannedByDigest_FirstBytesThenTheWholeDigest_AndBlobsTouchedInTheWindowAreNot()
    {
        // given unreferenced blobs in random order: random digests; digests sharing their first 8 bytes with each other (a sha512
        // among them); digests at the top of the range, whose table slots wrap past the end; and blobs touched within the window
        var random = new Random(7);
        var dead = new List<Digest>();
        for (var i = 0; i < 3000; i++)
        {
            dead.Add(Digest.FromHash(RandomHash(random, 32)));
        }

        var shared = RandomHash(random, 8);
        for (var i = 0; i < 40; i++)
        {
            dead.Add(Digest.FromHash([.. shared, .. RandomHash(random, 24)]));
        }

        dead.Add(Digest.FromHash([.. shared, .. RandomHash(random, 56)]));
        for (var i = 0; i < 40; i++)
        {
            dead.Add(Digest.FromHash([.. Enumerable.Repeat((byte)0xFF, 6), .. RandomHash(random, 26)]));
        }

        var recent = Enumerable.Range(0, 500).Select(_ => Digest.FromHash(RandomHash(random, 32))).ToList();
        var blobs = dead.Select(d => new Blob(d, 10, null, Old, Old))
            .Concat(recent.Select(d => new Blob(d, 10, null, Old, Now.AddHours(-1))))
            .OrderBy(_ => random.Next())
            .ToList();

        // when a dry run plans with a window of a day
        var plan = await new GarbageCollector(new ListedStore(blobs), new FakeTimeProvider(Now))
            .PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.FromDays(1) });

        // then it plans every old blob once, ordered by the first 8 bytes and, among equal ones, by the whole digest
        plan.Blobs.Select(b => b.Digest).Should().Equal(dead.OrderBy(d => d.Prefix).ThenBy(d => d));
    }

    [Test]
    public async Task ABlobTheStoreListsTwice_IsPlannedForEachListing_StillInDigestOrder()
    {
        // given a store that lists one of its unreferenced blobs twice (a damaged or inconsistent store)
        var random = new Random(11);
        var digests = Enumerable.Range(0, 200).Select(_ => Digest.FromHash(RandomHash(random, 32))).ToList();
        var blobs = digests.Select(d => new Blob(d, 10, null, Old, Old)).ToList();
        blobs.Add(blobs[17]);

        // when a dry run plans
        var plan = await new GarbageCollector(new ListedStore(blobs), new FakeTimeProvider(Now))
            .PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true });

        // then each listing is planned, in digest order, as a store listing each blob once gets
        plan.Blobs.Select(b => b.Digest).Should().Equal(digests.Append(digests[17]).OrderBy(d => d.Prefix).ThenBy(d => d));
    }

    private static byte[] RandomHash(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A store of blob records only, listed as given; it deletes nothing.</summary>
    private sealed class ListedStore(IReadOnlyList<Blob> blobs) : IRegistryStore
    {
        public string Description => "listed";

        public ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
        {
            sink.OnBegin(new SnapshotSizeHint(0, blobs.Count, 0, 0, 0));
            foreach (var blob in blobs)
            {
                sink.OnBlob(blob);
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt,
            CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();
    }
}
