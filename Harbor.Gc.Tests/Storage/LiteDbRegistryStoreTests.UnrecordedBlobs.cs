using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Blob files without a record: the LiteDB store renames a blob's verified bytes into place and then records them, so a push
/// killed between the two leaves <c>blobs/sha256/ab/&lt;hex&gt;</c> that no record names. Nothing can reach those bytes (a mount or
/// a manifest needs the record), so they are garbage: GC lists such a file as a stale upload of no repository (id
/// <c>sha256-&lt;hex&gt;</c>) once it is older than the time window and deletes it, but never once a push has recorded the blob
/// (the same bytes pushed again) and never while it is open. The files are written here as the rename leaves them.
/// </summary>
public partial class LiteDbRegistryStoreTests
{
    /// <summary>A blob file as a push killed after its rename leaves it: whole, verified bytes under the final name, no record.</summary>
    private string Unrecorded(Digest digest, byte[] bytes, TimeSpan age)
    {
        var algorithm = digest.Algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256";
        var path = Path.Combine(_folder, LiteDbStoreOptions.DefaultBlobsFolder, algorithm, digest.Hex[..2], digest.Hex);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        Age(path, age);
        return path;
    }

    private string Unrecorded(string content, TimeSpan age, out Digest digest)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        digest = Digest.Sha256Of(bytes);
        return Unrecorded(digest, bytes, age);
    }

    [Test]
    public async Task BlobFileWithoutARecord_IsAStaleUpload_OnceOld_AndARealRunDeletesIt_WhileRecordedBlobsAndYoungFilesStay()
    {
        // given a recorded blob that is referenced (live), an old blob file whose push was killed before its record, and a young one
        using var store = Open();
        var layer = await PutAsync(store, "layer");
        var manifest = await PutAsync(store, "manifest", MediaTypes.OciManifest);
        var image = await store.PutArtifactAsync(Manifest(manifest, layer));
        await store.PutTagAsync(Repo, "v1", image.Digest);
        var old = Unrecorded("bytes of a push killed after the rename", Old, out var oldDigest);
        var young = Unrecorded("bytes of a push that may still be recording", TimeSpan.FromMinutes(1), out _);

        // when a dry run plans
        var dry = await new GarbageCollector(store, _time).RunAsync(new GcOptions { DryRun = true });

        // then only the old unrecorded file is listed, as an upload of no repository named by its digest; no blob is planned
        var upload = dry.Plan.Uploads.Should().ContainSingle().Subject;
        upload.Repository.Should().BeNull();
        upload.Id.Should().Be("sha256-" + oldDigest.Hex);
        upload.Size.Should().Be(new FileInfo(old).Length);
        dry.Plan.Blobs.Should().BeEmpty();
        using (var json = JsonDocument.Parse(GcReportWriter.ToJson(dry)))
        {
            json.RootElement.GetProperty("uploads").EnumerateArray().Should().ContainSingle()
                .Which.GetProperty("id").GetString().Should().Be(upload.Id);
        }

        File.Exists(old).Should().BeTrue("a dry run deletes nothing");

        // and when a real run follows, the old file is gone; the young one, the live blobs and their records stay
        var real = await new GarbageCollector(store, _time).RunAsync(new GcOptions());
        real.UploadsDeleted.Should().Be(1);
        real.UploadBytesFreed.Should().Be(upload.Size);
        File.Exists(old).Should().BeFalse();
        File.Exists(young).Should().BeTrue("it is younger than the time window: its push may still be recording it");
        (await store.HasBlobContentAsync(layer)).Should().BeTrue();
        (await store.HasBlobContentAsync(manifest)).Should().BeTrue();
        (await store.GetBlobAsync(layer)).Should().NotBeNull();
        (await new GarbageCollector(store, _time).PlanAsync(new GcOptions())).Uploads.Should().BeEmpty();
    }

    [Test]
    public async Task BlobFileWithoutARecord_PushedAgainAfterThePlan_IsKept_WithItsBytesAndRecord()
    {
        // given an old unrecorded blob file, planned for deletion
        using var store = Open();
        var path = Unrecorded("pushed again by a retrying client", Old, out var digest);
        var collector = new GarbageCollector(store, _time);
        var plan = await collector.PlanAsync(new GcOptions());
        plan.Uploads.Should().ContainSingle().Which.Id.Should().Be("sha256-" + digest.Hex);

        // when the client retries its push (bytes renamed over the file and recorded) before the plan is carried out, and the
        // file's last write is set back to what the plan saw (same bytes, same size: only the record tells them apart)
        await PutAsync(store, "pushed again by a retrying client");
        File.SetLastWriteTimeUtc(path, plan.Uploads[0].LastWrittenAt.UtcDateTime);
        var result = await collector.ExecuteAsync(plan, new GcOptions());

        // then the file is kept: it has a record now (a plan made when the plan is applied sees a blob, no upload), and its bytes are whole
        result.UploadsDeleted.Should().Be(0);
        result.Plan.Uploads.Should().BeEmpty();
        (await store.GetBlobAsync(digest)).Should().NotBeNull();
        using var read = (await store.OpenBlobAsync(digest))!;
        Digest.Sha256Of(ReadAll(read)).Should().Be(digest);
        File.Exists(path).Should().BeTrue();
    }

    [Test]
    public async Task BlobFileWithoutARecord_RecordedBetweenTheCheckAndTheDelete_CannotLoseItsBytes()
    {
        // given an old unrecorded blob file, and its id as a plan carries it
        using var store = Open();
        var bytes = Encoding.UTF8.GetBytes("recorded by a push on another thread");
        var digest = Digest.Sha256Of(bytes);
        Unrecorded(digest, bytes, Old);
        var upload = (await UploadsOf(store)).Should().ContainSingle().Subject;

        // when pushes of the same bytes race the deletion, many times over
        for (var i = 0; i < 20; i++)
        {
            var push = Task.Run(async () =>
            {
                using var stream = new MemoryStream(bytes);
                await store.PutBlobAsync(digest, stream);
            });
            var delete = Task.Run(async () => await store.DeleteUploadAsync(upload));
            await Task.WhenAll(push, delete);

            // then whichever came first, the recorded blob has its bytes
            (await store.GetBlobAsync(digest)).Should().NotBeNull();
            (await store.HasBlobContentAsync(digest)).Should().BeTrue($"round {i}: a recorded blob never loses its bytes");

            // and the next round starts from an unrecorded file again
            await store.DeleteBlobRecordAsync(digest);
            Unrecorded(digest, bytes, Old);
            upload = (await UploadsOf(store)).Should().ContainSingle().Subject;
        }
    }

    [Test]
    public async Task BlobFileWithoutARecord_StillOpen_IsKept()
    {
        using var store = Open();
        var path = Unrecorded("being read", Old, out _);
        using (new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            var result = await new GarbageCollector(store, _time).RunAsync(new GcOptions());
            result.Plan.Uploads.Should().ContainSingle();
            result.UploadsDeleted.Should().Be(0);
            File.Exists(path).Should().BeTrue();
        }

        (await new GarbageCollector(store, _time).RunAsync(new GcOptions())).UploadsDeleted.Should().Be(1);
        File.Exists(path).Should().BeFalse();
    }

    [Test]
    public async Task Sha512BlobFileWithoutARecord_SavedPlanReadsBack_AndExecutes()
    {
        // given an old unrecorded sha512 blob file (its id, "sha512-" and 128 hex digits, is the longest upload id)
        using var store = Open();
        var bytes = Encoding.UTF8.GetBytes("a sha512 blob");
        var digest = Digest.Parse("sha512:" + Convert.ToHexStringLower(SHA512.HashData(bytes)));
        var path = Unrecorded(digest, bytes, Old);
        var dry = await new GarbageCollector(store, _time).RunAsync(new GcOptions { DryRun = true });
        dry.Plan.Uploads.Should().ContainSingle().Which.Id.Should().Be("sha512-" + digest.Hex);

        // when the plan is saved, read back and applied
        (await SaveReadBackAndApplyAsync(store, dry)).UploadsDeleted.Should().Be(1);

        // then the file is gone
        File.Exists(path).Should().BeFalse();
    }

    [Test]
    public async Task RetentionSnapshot_WhichWantsNoBlobs_ListsNoUnrecordedFile()
    {
        // a sink that skips blob records cannot tell recorded from unrecorded files: only temporary files are listed then
        using var store = Open();
        Unrecorded("unrecorded", Old, out _);
        var temporary = LeftBehind(_folder, 10, Old);
        var sink = new UploadSink(wantsBlobs: false);
        await store.ReadSnapshotAsync(sink);
        sink.Uploads.Should().ContainSingle().Which.Id.Should().Be(IdOf(temporary));
    }

    private static async Task<List<BlobUpload>> UploadsOf(LiteDbRegistryStore store)
    {
        var sink = new UploadSink(wantsBlobs: true);
        await store.ReadSnapshotAsync(sink);
        return sink.Uploads;
    }

    /// <summary>Keeps the uploads of a snapshot; asks for blob records or not.</summary>
    private sealed class UploadSink(bool wantsBlobs) : ISnapshotSink
    {
        public List<BlobUpload> Uploads { get; } = [];

        public bool WantsBlobs => wantsBlobs;

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob)
        {
        }

        public void OnArtifact(Artifact artifact)
        {
        }

        public void OnTag(Tag tag)
        {
        }

        public void OnAccessoryLink(AccessoryLink link)
        {
        }

        public void OnLayerLink(LayerLink link)
        {
        }

        public void OnUpload(BlobUpload upload) => Uploads.Add(upload);

        public void OnProblem(StoreProblem problem)
        {
        }
    }
}
