using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

/// <summary>A sink that does not want blobs (<see cref="ISnapshotSink.WantsBlobs"/>) gets none, and everything else as before, on both writable stores.</summary>
public class SnapshotWithoutBlobsTests(StoreKind kind) : StoreFixture(kind)
{
    [Test]
    public async Task ASinkWithoutBlobs_GetsArtifactsTagsAndLinks_ButNoBlob()
    {
        var (store, _, _) = BuildRandom(seed: 7);
        using var _ = store;
        var withBlobs = new Counting(wantsBlobs: true);
        var withoutBlobs = new Counting(wantsBlobs: false);

        await store.Inner.ReadSnapshotAsync(withBlobs);
        await store.Inner.ReadSnapshotAsync(withoutBlobs);

        withBlobs.Blobs.Should().BePositive();
        withoutBlobs.Blobs.Should().Be(0);
        withoutBlobs.Others.Should().Be(withBlobs.Others).And.BePositive();
    }

    private sealed class Counting(bool wantsBlobs) : ISnapshotSink
    {
        public int Blobs { get; private set; }

        public int Others { get; private set; }

        public bool WantsBlobs => wantsBlobs;

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Blobs++;

        public void OnArtifact(Artifact artifact) => Others++;

        public void OnTag(Tag tag) => Others++;

        public void OnAccessoryLink(AccessoryLink link) => Others++;

        public void OnLayerLink(LayerLink link) => Others++;

        public void OnProblem(StoreProblem problem)
        {
        }
    }
}
