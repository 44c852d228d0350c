using System.Text;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage.Drivers;

/// <summary>
/// The file-system storage driver (issue 13 §2): the only code that touches the file system for the registry layout. Every case
/// runs on the Linux driver (system calls that never follow a link or block on a FIFO) and on the portable one.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
internal class FileSystemStorageDriverTests(bool portable) : StorageDriverTestBase(portable)
{
    [Test]
    public void List_SaysWhatEachEntryIs_WithoutFollowingLinks()
    {
        Directory.CreateSymbolicLink(Path.Combine(Root, "a", "link"), Outside);
        File.CreateSymbolicLink(Path.Combine(Root, "a", "filelink"), Path.Combine(Outside, "precious"));
        File.WriteAllText(Path.Combine(Root, "a", "plain"), "x");

        var entries = Driver.List("a")!.ToDictionary(e => e.Name, e => e.Kind);

        entries.Should().BeEquivalentTo(new Dictionary<string, StorageEntryKind>
        {
            ["b"] = StorageEntryKind.Directory,
            ["link"] = StorageEntryKind.SymbolicLink,
            ["filelink"] = StorageEntryKind.SymbolicLink,
            ["plain"] = StorageEntryKind.File,
        });
        Driver.List("missing").Should().BeNull();
        Driver.List("a/plain").Should().BeNull("a file is no folder to list");
        var list = () => Driver.List("a/link");
        list.Should().Throw<StorageLinkException>().Which.Path.Should().Be(Path.Combine(Root, "a", "link"));
    }

    [Test]
    public void Stat_ReportsALinkAsALink_AndNothingAsNull()
    {
        File.CreateSymbolicLink(Path.Combine(Root, "a", "filelink"), Path.Combine(Outside, "precious"));

        Driver.Stat("a/filelink")!.Value.Kind.Should().Be(StorageEntryKind.SymbolicLink);
        Driver.Stat("a/b/file").Should().BeEquivalentTo(new { Kind = StorageEntryKind.File, Size = 6L });
        Driver.Stat("a/b")!.Value.Kind.Should().Be(StorageEntryKind.Directory);
        Driver.Stat("a/nothing").Should().BeNull();
        Driver.Stat("a/b/file/under-a-file").Should().BeNull();
    }

    [Test]
    public void Read_ReadsARegularFile_WithItsTime()
    {
        var written = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(Path.Combine(Root, "a", "b", "file"), written);

        var result = Driver.Read("a/b/file", 100);

        result.Status.Should().Be(StorageReadStatus.Read);
        Encoding.ASCII.GetString(result.Content).Should().Be("inside");
        result.Stat.ModifiedAt.Should().Be(new DateTimeOffset(written));
    }

    [Test]
    public void Read_NeverOpensALinkAFolderOrAFifo_AndNeverReadsPastTheCap()
    {
        File.CreateSymbolicLink(Path.Combine(Root, "a", "filelink"), Path.Combine(Outside, "precious"));
        using (var big = File.Create(Path.Combine(Root, "a", "huge")))
        {
            big.SetLength(5L << 30); // 5 GiB, sparse: nothing is written, and nothing must be read
        }

        Driver.Read("a/filelink", 100).Should().BeEquivalentTo(new { Status = StorageReadStatus.NotAFile, Stat = new { Kind = StorageEntryKind.SymbolicLink } });
        Driver.Read("a/b", 100).Should().BeEquivalentTo(new { Status = StorageReadStatus.NotAFile, Stat = new { Kind = StorageEntryKind.Directory } });
        Driver.Read("a/huge", 4 << 20).Should().BeEquivalentTo(new { Status = StorageReadStatus.TooLarge, Stat = new { Size = 5L << 30 } });
        Driver.Read("a/b/file", 3).Status.Should().Be(StorageReadStatus.TooLarge);
        Driver.Read("a/missing", 100).Status.Should().Be(StorageReadStatus.Missing);
        Driver.Read("a/b/file/under-a-file", 100).Status.Should().Be(StorageReadStatus.Missing);
    }

    [Test]
    public void Delete_RemovesAFolderWithAllItHolds_AndWhatIsNotThereIsDone()
    {
        Driver.Delete("a/b");

        Directory.Exists(Path.Combine(Root, "a", "b")).Should().BeFalse();
        Driver.Delete("a/b");
        Driver.Delete("no/such/folder");
        var root = () => Driver.Delete(string.Empty);
        root.Should().Throw<StorageRefusedException>();
    }

    [TestCase("a/link/precious", Description = "a folder on the way is a link out of the root")]
    [TestCase("a/link", Description = "the path is itself a link")]
    public void Delete_NeverThroughALink(string path)
    {
        Directory.CreateSymbolicLink(Path.Combine(Root, "a", "link"), Outside);

        var delete = () => Driver.Delete(path);

        delete.Should().Throw<StorageRefusedException>().Which.Message.Should().Contain(Path.Combine(Root, "a", "link"));
        File.ReadAllText(Path.Combine(Outside, "precious")).Should().Be("outside");
        Directory.Exists(Path.Combine(Root, "a", "link")).Should().BeTrue("the link itself is not removed either");
    }

    [Test]
    public void Delete_OfAFolderHoldingALink_IsRefused_AndWhatTheLinkReachesIsUntouched()
    {
        Directory.CreateSymbolicLink(Path.Combine(Root, "a", "b", "inner"), Outside);

        var delete = () => Driver.Delete("a");

        delete.Should().Throw<StorageRefusedException>().Which.Path.Should().Be(Path.Combine(Root, "a", "b", "inner"));
        File.ReadAllText(Path.Combine(Outside, "precious")).Should().Be("outside");
    }

