using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using LiteDB;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// Issue 13, part 3: the daemon's run history is a LiteDB file of its own. LiteDB writes to whatever it opens, so the daemon
/// refuses the store's own database as its history, and a history file that is not one, before anything is written.
/// </summary>
public class DaemonHistoryFileTests
{
    private StoreFactory _stores = null!;
    private string _folder = null!;
    private string _store = null!;

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _folder = _stores.NewFolder();
        _store = StoreFactory.Options(_folder).DatabasePath;
        LiteDbRegistryStore.Open(StoreFactory.Options(_folder, create: true)).Dispose();
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    [Test]
    public void Configuration_WhoseHistoryIsTheStoresDatabase_IsRefused_NamingBoth()
    {
        // given a configuration whose history is the database of a job's store
        var file = Config(history: "harbor-gc.db");

        // when it is loaded
        var load = () => DaemonConfigReader.Load(file, TimeProvider.System);

        // then it is a configuration error naming the file and the job
        load.Should().Throw<UsageException>().Which.Message.Should().Contain("field 'history'").And.Contain(_store).And.Contain("job 'nightly'");
    }

    [TestCase("text")]
    [TestCase("other-litedb")]
    [TestCase("store")]
    [CancelAfter(120_000)]
    public async Task Daemon_WithAHistoryFileThatIsNotAHistory_ExitsTwoNamingIt_AndChangesNothing(string kind)
    {
        // given a history path that holds a text file, another application's LiteDB database, or (by another name) the store
        var history = Path.Combine(_folder, "history.db");
        switch (kind)
        {
            case "text":
                File.WriteAllText(history, "my notes\n");
                break;
            case "other-litedb":
                using (var db = new LiteDatabase(new ConnectionString { Filename = history }))
                {
                    db.GetCollection("customers").Insert(new BsonDocument { ["name"] = "Ada" });
                }

                break;
            default:
                File.CreateSymbolicLink(history, _store);
                break;
        }

        var file = Config(history: "history.db");
        var before = FolderState.Of(_folder);

        // when the real daemon starts with it
        using var daemon = HarborGcProcess.Start(["daemon", "--config", file], _folder);
        await daemon.WaitAsync(TimeSpan.FromSeconds(60)); // it must stop at once: a daemon that started runs until it is stopped

        // then it exits 2 naming the history file, and nothing in its folder changed
        daemon.ExitCode.Should().Be(2, daemon.Output);
        daemon.Output.Should().Contain(history).And.Contain("is not a harbor-gc run history");
        FolderState.Of(_folder).Should().BeEquivalentTo(before);
    }

    private string Config(string history)
    {
        var file = Path.Combine(_folder, "daemon.json");
        File.WriteAllText(file, $$"""
            { "history": "{{history}}",
              "jobs": [ { "name": "nightly", "kind": "gc", "store": "litedb:harbor-gc.db", "schedule": "@daily", "dryRun": true } ] }
            """);
        return file;
    }
}
