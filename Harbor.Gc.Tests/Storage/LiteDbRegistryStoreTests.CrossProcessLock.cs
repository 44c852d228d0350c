using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using LiteDB;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The shared-mode store's own cross-process lock (DESIGN.md §5, "LiteDB store across processes"): an exclusive file lock on
/// <c>DATABASE.lock</c> that every operation holds, so that processes which do not share LiteDB's named mutex still take turns.
/// The process-level proof is <see cref="LiteDbSharedPushTests"/>; these pin the file and that reads and writes wait for it.
/// </summary>
public partial class LiteDbRegistryStoreTests
{
    private string LockFile => Path.Combine(_folder, "harbor-gc.db.lock");

    [Test]
    public void SharedMode_OpeningTheStore_CreatesItsLockFile_DirectModeAndAForeignFileDoNot()
    {
        // given a new store opened in direct mode, then the same store in shared mode, and a LiteDB file that is not a store
        Open().Dispose();
        File.Exists(LockFile).Should().BeFalse("direct mode takes no cross-process lock");
        Open(create: false, connection: LiteDbConnectionMode.Shared).Dispose();
        File.Exists(LockFile).Should().BeTrue();
        var foreign = Path.Combine(_folder, "foreign.db");
        using (var db = new LiteDatabase(foreign))
        {
            db.GetCollection("things").Insert(new BsonDocument { ["name"] = "not a registry" });
        }

        // when the foreign file is opened as a store in shared mode
        var act = () => LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = foreign, BlobsPath = Path.Combine(_folder, "blobs"), Connection = LiteDbConnectionMode.Shared });

        // then it is refused, and nothing is left beside it
        act.Should().Throw<InvalidDataException>();
        File.Exists(foreign + ".lock").Should().BeFalse();
    }

    [Test]
    public async Task SharedMode_ReadsAndWrites_WaitWhileAnotherProcessHoldsTheLockFile()
    {
        // given a store in shared mode with a blob, and another holder of its lock file (as a process that does not share this
        // one's named mutex holds it: a registry in a container, another /tmp)
        using var store = Open(connection: LiteDbConnectionMode.Shared);
        var blob = await PutAsync(store, "layer");
        Task<Blob?> read;
        Task<bool> write;
        using (new FileStream(LockFile, FileMode.Open, FileAccess.Read, FileShare.None))
        {
            // when the store reads the blob and marks it, on other threads
            read = Task.Run(async () => await store.GetBlobAsync(blob));
            write = Task.Run(async () => await store.TryUpdateBlobStatusAsync(blob, BlobStatusSet.None, BlobStatus.Delete, null));

            // then neither gets through while the other holder has the file...
            await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System);
            read.IsCompleted.Should().BeFalse("a read waits for the lock file");
            write.IsCompleted.Should().BeFalse("a write waits for the lock file");
        }

        // ...and both do once it lets go
        (await write.WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue();
        (await read.WaitAsync(TimeSpan.FromSeconds(30))).Should().NotBeNull();
        (await store.GetBlobAsync(blob))!.Status.Should().Be(BlobStatus.Delete);
    }

    [Test]
    public async Task SharedMode_OpeningTheStore_WhileAProcessOfAnotherTmpIsInAnOperation_WaitsForIt_InsteadOfRefusingTheStoreAsHeld()
    {
        // given a store in shared mode, and another process in the middle of a shared-mode operation on it that does not share
        // this one's named mutexes (a registry in another /tmp): it holds the lock file, and has the database open as LiteDB's
        // shared mode opens it
        Open(connection: LiteDbConnectionMode.Shared).Dispose();
        var database = Path.Combine(_folder, "harbor-gc.db");
        Task<LiteDbRegistryStore> opening;
        using (new FileStream(LockFile, FileMode.Open, FileAccess.Read, FileShare.None))
        {
            using (new FileStream(database, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
            {
                // when this process opens the store in shared mode meanwhile
                opening = Task.Run(() => Open(create: false, connection: LiteDbConnectionMode.Shared));

                // then the opening waits for the operation (it looked at the file while the other had it open, and took it for a
                // direct-mode holder: "open in another process in LiteDB's direct mode")...
                await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System);
                opening.IsCompleted.Should().BeFalse($"the opening waits for the lock file ({(opening.IsFaulted ? opening.Exception!.InnerException!.Message : "")})");
            }
        }

        // ...and opens the store once the operation is over
        using var store = await opening.WaitAsync(TimeSpan.FromSeconds(30));
        (await store.GetBlobAsync(Digest.Sha256Of("absent"u8))).Should().BeNull();
    }
}
