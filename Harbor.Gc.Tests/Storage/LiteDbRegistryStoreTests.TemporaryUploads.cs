using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Stale temporary uploads of the LiteDB store: a blob is written to <c>blobs/sha256/ab/.upload-&lt;random&gt;</c> and renamed into
/// place, so a push killed mid-write leaves the temporary file forever. GC treats such files as Distribution's <c>_uploads</c>:
/// one whose last write is older than the time window is listed in the plan (<c>uploads</c>, of no repository) and deleted by a
/// real run; one younger than the window, one still open (a write in progress), or one written since the plan is kept. The files'
/// times are set relative to the test's clock.
/// </summary>
public partial class LiteDbRegistryStoreTests
{
    private static readonly TimeSpan Old = TimeSpan.FromHours(3); // past the default two-hour window

    /// <summary>A temporary file as a killed push leaves it: partial bytes under the name the store gives, last written <paramref name="age"/> ago.</summary>
    private string LeftBehind(string folder, int bytes, TimeSpan age)
    {
        var name = Guid.NewGuid().ToString("N");
        var fanOut = name[..2];
        var path = Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder, "sha256", fanOut, ".upload-" + name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[bytes]);
        Age(path, age);
        return path;
    }

    /// <summary>Dates a file's last write <paramref name="age"/> before the test's clock.</summary>
    private void Age(string path, TimeSpan age) => File.SetLastWriteTimeUtc(path, (_time.GetUtcNow() - age).UtcDateTime);

    private static string IdOf(string path) =>
        $"sha256-{Path.GetFileName(Path.GetDirectoryName(path))}-{Path.GetFileName(path)[".upload-".Length..]}";

    [Test]
    public async Task OldTemporaryFile_IsAStaleUpload_ListedByTheDryRun_AndDeletedByARealRun_WhileAYoungOneStays()
    {
        // given a temporary file a push killed three hours ago left behind, and one written a minute ago
        using var store = Open();
        var old = LeftBehind(_folder, 1_000, Old);
        var young = LeftBehind(_folder, 500, TimeSpan.FromMinutes(1));

        // when a dry run plans
        var dry = await new GarbageCollector(store, _time).RunAsync(new GcOptions { DryRun = true });

        // then only the old one is listed, as an upload of no repository, in the plan, the JSON report and the summary; both stay
        var upload = dry.Plan.Uploads.Should().ContainSingle().Subject;
        upload.Repository.Should().BeNull();
        upload.Id.Should().Be(IdOf(old));
        upload.Size.Should().Be(1_000);
        using (var json = JsonDocument.Parse(GcReportWriter.ToJson(dry)))
        {
            var listed = json.RootElement.GetProperty("uploads").EnumerateArray().Should().ContainSingle().Subject;
            listed.GetProperty("repository").ValueKind.Should().Be(JsonValueKind.Null);
            listed.GetProperty("id").GetString().Should().Be(upload.Id);
            json.RootElement.GetProperty("summary").GetProperty("uploads").GetInt32().Should().Be(1);
        }

        var summary = new StringWriter();
        ConsoleSummary.Write(summary, dry);
        summary.ToString().Should().Contain("and 1 stale uploads (1,000 bytes)");
        File.Exists(old).Should().BeTrue("a dry run deletes nothing");
        File.Exists(young).Should().BeTrue();

        // and when a real run follows, the old file is gone and the young one stays
        var real = await new GarbageCollector(store, _time).RunAsync(new GcOptions());
        real.UploadsDeleted.Should().Be(1);
        real.UploadBytesFreed.Should().Be(1_000);
        File.Exists(old).Should().BeFalse();
        File.Exists(young).Should().BeTrue("it is younger than the time window: a write may still be going on");
    }

    [Test]
    public async Task SavedPlan_WithATemporaryUpload_ReadsBack_AndExecutes()
    {
        using var store = Open();
        var old = LeftBehind(_folder, 10, Old);
        var dry = await new GarbageCollector(store, _time).RunAsync(new GcOptions { DryRun = true });

        (await SaveReadBackAndApplyAsync(store, dry)).UploadsDeleted.Should().Be(1);
        File.Exists(old).Should().BeFalse();
    }

    /// <summary>Saves a dry run's report, reads the plan back (its uploads must be the same) and carries it out.</summary>
    private async Task<GcResult> SaveReadBackAndApplyAsync(LiteDbRegistryStore store, GcResult dry)
    {
        using var saved = new MemoryStream();
        GcReportWriter.Write(saved, dry);
        saved.Position = 0;
        var plan = GcPlanReader.Read(saved);
        plan.Uploads.Should().Equal(dry.Plan.Uploads);
        return await new GarbageCollector(store, _time).ExecuteAsync(plan, new GcOptions());
    }

    [Test]
    public async Task OldTemporaryFile_StillOpen_IsKept_UntilItsWriterLetsGo()
    {
        // given an old temporary file that its writer still holds open (a slow push: the store keeps the file open until the rename)
        using var store = Open();
        var path = LeftBehind(_folder, 100, Old);
        var run = new GcOptions();
        using (new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Delete))
        {
            // when GC runs, the file is planned (old) but kept on re-check (open)
            var result = await new GarbageCollector(store, _time).RunAsync(run);

            result.Plan.Uploads.Should().ContainSingle();
            result.UploadsDeleted.Should().Be(0);
            result.UploadsSkipped.Should().ContainSingle().Which.Id.Should().Be(IdOf(path));
            File.Exists(path).Should().BeTrue();
        }

        // and once it is closed (its writer died), the next run deletes it
        (await new GarbageCollector(store, _time).RunAsync(run)).UploadsDeleted.Should().Be(1);
        File.Exists(path).Should().BeFalse();
    }

    [Test]
    public async Task TemporaryFile_WrittenSinceThePlan_IsKept()
    {
        using var store = Open();
        var path = LeftBehind(_folder, 100, Old);
        var collector = new GarbageCollector(store, _time);
        var plan = await collector.PlanAsync(new GcOptions());

        // bytes arrive after the plan
        await File.AppendAllTextAsync(path, "more");

        var result = await collector.ExecuteAsync(plan, new GcOptions());
        result.UploadsDeleted.Should().Be(0);
        result.UploadsSkipped.Should().ContainSingle();
        File.Exists(path).Should().BeTrue();
    }

    [Test]
    public async Task PushInProgress_IsNeverDeleted_EvenPastTheWindow_AndFinishes()
    {
        // given a push half written (its temporary file open), its file last written three hours ago (a stalled client)
        using var store = Open();
        var content = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        var digest = Digest.Sha256Of(content);
        var stream = new GatedStream(content, 50_000);
        var push = store.PutBlobAsync(digest, stream).AsTask();
        await stream.HalfWritten.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Age(TemporaryFiles(_folder).Should().ContainSingle().Subject, Old);

        // when GC runs with a zero window
        var result = await new GarbageCollector(store, _time).RunAsync(new GcOptions { TimeWindow = TimeSpan.Zero });

        // then the write in progress was planned but kept, and the push completes with its blob whole
        result.Plan.Uploads.Should().ContainSingle();
        result.UploadsDeleted.Should().Be(0);
        stream.Release.SetResult();
        (await push).Size.Should().Be(content.Length);
        using var read = (await store.OpenBlobAsync(digest))!;
        Digest.Sha256Of(ReadAll(read)).Should().Be(digest);
    }

    [Test]
    public async Task KilledPush_LeavesOnlyGarbage_ThatTheNextRunRemoves()
    {
        // given a push half written in a registry process (shared mode), and a copy of the store's files taken at that moment:
        // exactly what a SIGKILL of the registry then leaves on disk (the kernel drops the process's locks)
        var content = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        var digest = Digest.Sha256Of(content);
        var crashed = _stores.NewFolder();
        using (var registry = Open(connection: LiteDbConnectionMode.Shared))
        {
            var stream = new GatedStream(content, 50_000);
            var push = registry.PutBlobAsync(digest, stream).AsTask();
            await stream.HalfWritten.Task.WaitAsync(TimeSpan.FromSeconds(10));
            StoreFactory.CopyFolder(_folder, crashed);
            stream.Release.SetResult();
            await push;
        }

        // when the killed registry's store is reopened, the blob is not there, and its temporary file is
        using var store = LiteDbRegistryStore.Open(StoreFactory.Options(crashed), _time);
        (await store.GetBlobAsync(digest)).Should().BeNull();
        (await store.HasBlobContentAsync(digest)).Should().BeFalse();
        var left = TemporaryFiles(crashed).Should().ContainSingle().Subject;
        var partial = new FileInfo(left).Length;
        partial.Should().BeLessThan(content.Length, "the bytes the process had not yet written (or had in its buffer) die with it");

        // then once the file is older than the time window, the next run deletes it and nothing else
        Age(left, Old);
        var result = await new GarbageCollector(store, _time).RunAsync(new GcOptions());
        result.UploadsDeleted.Should().Be(1);
        result.UploadBytesFreed.Should().Be(partial);
        File.Exists(left).Should().BeFalse();
        (await new GarbageCollector(store, _time).PlanAsync(new GcOptions())).Uploads.Should().BeEmpty();
    }

    [Test]
    public async Task DeleteUpload_WithAnIdThatNamesNoTemporaryFile_IsRefused_AndDeletesNothing()
    {
        using var store = Open();
        var path = LeftBehind(_folder, 10, Old);
        var before = Directory.EnumerateFiles(_folder, "*", SearchOption.AllDirectories).ToList();

        foreach (var id in new[]
        {
            "sha256-zz-" + new string('0', 32), "md5-ab-" + new string('0', 32), "sha256-ab-short", "sha256",
            "sha256-" + new string('A', 64), "sha256-" + new string('0', 63), "sha512-" + new string('0', 64), "md5-" + new string('0', 32),
        })
        {
            var act = async () => await store.DeleteUploadAsync(new BlobUpload(null, id, null, 10, _time.GetUtcNow() - Old));
            await act.Should().ThrowAsync<ArgumentException>().WithMessage($"*'{id}'*");
        }

        // a Distribution upload (of a repository) is not this store's: nothing to delete
        (await store.DeleteUploadAsync(new BlobUpload(Repo, IdOf(path), null, 10, _time.GetUtcNow() - Old)))
            .Should().Be(UploadDeleteOutcome.NotFound);
        Directory.EnumerateFiles(_folder, "*", SearchOption.AllDirectories).Should().BeEquivalentTo(before);
    }

    private static List<string> TemporaryFiles(string folder) =>
        [.. Directory.EnumerateFiles(Path.Combine(folder, LiteDbStoreOptions.DefaultBlobsFolder), ".upload-*", SearchOption.AllDirectories)];

    private static byte[] ReadAll(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
