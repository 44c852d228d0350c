using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// What only the LiteDB + filesystem store has to get right: it survives a restart, its blob files are verified and appear whole
/// or not at all, its lookups use indexes, and its folder layout and ownership are as documented (DESIGN.md, LiteDB store).
/// The GC semantics it shares with the in-memory store are checked by the shared suite (<see cref="StoreFixture"/>).
/// </summary>
public partial class LiteDbRegistryStoreTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 10, 0, 0, 0, TimeSpan.Zero));
    private StoreFactory _stores = null!;
    private string _folder = null!;

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _folder = _stores.NewFolder();
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    private LiteDbRegistryStore Open(bool create = true, LiteDbConnectionMode connection = LiteDbConnectionMode.Direct) =>
        LiteDbRegistryStore.Open(StoreFactory.Options(_folder, create, connection), _time);

    private static async Task<Digest> PutAsync(IWritableRegistryStore store, string content, string? mediaType = null)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        var digest = Digest.Sha256Of(bytes);
        using var stream = new MemoryStream(bytes);
        await store.PutBlobAsync(digest, stream, mediaType);
        return digest;
    }

    private static Artifact Manifest(Digest manifest, params Digest[] layers) => new()
    {
        Repository = Repo,
        Digest = manifest,
        MediaType = MediaTypes.OciManifest,
        Kind = ManifestKind.OciManifest,
        PushedAt = DateTimeOffset.MinValue,
        References = [new(manifest, 10, MediaTypes.OciManifest, BlobReferenceKind.Manifest), .. layers.Select(l => new BlobReference(l, 10, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer))],
    };

    private string[] FilesUnder(string folder) =>
        [.. Directory.EnumerateFiles(Path.Combine(_folder, folder), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_folder, f))];

    [Test]
    public async Task Reopen_AfterDispose_KeepsEveryRecord_AndVersionsKeepGrowing()
    {
        // Given a store with blobs, an image with a tag, a pull, an accessory link, a layer link and a blob marked for deletion
        Artifact image;
        Digest layer, spare;
        long version;
        using (var store = Open())
        {
            layer = await PutAsync(store, "layer");
            spare = await PutAsync(store, "spare");
            var manifest = await PutAsync(store, "manifest", MediaTypes.OciManifest);
            image = await store.PutArtifactAsync(Manifest(manifest, layer) with { Labels = ["team-a"], Subject = Digest.Sha256Of("s"u8) });
            await store.PutTagAsync(Repo, "v1", image.Digest);
            _time.Advance(TimeSpan.FromMinutes(5));
            (await store.RecordPullAsync(image.Key, "v1")).Should().BeTrue();
            await store.PutAccessoryLinkAsync(new AccessoryLink(Repo, image.Digest, Digest.Sha256Of("s"u8), AccessoryTypes.HarborSbom, ReferenceStrength.Soft));
            await store.PutLayerLinkAsync(new LayerLink(Repo, layer, _time.GetUtcNow()));
            (await store.TryUpdateBlobStatusAsync(spare, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();
            version = (await store.GetArtifactAsync(image.Key))!.Version;
        }

        // When it is opened again (as the next harbor-gc run does)
        using var reopened = Open(create: false);

        // Then everything is there as written, times exact to the tick
        var stored = (await reopened.GetArtifactAsync(image.Key))!;
        stored.Should().BeEquivalentTo(image with { Version = version, PulledAt = _time.GetUtcNow() });
        (await reopened.GetTagAsync(Repo, "v1"))!.PulledAt.Should().Be(_time.GetUtcNow());
        (await reopened.GetReferrersAsync(new ArtifactKey(Repo, Digest.Sha256Of("s"u8)))).Should().ContainSingle().Which.Accessory.Should().Be(image.Digest);
        (await reopened.GetBlobAsync(spare))!.Status.Should().Be(BlobStatus.Delete);
        (await reopened.IsBlobReferencedAsync(layer)).Should().BeTrue();
        (await reopened.IsBlobReferencedAsync(spare)).Should().BeFalse();
        using (var bytes = (await reopened.OpenBlobAsync(layer))!)
        {
            new StreamReader(bytes).ReadToEnd().Should().Be("layer");
        }

        var sink = new TestStore.CollectingSink();
        await reopened.ReadSnapshotAsync(sink);
        (sink.Blobs.Count, sink.Artifacts.Count, sink.Tags.Count, sink.AccessoryLinks.Count, sink.LayerLinks.Count).Should().Be((3, 1, 1, 1, 1));
        (await reopened.PutTagAsync(Repo, "v2", image.Digest)).Tag.Name.Should().Be("v2");
        (await reopened.GetArtifactAsync(image.Key))!.Version.Should().BeGreaterThan(version, "the version counter is stored, not restarted");
    }

    [Test]
    public async Task PutBlob_WithTheWrongDigest_IsRefused_AndLeavesNothingBehind()
    {
        using var store = Open();
        var claimed = Digest.Sha256Of("what the client said"u8);
        using var bytes = new MemoryStream("what it sent"u8.ToArray());

        var act = async () => await store.PutBlobAsync(claimed, bytes);

        var error = (await act.Should().ThrowAsync<BlobDigestMismatchException>()).Which;
        error.Expected.Should().Be(claimed);
        error.Actual.Should().Be(Digest.Sha256Of("what it sent"u8));
        error.Message.Should().Contain(claimed.ToString()).And.Contain("nothing was stored");
        (await store.GetBlobAsync(claimed)).Should().BeNull();
        (await store.HasBlobContentAsync(claimed)).Should().BeFalse();
        FilesUnder("blobs").Should().Equal([Path.Combine("blobs", ".harbor-gc-store")], "neither the blob nor its temporary file is left");
    }

    [Test]
    public async Task PutBlob_WhileWriting_IsInvisible_UntilItIsWholeAndVerified()
    {
        using var store = Open();
        var content = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        var digest = Digest.Sha256Of(content);
        var stream = new GatedStream(content, 50_000);

        // When half the bytes are written
        var upload = store.PutBlobAsync(digest, stream).AsTask();
        await stream.HalfWritten.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Then the blob is not there in any way, though its temporary file is, beside the blob's path
        (await store.HasBlobContentAsync(digest)).Should().BeFalse();
        (await store.OpenBlobAsync(digest)).Should().BeNull();
        (await store.GetBlobAsync(digest)).Should().BeNull();
        FilesUnder(Path.Combine("blobs", "sha256")).Should().ContainSingle().Which.Should()
            .StartWith(Path.Combine("blobs", "sha256", digest.Hex[..2], ".upload-"));

        // And when the rest arrives, it is there whole at blobs/sha256/ab/<hex>, and the temporary file is gone
        stream.Release.SetResult();
        (await upload).Size.Should().Be(content.Length);
        FilesUnder(Path.Combine("blobs", "sha256")).Should().Equal(Path.Combine("blobs", "sha256", digest.Hex[..2], digest.Hex));
        File.ReadAllBytes(Path.Combine(_folder, "blobs", "sha256", digest.Hex[..2], digest.Hex)).Should().Equal(content);
    }

    [Test]
    public async Task PutBlob_Cancelled_LeavesNothingBehind()
    {
        using var store = Open();
        var content = new byte[100_000];
        var digest = Digest.Sha256Of(content);
        var stream = new GatedStream(content, 50_000);
        using var cancel = new CancellationTokenSource();

        var upload = store.PutBlobAsync(digest, stream, cancellationToken: cancel.Token).AsTask();
        await stream.HalfWritten.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();
        stream.Release.SetResult();

        await upload.Invoking(u => u).Should().ThrowAsync<OperationCanceledException>();
        (await store.GetBlobAsync(digest)).Should().BeNull();
        FilesUnder(Path.Combine("blobs", "sha256")).Should().BeEmpty();
    }

    [Test]
    public async Task Sha512Blob_IsStoredUnderSha512()
    {
        using var store = Open();
        var content = "sha512 content"u8.ToArray();
        var digest = Digest.FromHash(System.Security.Cryptography.SHA512.HashData(content));

        await store.PutBlobAsync(digest, new MemoryStream(content));

        File.Exists(Path.Combine(_folder, "blobs", "sha512", digest.Hex[..2], digest.Hex)).Should().BeTrue();
        (await store.GetBlobAsync(digest))!.Size.Should().Be(content.Length);
    }

    [Test]
    public async Task GetParents_SeeksTheChildrenIndex_AndReturnsOnlyIndexesOfTheSameRepository()
    {
        // Given a child listed by an index in its repository, and the same digest listed by an index in another repository
        using var store = Open();
        var child = await PutAsync(store, "child");
        await store.PutArtifactAsync(Manifest(child));
        var index = await PutAsync(store, "index");
        var otherIndex = await PutAsync(store, "other index");
        var unrelated = await PutAsync(store, "unrelated index");
        await store.PutArtifactAsync(Manifest(index) with { Kind = ManifestKind.OciIndex, Children = [child] });
        await store.PutArtifactAsync(Manifest(otherIndex) with { Repository = RepositoryName.Parse("other/app"), Kind = ManifestKind.OciIndex, Children = [child] });
        await store.PutArtifactAsync(Manifest(unrelated) with { Kind = ManifestKind.OciIndex });

        // When the child's parents are asked for
        var parents = await store.GetParentsAsync(new ArtifactKey(Repo, child));

        // Then only the index of its own repository is returned (children live in their index's repository), found by index seek
        parents.Select(p => p.Digest).Should().Equal(index);
        var plan = store.ExplainGetParents(child);
        plan["index"].AsDocument["name"].AsString.Should().Be("children", plan.ToString());
        plan["index"].AsDocument["mode"].AsString.Should().StartWith("INDEX SEEK", plan.ToString());
    }

    [Test]
    public async Task IsBlobReferenced_On100kReferences_SeeksTheIndex_AndNeverScans()
    {
        // Given 2,000 manifests with 50 references each (100,000 blob references)
        using var store = Open();
        var layers = new List<Digest>();
        for (var i = 0; i < 500; i++)
        {
            layers.Add(await PutAsync(store, $"layer {i}"));
        }

        for (var i = 0; i < 2_000; i++)
        {
            var manifest = await PutAsync(store, $"manifest {i}");
            await store.PutArtifactAsync(Manifest(manifest, [.. Enumerable.Range(0, 49).Select(j => layers[(i * 7 + j) % layers.Count])]));
        }

        var unreferenced = await PutAsync(store, "nobody uses me");

        // When LiteDB plans "is this blob referenced"
        var plan = store.ExplainIsBlobReferenced(layers[3]);

        // Then it seeks the multi-key index of referenced digests, and does not scan the collection
        var index = plan["index"].AsDocument;
        index["name"].AsString.Should().Be("refs", plan.ToString());
        index["mode"].AsString.Should().StartWith("INDEX SEEK", plan.ToString());
        (await store.IsBlobReferencedAsync(layers[3])).Should().BeTrue();
        (await store.IsBlobReferencedAsync(unreferenced)).Should().BeFalse();
        store.Indexes().Should().Contain(["artifacts.refs", "artifacts.repo", "artifacts.children", "tags.repo", "tags.artifact", "accessory_links.subjectKey", "layer_links.repo"]);
    }

    [Test]
    public async Task SharedMode_TwoOpenersOfOneFile_SeeEachOthersWrites()
    {
        // A registry process and a harbor-gc process each open the store in shared mode
        using var registry = Open(connection: LiteDbConnectionMode.Shared);
        using var collector = Open(create: false, connection: LiteDbConnectionMode.Shared);
        var layer = await PutAsync(registry, "layer");
        var manifest = await PutAsync(registry, "manifest");
        var image = await registry.PutArtifactAsync(Manifest(manifest, layer));

        (await collector.IsBlobReferencedAsync(layer)).Should().BeTrue();
        (await collector.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();

        // a push through the registry takes the blob back: the collector's next compare-and-swap fails
        await registry.PutArtifactAsync(Manifest(manifest, layer));
        (await collector.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, null)).Should().BeFalse();
        (await collector.GetBlobAsync(layer))!.Status.Should().Be(BlobStatus.None);
        (await collector.GetArtifactAsync(image.Key)).Should().NotBeNull();
    }

    [Test]
    public void Open_MissingDatabase_WithoutCreate_FailsAndCreatesNothing()
    {
        var act = () => Open(create: false);

        act.Should().Throw<FileNotFoundException>().Which.Message.Should().Contain(Path.Combine(_folder, "harbor-gc.db")).And.Contain("does not exist");
        Directory.EnumerateFileSystemEntries(_folder).Should().BeEmpty();
    }

    [Test]
    public async Task ReadOnly_ReadsTheStore_RefusesEveryWrite_AndChangesNothing()
    {
        // given a store with an image in it, closed
        Digest layer;
        using (var store = Open())
        {
            layer = await PutAsync(store, "layer");
            await store.PutArtifactAsync(Manifest(await PutAsync(store, "manifest"), layer));
        }

        var before = FolderState.Of(_folder);

        // when it is opened read-only
        using (var readOnly = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = StoreFactory.Options(_folder).DatabasePath, ReadOnly = true }, _time))
        {
            // then it reads, and every kind of write throws
            (await readOnly.IsBlobReferencedAsync(layer)).Should().BeTrue();
            var writes = new Func<Task>[]
            {
                () => PutAsync(readOnly, "another"),
                async () => await readOnly.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null),
                async () => await readOnly.DeleteBlobContentAsync(layer),
                async () => await readOnly.DeleteTagAsync(Repo, "v1"),
            };
            foreach (var write in writes)
            {
                await write.Should().ThrowAsync<InvalidOperationException>();
            }
        }

        // and nothing in the folder changed
        FolderState.Of(_folder).Should().BeEquivalentTo(before);
    }

    [Test]
    public void Open_WithCreateIfMissing_OverAFileThatIsNotAStore_RefusesIt_AndChangesNothing()
    {
        // given an empty file where the store would be created
        File.WriteAllBytes(Path.Combine(_folder, "harbor-gc.db"), []);
        var before = FolderState.Of(_folder);

        // when a store is opened there with create-if-missing
        var act = () => Open(create: true);

        // then it is refused as not a store: an existing file is never initialized
        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain("is not a Harbor.Gc LiteDB store: the file is empty");
        FolderState.Of(_folder).Should().BeEquivalentTo(before);
    }

    [Test]
    public void Open_ABlobFolderOfAnotherStore_IsRefused()
    {
        Open().Dispose();
        var other = new LiteDbStoreOptions { DatabasePath = Path.Combine(_folder, "other.db"), CreateIfMissing = true };

        var act = () => LiteDbRegistryStore.Open(other, _time);

        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain("belongs to another LiteDB store");
        File.Exists(other.DatabasePath).Should().BeFalse();
    }

    [Test]
    public async Task CopiedStore_OpensFromItsNewPlace_WithItsBlobs()
    {
        Digest layer;
        using (var store = Open())
        {
            layer = await PutAsync(store, "layer");
        }

        var copy = _stores.NewFolder();
        StoreFactory.CopyFolder(_folder, copy);

        using var moved = LiteDbRegistryStore.Open(StoreFactory.Options(copy), _time);
        (await moved.HasBlobContentAsync(layer)).Should().BeTrue();
        moved.BlobsPath.Should().Be(Path.Combine(copy, "blobs"));
    }

    [Test]
    public async Task Gc_OnTheStore_DeletesTheBlobFiles_AndEmptiesNothingElse()
    {
        // Given an untagged image older than the window, and a tagged one sharing a layer
        using var store = Open();
        var shared = await PutAsync(store, "shared");
        var own = await PutAsync(store, "own");
        var deadManifest = await PutAsync(store, "dead");
        var liveManifest = await PutAsync(store, "live");
        var dead = await store.PutArtifactAsync(Manifest(deadManifest, shared, own));
        var live = await store.PutArtifactAsync(Manifest(liveManifest, shared));
        await store.PutTagAsync(Repo, "v1", live.Digest);
        _time.Advance(TimeSpan.FromDays(1));

        var result = await new GarbageCollector(store, _time).RunAsync(new GcOptions { DeleteUntagged = true });

        // Then the dead image's own blobs lose their files and records; the shared layer and the live image stay
        result.BlobsDeleted.Should().Be(2);
        (await store.GetArtifactAsync(dead.Key)).Should().BeNull();
        foreach (var gone in new[] { own, deadManifest })
        {
            File.Exists(Path.Combine(_folder, "blobs", "sha256", gone.Hex[..2], gone.Hex)).Should().BeFalse();
            (await store.GetBlobAsync(gone)).Should().BeNull();
        }

        (await store.HasBlobContentAsync(shared)).Should().BeTrue();
        (await store.HasBlobContentAsync(liveManifest)).Should().BeTrue();
    }

    /// <summary>Gives its first bytes at once, then waits for <see cref="Release"/> before giving the rest.</summary>
    private sealed class GatedStream(byte[] content, int gateAt) : Stream
    {
        private int _position;

        public TaskCompletionSource HalfWritten { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => content.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position == gateAt)
            {
                HalfWritten.TrySetResult();
                await Release.Task.ConfigureAwait(false);
            }

            var end = _position < gateAt ? gateAt : content.Length;
            var n = Math.Min(buffer.Length, end - _position);
            content.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