    [Test]
    public void Move_RenamesIntoNewFolders_NeverOverSomething_NeverThroughALink()
    {
        Driver.Move("a/b", "q/1/a/b").Should().Be(StorageMoveOutcome.Moved);
        File.ReadAllText(Path.Combine(Root, "q", "1", "a", "b", "file")).Should().Be("inside");
        Driver.Move("a/b", "q/2/a/b").Should().Be(StorageMoveOutcome.SourceMissing);

        Directory.CreateDirectory(Path.Combine(Root, "a", "b"));
        Driver.Move("a/b", "q/1/a/b").Should().Be(StorageMoveOutcome.TargetExists);
        Directory.Exists(Path.Combine(Root, "a", "b")).Should().BeTrue();

        Directory.CreateSymbolicLink(Path.Combine(Root, "q", "link"), Outside);
        var intoLink = () => Driver.Move("a/b", "q/link/b");
        intoLink.Should().Throw<StorageRefusedException>();
        Directory.Exists(Path.Combine(Outside, "b")).Should().BeFalse();
        var aLink = () => Driver.Move("q/link", "q/3/link");
        aLink.Should().Throw<StorageRefusedException>();
    }

    [Test]
    public void TryLock_IsExclusive_UntilDisposed()
    {
        using (var first = Driver.TryLock(string.Empty))
        {
            first.Should().NotBeNull();
            Driver.TryLock(string.Empty).Should().BeNull("another holder (here another open of the folder) is refused");
        }

        using var again = Driver.TryLock(string.Empty);
        again.Should().NotBeNull("disposing releases the lock");
        Directory.CreateSymbolicLink(Path.Combine(Root, "link"), Outside);
        var link = () => Driver.TryLock("link");
        link.Should().Throw<StorageRefusedException>();
    }

    [Test]
    public void Open_ResolvesALinkAboveTheRoot_Once()
    {
        var alias = Path.Combine(Work, "alias");
        Directory.CreateSymbolicLink(alias, Root);

        var driver = FileSystemStorageDriver.Open(alias, Portable);

        driver.Root.Should().Be(FileSystemStorageDriver.Resolve(Root));
        driver.Stat("a/b/file")!.Value.Kind.Should().Be(StorageEntryKind.File);
        driver.Delete("a/b/file");
        File.Exists(Path.Combine(Root, "a", "b", "file")).Should().BeFalse();
    }
}

/// <summary>
/// What only the Linux driver can promise: it sees a FIFO for what it is (the portable driver cannot tell one from a file, and a
/// FIFO swapped in between its type check and its open would block it).
/// </summary>
internal class LinuxStorageDriverTests() : StorageDriverTestBase(portable: false)
{

    [Test]
    public void List_FifoIsOther_AndANameThatIsNotUtf8IsEscapedAndFlagged()
    {
        HostileFiles.MakeFifo(Path.Combine(Root, "a", "fifo"));
        var escaped = HostileFiles.MakeFolderWithByteName(Path.Combine(Root, "a"), 0xff, "inside");

        var entries = Driver.List("a")!;

        entries.Should().ContainEquivalentOf(new StorageListEntry("fifo", StorageEntryKind.Other));
        entries.Should().ContainEquivalentOf(new StorageListEntry(@"\xff", StorageEntryKind.Directory, HasValidName: false));
        escaped.Should().Be(Path.Combine(Root, "a") + @"/\xff");
    }

    [Test]
    [CancelAfter(20_000)]
    public async Task Read_OfAFifo_ReturnsAtOnce_InsteadOfWaitingForAWriter()
    {
        HostileFiles.MakeFifo(Path.Combine(Root, "a", "fifo"));

        // on a thread of its own, so that a read that blocks fails the test instead of hanging it
        var read = Task.Factory.StartNew(() => Driver.Read("a/fifo", 100), TaskCreationOptions.LongRunning);
        var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(10), TimeProvider.System));

        finished.Should().BeSameAs(read, "opening a FIFO for reading blocks until a writer comes; the driver must not");
        (await read).Should().BeEquivalentTo(new { Status = StorageReadStatus.NotAFile, Stat = new { Kind = StorageEntryKind.Other } });
    }

    [Test]
    public void Delete_OfAFolderHoldingAFifo_IsRefused()
    {
        HostileFiles.MakeFifo(Path.Combine(Root, "a", "b", "fifo"));

        var delete = () => Driver.Delete("a/b");

        delete.Should().Throw<StorageRefusedException>().Which.Path.Should().Be(Path.Combine(Root, "a", "b", "fifo"));
    }
}

/// <summary>A temporary root with a folder outside it, and a driver over the root.</summary>
internal abstract class StorageDriverTestBase(bool portable)
{
    protected string Work = null!;
    protected string Root = null!;
    protected string Outside = null!;
    protected IStorageDriver Driver = null!;

    [SetUp]
    public void SetUp()
    {
        if (!Portable && !LinuxNative.IsAvailable)
        {
            Assert.Ignore("the Linux driver needs Linux on x86-64 or arm64");
        }

        Work = Path.Combine(Path.GetTempPath(), "harbor-gc-driver-" + Guid.NewGuid().ToString("N"));
        Root = Path.Combine(Work, "root");
        Outside = Path.Combine(Work, "outside");
        Directory.CreateDirectory(Path.Combine(Root, "a", "b"));
        Directory.CreateDirectory(Outside);
        File.WriteAllText(Path.Combine(Root, "a", "b", "file"), "inside");
        File.WriteAllText(Path.Combine(Outside, "precious"), "outside");
        Driver = FileSystemStorageDriver.Open(Root, Portable);
    }

    [TearDown]
    public void TearDown()
    {
        if (Work is not null)
        {
            HostileFiles.RemoveFolder(Work);
        }
    }

    protected bool Portable { get; } = portable;
}
