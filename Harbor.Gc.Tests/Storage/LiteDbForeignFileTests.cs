using System.Buffers.Binary;
using System.Text;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Daemon;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13, part 3: the LiteDB store never harms a file it did not make. LiteDB writes to whatever it opens (it cuts a file to
/// whole 8 KiB pages, writes an empty database over one it cut to nothing, marks one it fails to read as damaged), so every
/// command checks the file's own bytes first: a file that is not a Harbor.Gc store, a run history that is not one, a damaged or
/// cut-short store, is refused with exit 2 and a message that names it, and nothing in its folder changes: not a byte, not a
/// time, no log file, no claim on the blob folder.
/// </summary>
public class LiteDbForeignFileTests
{
    private static readonly string[] LiteDbInternals = ["{0}", "LiteException", "LiteDB.", "ENSURE", "PAGE_SIZE", "   at "];
    private readonly Dictionary<int, string> _templatesByScale = [];
    private StoreFactory _templates = null!;
    private StoreFactory _stores = null!;
    private string _folder = null!;

    [OneTimeSetUp]
    public void CreateTemplates() => _templates = new StoreFactory(StoreKind.LiteDb);

    [OneTimeTearDown]
    public void DeleteTemplates() => _templates.Dispose();

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _folder = _stores.NewFolder();
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    /// <summary>Files that are not a Harbor.Gc store: not a database at all, another database, another application's LiteDB file.</summary>
    public static IEnumerable<TestCaseData> ForeignFiles()
    {
        yield return new TestCaseData("empty", "the file is empty").SetArgDisplayNames("empty file");
        yield return new TestCaseData("text", "not a LiteDB 5 database").SetArgDisplayNames("small text file");
        yield return new TestCaseData("random-8191", "not a LiteDB 5 database").SetArgDisplayNames("8,191 random bytes");
        yield return new TestCaseData("random-12000", "not a LiteDB 5 database").SetArgDisplayNames("12,000 random bytes");
        yield return new TestCaseData("sqlite", "a SQLite database").SetArgDisplayNames("SQLite database");
        yield return new TestCaseData("litedb-4", "a LiteDB 4 database").SetArgDisplayNames("LiteDB 4 database header");
        yield return new TestCaseData("encrypted-litedb", "an encrypted LiteDB database").SetArgDisplayNames("encrypted LiteDB database");
        yield return new TestCaseData("other-litedb", "a LiteDB database of another application (collections: customers)").SetArgDisplayNames("another application's LiteDB database");
        yield return new TestCaseData("empty-litedb", "an empty LiteDB database").SetArgDisplayNames("empty LiteDB database");
    }

    /// <summary>Harbor.Gc stores that are damaged: cut short (in a page, at a page), a page overwritten, marked damaged by LiteDB.</summary>
    public static IEnumerable<TestCaseData> DamagedStores()
    {
        yield return new TestCaseData("cut-in-a-page", "is damaged: it is a LiteDB database cut short").SetArgDisplayNames("store cut inside a page");
        yield return new TestCaseData("cut-at-a-page", "is damaged: it is a LiteDB database cut short").SetArgDisplayNames("store cut at a page boundary");
        yield return new TestCaseData("corrupted-page", "is damaged: LiteDB could not read it").SetArgDisplayNames("store with a page of artifacts overwritten");
        yield return new TestCaseData("marked-damaged", "is damaged: LiteDB marked it damaged").SetArgDisplayNames("store LiteDB marked damaged");
    }

    [TestCaseSource(nameof(ForeignFiles))]
    public async Task EveryStoreCommand_OnAFileThatIsNotAStore_ExitsTwoNamingIt_AndChangesNothing(string kind, string what)
    {
        // given a file that is not a store, with a blob folder beside it as a store would have
        var file = Path.Combine(_folder, "file.db");
        WriteForeignFile(file, kind);
        Directory.CreateDirectory(Path.Combine(_folder, LiteDbStoreOptions.DefaultBlobsFolder));
        var policy = Path.Combine(_stores.NewFolder(), "policy.json");
        File.WriteAllText(policy, DaemonConfigTests.Policy);
        var before = FolderState.Of(_folder);

        foreach (var command in new[]
        {
            new[] { "gc", "--dry-run" }, ["gc"], ["gc", "--time-window", "0"], ["explain", "sha256:" + new string('a', 64)],
            ["retention", "run", "--policy", policy, "--dry-run"], ["retention", "run", "--policy", policy],
        })
        {
            // when a command opens it as its store
            var (code, _, errors) = await GcCommandTests.Run([.. command, "--store", $"litedb:{file}"]);

            // then it exits 2 with a message that names the file and says what it is, and nothing in its folder changed
            var because = $"harbor-gc {string.Join(' ', command)} on {kind}: {errors}";
            code.Should().Be(2, because);
            errors.Should().Contain(file, because).And.Contain(what, because);
            errors.Should().NotContainAny(LiteDbInternals, because);
            FolderState.Of(_folder).Should().BeEquivalentTo(before, because);
        }
    }

    [TestCaseSource(nameof(ForeignFiles))]
    public async Task HistoryAndShow_OnAFileThatIsNotAHistory_ExitTwoNamingIt_AndChangeNothing(string kind, string what)
    {
        // given a file that is not a run history, and a real store for a manual run to record in it
        var file = Path.Combine(_folder, "history.db");
        WriteForeignFile(file, kind);
        var store = NewStore();
        var before = FolderState.Of(_folder);

        foreach (var command in new[] { new[] { "history" }, ["show", "1"], ["gc", "--dry-run", "--store", $"litedb:{store}"] })
        {
            // when a command reads or records the history there
            var (code, _, errors) = await GcCommandTests.Run([.. command, "--history", file]);

            // then it exits 2 naming the file, and nothing changed
            var because = $"harbor-gc {string.Join(' ', command)} on {kind}: {errors}";
            code.Should().Be(2, because);
            errors.Should().Contain(file, because).And.Contain(what, because);
            errors.Should().NotContainAny(LiteDbInternals, because);
            FolderState.Of(_folder).Should().BeEquivalentTo(before, because);
        }
    }

    /// <summary>A store's own database as a run history: LiteDB would add the runs to the registry's metadata.</summary>
    [Test]
    public async Task HistoryCommands_OnAStoresDatabase_ExitTwo_AndLeaveTheStoreAsItWas()
    {
        var store = NewStore();
        var folder = Path.GetDirectoryName(store)!;
        var before = FolderState.Of(folder);

        foreach (var command in new[] { new[] { "history" }, ["show", "1"], ["gc", "--dry-run", "--store", $"litedb:{store}"] })
        {
            var (code, _, errors) = await GcCommandTests.Run([.. command, "--history", store]);

            code.Should().Be(2, errors);
            errors.Should().Contain(store).And.Contain("is a Harbor.Gc store").And.NotContainAny(LiteDbInternals);
            FolderState.Of(folder).Should().BeEquivalentTo(before);
        }
    }

    /// <summary>And the other way round: a run history given as the store.</summary>
    [Test]
    public async Task Gc_OnARunHistory_ExitsTwo_NamingIt_AndLeavesItAsItWas()
    {
        var history = Path.Combine(_folder, "history.db");
        RunHistory.Open(history, create: true).Dispose();
        Directory.CreateDirectory(Path.Combine(_folder, LiteDbStoreOptions.DefaultBlobsFolder));
        var before = FolderState.Of(_folder);

        var (code, _, errors) = await GcCommandTests.Run("gc", "--store", $"litedb:{history}");

        code.Should().Be(2, errors);
        errors.Should().Contain(history).And.Contain("it is a harbor-gc run history");
        FolderState.Of(_folder).Should().BeEquivalentTo(before);
    }

    [TestCaseSource(nameof(DamagedStores))]
    public async Task DamagedStore_DryRunAndExplain_ExitTwoWithAReadableMessage_AndChangeNothing(string kind, string what)
    {
        // given a real store, damaged
        var store = NewStore(artifacts: 400);
        Damage(store, kind);
        var folder = Path.GetDirectoryName(store)!;
        var before = FolderState.Of(folder);

        foreach (var command in new[] { new[] { "gc", "--dry-run" }, ["explain", "sha256:" + new string('a', 64)] })
        {
            // when a command that only reads opens it
            var (code, _, errors) = await GcCommandTests.Run([.. command, "--store", $"litedb:{store}"]);

            // then it exits 2 with a message naming the file and saying what is wrong in words, and nothing changed
            var because = $"harbor-gc {string.Join(' ', command)} on a {kind} store: {errors}";
            TestContext.Out.WriteLine(because);
            code.Should().Be(2, because);
            errors.Should().Contain(store, because).And.Contain(what, because);
            errors.Should().NotContainAny(LiteDbInternals, because);
            FolderState.Of(folder).Should().BeEquivalentTo(before, because);
        }
    }

    [TestCaseSource(nameof(DamagedStores))]
    public async Task DamagedStore_RealRun_ExitsTwoWithAReadableMessage_AndDeletesNothing(string kind, string what)
    {
        // given a real store, damaged, whose blob files are all there
        var store = NewStore(artifacts: 400);
        Damage(store, kind);
        var blobs = FolderState.Of(Path.Combine(Path.GetDirectoryName(store)!, LiteDbStoreOptions.DefaultBlobsFolder));

        // when a real run opens it
        var (code, _, errors) = await GcCommandTests.Run("gc", "--time-window", "0", "--store", $"litedb:{store}");

        // then it exits 2 naming the file in words, and no blob file was deleted
        TestContext.Out.WriteLine(errors);
        code.Should().Be(2, errors);
        errors.Should().Contain(store).And.Contain(what).And.NotContainAny(LiteDbInternals);
        FolderState.Of(Path.Combine(Path.GetDirectoryName(store)!, LiteDbStoreOptions.DefaultBlobsFolder)).Should().BeEquivalentTo(blobs);
    }

    /// <summary>A store in a folder of its own (a copy of one written and closed once per fixture); returns its database file.</summary>
    private string NewStore(int artifacts = 20)
    {
        var scale = Math.Max(1, artifacts / 15);
        lock (_templatesByScale)
        {
            if (!_templatesByScale.TryGetValue(scale, out var template))
            {
                template = _templates.NewFolder();
                var time = new ManualClock(RandomRegistry.Now);
                using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(template, create: true), time)))
                {
                    RandomRegistry.Fill(store, time, seed: 13, scale: scale);
                }

                _templatesByScale.Add(scale, template);
            }

            var folder = _stores.NewFolder();
            StoreFactory.CopyFolder(template, folder);
            return StoreFactory.Options(folder).DatabasePath;
        }
    }

    private static void WriteForeignFile(string file, string kind)
    {
        switch (kind)
        {
            case "empty":
                File.WriteAllBytes(file, []);
                break;
            case "text":
                File.WriteAllText(file, "these are my notes, not a database\n");
                break;
            case "random-8191":
                File.WriteAllBytes(file, RandomBytes(8_191));
                break;
            case "random-12000":
                File.WriteAllBytes(file, RandomBytes(12_000));
                break;
            case "sqlite":
                File.WriteAllBytes(file, EmptySqliteDatabase());
                break;
            case "litedb-4":
                // LiteDB 4's first page: 4 KiB, a 25-byte page header, then the same text as LiteDB 5 and file version 7
                var page = new byte[4096];
                Encoding.ASCII.GetBytes("** This is a LiteDB file **").CopyTo(page, 25);
                page[52] = 7;
                File.WriteAllBytes(file, page);
                break;
            case "encrypted-litedb":
                using (var db = new LiteDatabase(new ConnectionString { Filename = file, Password = "secret" }))
                {
                    db.GetCollection("meta").Insert(new BsonDocument { ["_id"] = "schema", ["value"] = 1 });
                }

                break;
            case "other-litedb":
                using (var db = new LiteDatabase(new ConnectionString { Filename = file }))
                {
                    db.GetCollection("customers").Insert(new BsonDocument { ["name"] = "Ada" });
                }

                break;
            case "empty-litedb":
                new LiteDatabase(new ConnectionString { Filename = file }).Dispose();
                break;
            default:
                throw new ArgumentException(kind, nameof(kind));
        }

        File.SetLastWriteTimeUtc(file, new DateTime(2024, 5, 1, 0, 0, 0, DateTimeKind.Utc)); // an old file: a rewrite would show
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(count).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A valid empty SQLite 3 database of one 4 KiB page (the 100-byte header and an empty schema table), as sqlite3 writes it.</summary>
    private static byte[] EmptySqliteDatabase()
    {
        var page = new byte[4096];
        Encoding.ASCII.GetBytes("SQLite format 3\0").CopyTo(page, 0);
        BinaryPrimitives.WriteUInt16BigEndian(page.AsSpan(16), 4096); // page size
        page[18] = 1; // file format write version: legacy
        page[19] = 1; // read version
        page[21] = 64; // maximum embedded payload fraction
        page[22] = 32; // minimum
        page[23] = 32; // leaf payload fraction
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(24), 1); // change counter
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(28), 1); // pages
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(44), 4); // schema format
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(56), 1); // UTF-8
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(92), 1); // version-valid-for
        BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(96), 3_040_001); // SQLite version
        page[100] = 0x0D; // the schema table: a leaf page of a table b-tree, no cells
        BinaryPrimitives.WriteUInt16BigEndian(page.AsSpan(105), 4096); // cell content starts at the page's end
        return page;
    }

    /// <summary>Damages a closed store's database file as <paramref name="kind"/> says.</summary>
    private static void Damage(string database, string kind)
    {
        const int pageSize = 8192;
        var bytes = File.ReadAllBytes(database);
        switch (kind)
        {
            case "cut-in-a-page":
                File.WriteAllBytes(database, bytes[..(bytes.Length * 3 / 5 / pageSize * pageSize + 1234)]);
                break;
            case "cut-at-a-page":
                File.WriteAllBytes(database, bytes[..(bytes.Length / 2 / pageSize * pageSize)]);
                break;
            case "corrupted-page":
                // a data page of the artifacts collection: its documents are what every run reads
                var collections = BsonSerializer.Deserialize(bytes[192..(192 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(192)))]);
                var artifactsPage = (uint)collections["artifacts"].AsInt32;
                var page = Enumerable.Range(1, (bytes.Length / pageSize) - 1)
                    .First(p => bytes[(p * pageSize) + 4] == 4 /* data */ && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((p * pageSize) + 19)) == artifactsPage);
                new Random(page).NextBytes(bytes.AsSpan((page * pageSize) + 32, pageSize - 32));
                File.WriteAllBytes(database, bytes);
                break;
            case "marked-damaged":
                bytes[191] = 1;
                File.WriteAllBytes(database, bytes);
                break;
            default:
                throw new ArgumentException(kind, nameof(kind));
        }
    }
}
