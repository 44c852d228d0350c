using System.Text.Json;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13, part 3: a LiteDB store and a second, real process. LiteDB's direct mode assumes it is the file's only user: another
/// process that opens the file anyway corrupts it, and the direct-mode process then fails its writes. So harbor-gc refuses a
/// store another process holds in direct mode, an embedder opening in direct mode refuses a store another process has open, and
/// a dry run, which opens read-only, reads a store a killed writer left with a pending log without changing it.
/// </summary>
[NonParallelizable] // child processes: alone on the machine's two cores
public class LiteDbSecondProcessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120); // a safety net; each step takes seconds
    private StoreFactory _stores = null!;
    private string _folder = null!;
    private string _database = null!;

    [SetUp]
    public void SetUp()
    {
        _stores = new StoreFactory(StoreKind.LiteDb);
        _folder = _stores.NewFolder();
        _database = StoreFactory.Options(_folder).DatabasePath;
        var time = new ManualClock(RandomRegistry.Now);
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(_folder, create: true), time));
        RandomRegistry.Fill(store, time, seed: 7, scale: 2);
    }

    [TearDown]
    public void TearDown() => _stores.Dispose();

    [Test]
    [CancelAfter(300_000)]
    public async Task StoreHeldInDirectModeByAnEmbedder_HarborGcExitsTwoNamingIt_AndTheEmbedderLosesNoWrite()
    {
        // given an embedding application that has the store open in direct mode and pushes all the while
        using var embedder = await StartHolderAsync("direct");

        // when harbor-gc plans, and collects, on the store
        foreach (var args in new[] { new[] { "gc", "--delete-untagged", "true", "--dry-run" }, ["gc", "--delete-untagged", "true", "--time-window", "0"] })
        {
            using var cli = HarborGcProcess.Start([.. args, "--store", $"litedb:{_database}"], _folder);
            await cli.WaitAsync(Bound);

            // then it exits 2 saying another process has the store open in direct mode
            cli.ExitCode.Should().Be(2, cli.Output);
            cli.Output.Should().Contain(_database).And.Contain("open in another process in LiteDB's direct mode");
        }

        // and another embedder opening it in direct mode, or in shared mode, is refused too
        foreach (var mode in new[] { LiteDbConnectionMode.Direct, LiteDbConnectionMode.Shared })
        {
            var open = () => LiteDbRegistryStore.Open(StoreFactory.Options(_folder, connection: mode));
            open.Should().Throw<LiteDbStoreInUseException>().Which.Message.Should().Contain(_database).And.Contain("open in another process");
        }

        // and the embedder never failed a write, and what it wrote is there
        var (writes, output) = await StopHolderAsync(embedder);
        writes.Should().BeGreaterThan(0, output);
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(_folder)));
        store.GetTags().Where(t => t.Repository.Value == "holder/app").Should().NotBeEmpty();
    }

    [Test]
    [CancelAfter(300_000)]
    public async Task StoreHeldByAnotherProgramWithLiteDbInDirectMode_HarborGcExitsTwo()
    {
        // given a program that opened the database file with LiteDB itself, in direct mode, not through the store
        using var holder = await StartHolderAsync("litedb-direct");

        // when harbor-gc plans on the store
        using var cli = HarborGcProcess.Start(["gc", "--delete-untagged", "true", "--dry-run", "--store", $"litedb:{_database}"], _folder);
        await cli.WaitAsync(Bound);

        // then it exits 2 naming the file
        cli.ExitCode.Should().Be(2, cli.Output);
        cli.Output.Should().Contain(_database).And.Contain("direct mode");
        await StopHolderAsync(holder);
    }

    [Test]
    [CancelAfter(300_000)]
    public async Task StoreOpenInSharedModeInAnotherProcess_OpeningItInDirectMode_IsRefused_WhileSharedOpenersGoOn()
    {
        // given a registry process that has the store open in shared mode (as harbor-gc has it during a run) and pushes
        using var registry = await StartHolderAsync("shared");

        // when an embedder opens the store in direct mode
        var direct = () => LiteDbRegistryStore.Open(StoreFactory.Options(_folder, connection: LiteDbConnectionMode.Direct));

        // then it is refused, naming the file; and a shared-mode opener is not
        direct.Should().Throw<LiteDbStoreInUseException>().Which.Message.Should().Contain(_database).And.Contain("is open in another process");
        using (var shared = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(_folder, connection: LiteDbConnectionMode.Shared))))
        {
            shared.GetArtifacts().Should().NotBeEmpty();
            // the registry goes on writing: wait for its first push to show (on a loaded machine it may not have made one yet)
            using var waiting = new CancellationTokenSource(Bound);
            while (!shared.GetTags().Any(t => t.Repository.Value == "holder/app"))
            {
                registry.Process.HasExited.Should().BeFalse(registry.Process.Output);
                await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, waiting.Token);
            }
        }

        var (writes, output) = await StopHolderAsync(registry);
        writes.Should().BeGreaterThan(0, output);
        direct().Dispose(); // once the registry has closed it
    }

    [Test]
    [CancelAfter(300_000)]
    public async Task DryRun_OnAStoreAKilledWriterLeftWithAPendingLog_ReadsTheLog_AndChangesNothing()
    {
        // given a store whose writer was killed (SIGKILL) after some pushes: its last transactions are only in the log beside it
        // (killed just after a checkpoint, the log is empty, and LiteDB removes an empty log when it closes a database, even
        // read-only: the writer is started again until the kill leaves transactions in the log)
        var log = LiteDbFile.LogPath(_database);
        for (var attempt = 1; !File.Exists(log) || new FileInfo(log).Length == 0; attempt++)
        {
            attempt.Should().BeLessThanOrEqualTo(10, "a killed writer leaves a log with transactions in it");
            using var killed = await StartHolderAsync("direct");
            await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System); // some pushes
            killed.Kill();
            await killed.WaitAsync(Bound);
        }

        File.Exists(log).Should().BeTrue("the killed writer's log is what this test is about");
        var report = Path.Combine(_stores.NewFolder(), "plan.json");
        var before = FolderState.Of(_folder);

        // when harbor-gc makes a dry run, explains a digest, and makes a retention dry run
        using (var cli = HarborGcProcess.Start(["gc", "--delete-untagged", "true", "--dry-run", "--time-window", "0", "--store", $"litedb:{_database}", "--report-json", report], _folder))
        {
            await cli.WaitAsync(Bound);
            cli.ExitCode.Should().Be(0, cli.Output);
        }

        using (var cli = HarborGcProcess.Start(["explain", "sha256:" + new string('a', 64), "--store", $"litedb:{_database}"], _folder))
        {
            await cli.WaitAsync(Bound);
            cli.ExitCode.Should().Be(2, cli.Output);
            cli.Output.Should().Contain("is not in the store");
        }

        var policy = Path.Combine(_stores.NewFolder(), "policy.json");
        File.WriteAllText(policy, Harbor.Gc.Tests.Daemon.DaemonConfigTests.Policy);
        using (var cli = HarborGcProcess.Start(["retention", "run", "--dry-run", "--policy", policy, "--store", $"litedb:{_database}"], _folder))
        {
            await cli.WaitAsync(Bound);
            cli.ExitCode.Should().Be(0, cli.Output);
        }

        // and the daemon checks its configuration, which names the store
        var config = Path.Combine(Path.GetDirectoryName(policy)!, "daemon.json");
        File.WriteAllText(config, $$"""{ "jobs": [ { "name": "gc", "kind": "gc", "deleteUntagged": true, "store": "litedb:{{_database}}", "schedule": "@daily" } ] }""");
        Harbor.Gc.Runner.Daemon.DaemonConfigReader.Load(config, TimeProvider.System).Jobs.Should().ContainSingle();

        // then the plan has what only the log holds (the killed writer's untagged images), and not a byte, time or file changed
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        json.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => a.GetProperty("repository").GetString()).Should().Contain("holder/app");
        FolderState.Of(_folder).Should().BeEquivalentTo(before, "a dry run opens the store read-only: LiteDB's checkpoint on close would write the log into the file");
    }

    /// <summary>Starts <c>Harbor.Gc.Tests hold MODE</c> on the store and waits until it holds it.</summary>
    private async Task<Holder> StartHolderAsync(string mode)
    {
        var signals = _stores.NewFolder();
        var ready = Path.Combine(signals, "ready");
        var holder = new Holder(HarborGcProcess.StartTestProgram(["hold", mode, _database, ready, Path.Combine(signals, "stop")], _folder), Path.Combine(signals, "stop"));
        using var waiting = new CancellationTokenSource(Bound);
        while (!File.Exists(ready))
        {
            holder.Process.HasExited.Should().BeFalse($"the {mode} holder must start: {holder.Process.Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, waiting.Token);
        }

        return holder;
    }

    /// <summary>Tells a holder to stop, waits for it, and returns how many writes it made; it must have failed none.</summary>
    private static async Task<(int Writes, string Output)> StopHolderAsync(Holder holder)
    {
        File.WriteAllText(holder.Stop, "stop");
        await holder.Process.WaitAsync(Bound);
        holder.Process.ExitCode.Should().Be(0, $"the holder must not fail a write: {holder.Process.Output}");
        var writes = holder.Process.StandardOutput.Split(' ', '\n').FirstOrDefault(w => w.StartsWith("writes=", StringComparison.Ordinal)) is { } w
            ? int.Parse(w["writes=".Length..], System.Globalization.CultureInfo.InvariantCulture)
            : 0;
        return (writes, holder.Process.Output);
    }

    /// <summary>A holder child process and the file that tells it to stop.</summary>
    private sealed record Holder(HarborGcProcess Process, string Stop) : IDisposable
    {
        public void Kill() => Process.Kill();

        public Task WaitAsync(TimeSpan timeout) => Process.WaitAsync(timeout);

        public void Dispose() => Process.Dispose();
    }
}
