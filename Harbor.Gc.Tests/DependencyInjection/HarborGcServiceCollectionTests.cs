using Harbor.Gc.Collection;
using Harbor.Gc.DependencyInjection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.InMemory;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.DependencyInjection;

/// <summary><c>services.AddHarborGc(...)</c>: what the container resolves for each store kind, option binding and validation, the registered clock and logger.</summary>
public class HarborGcServiceCollectionTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 30, 0, TimeSpan.Zero);

    private StoreFactory _folders = null!;
    private int _n;

    [SetUp]
    public void CreateFolders() => _folders = new StoreFactory(StoreKind.LiteDb);

    [TearDown]
    public void DeleteFolders() => _folders.Dispose();

    [TestCase(HarborGcStoreKind.LiteDb)]
    [TestCase(HarborGcStoreKind.InMemory)]
    public async Task GivenAWritableStore_WhenTheContainerIsBuilt_ThenItResolvesOneStore_TheCollector_AndTheRegistryApi(HarborGcStoreKind kind)
    {
        var services = new ServiceCollection();
        var path = DatabasePath();
        services.AddHarborGc(o => _ = kind == HarborGcStoreKind.LiteDb ? o.Store.UseLiteDb(path, LiteDbConnectionMode.Direct) : o.Store.UseInMemory());
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var store = provider.GetRequiredService<IRegistryStore>();
        store.Should().BeOfType(kind == HarborGcStoreKind.LiteDb ? typeof(LiteDbRegistryStore) : typeof(InMemoryRegistryStore));
        provider.GetRequiredService<IWritableRegistryStore>().Should().BeSameAs(store);
        provider.GetRequiredService<RegistryApi>().Store.Should().BeSameAs(store);
        provider.GetRequiredService<TimeProvider>().Should().BeSameAs(TimeProvider.System);
        provider.GetRequiredService<ITagImmutability>().Should().BeSameAs(ImmutabilityRules.None);
        provider.GetRequiredService<GarbageCollector>().Should().BeSameAs(provider.GetRequiredService<GarbageCollector>());
        if (kind == HarborGcStoreKind.LiteDb)
        {
            File.Exists(path).Should().BeTrue("CreateIfMissing is on by default: the embedding registry owns its store");
        }
    }

    [Test]
    public async Task GivenADistributionRoot_WhenTheContainerIsBuilt_ThenTheCollectorRuns_ButTheRegistryApiIsRefusedAsReadOnly()
    {
        var root = _folders.NewFolder();
        Directory.CreateDirectory(Path.Combine(root, "docker", "registry", "v2"));
        var services = new ServiceCollection();
        services.AddHarborGc(o => o.Store.UseDistribution(root));
        await using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<IRegistryStore>().Should().BeOfType<DistributionRegistryStore>();
        var result = await provider.GetRequiredService<GarbageCollector>().RunAsync(new GcOptions { DryRun = true });
        result.Plan.Store.Should().Be($"distribution:{Path.GetFullPath(root)}");

        var api = () => provider.GetRequiredService<RegistryApi>();
        api.Should().Throw<InvalidOperationException>().WithMessage("*(HarborGc:Store:Kind = Distribution) is read-only*LiteDb, Postgres or InMemory*");
    }

    [Test]
    public async Task GivenADistributionGracePeriod_WhenBound_ThenTheStoreWaitsIt_AndANegativeOneIsListed()
    {
        // given a Distribution store configured with a grace period, and one configured with a negative one
        var root = _folders.NewFolder();
        Directory.CreateDirectory(Path.Combine(root, "docker", "registry", "v2"));
        var services = new ServiceCollection();
        services.AddHarborGc(Configuration(new() { ["HarborGc:Store:Kind"] = "Distribution", ["HarborGc:Store:Root"] = root, ["HarborGc:Store:GracePeriod"] = "00:00:05" }));
        var bad = new ServiceCollection();
        bad.AddHarborGc(o => o.Store.UseDistribution(root).GracePeriod = TimeSpan.FromSeconds(-1));
        await using var provider = services.BuildServiceProvider();
        await using var badProvider = bad.BuildServiceProvider();

        // when the stores are resolved
        var store = provider.GetRequiredService<IRegistryStore>();
        var refused = () => badProvider.GetRequiredService<IRegistryStore>();

        // then the first waits what was configured, and the second is refused naming the key and the value
        store.Should().BeOfType<DistributionRegistryStore>().Which.GracePeriod.Should().Be(TimeSpan.FromSeconds(5));
        refused.Should().Throw<OptionsValidationException>().Which.Failures.Should().Contain("HarborGc:Store:GracePeriod: must be 0 or more, but is -00:00:01.");
    }

    [Test]
    public async Task GivenSeveralBadValues_WhenTheHostStarts_ThenItFails_ListingEveryOneByItsKey()
    {
        var missingRules = Path.Combine(_folders.NewFolder(), "rules.json");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHarborGc(o =>
        {
            o.Store.Path = " ";
            o.Gc.Workers = 0;
            o.Gc.TimeWindow = TimeSpan.FromHours(-1);
            o.Gc.MaxDuration = TimeSpan.Zero;
            o.Immutability.RulesFile = missingRules;
        });
        using var host = builder.Build();

        var start = () => host.StartAsync();

        var failure = (await start.Should().ThrowAsync<OptionsValidationException>()).Which;
        failure.Failures.Should().BeEquivalentTo(
            "HarborGc:Store:Path: required for the LiteDb store (its database file), but is empty.",
            "HarborGc:Gc:TimeWindow: must be 0 or more, but is -01:00:00.",
            "HarborGc:Gc:Workers: must be between 1 and 16, but is 0.",
            "HarborGc:Gc:MaxDuration: must be more than 0 when set, but is 00:00:00.",
            $"HarborGc:Immutability:RulesFile: '{missingRules}' does not exist.");
    }

    [Test]
    public async Task GivenBadValuesInConfiguration_WhenTheOptionsAreRead_ThenEveryOneIsListed_IncludingTheRuleFilesOwnProblems()
    {
        var folder = _folders.NewFolder();
        var rules = Path.Combine(folder, "rules.json");
        await File.WriteAllTextAsync(rules, """[{"action": "immutable", "template": "immutable_template", "tag_selectors": []}]""");
        var services = new ServiceCollection();
        services.AddHarborGc(Configuration(new()
        {
            ["HarborGc:Store:Kind"] = "LiteDb",
            ["HarborGc:Store:Path"] = Path.Combine(folder, "absent", "harbor-gc.db"),
            ["HarborGc:Gc:Workers"] = "17",
            ["HarborGc:Immutability:RulesFile"] = rules,
            ["HarborGc:Immutability:Project"] = "library",
        }));
        await using var provider = services.BuildServiceProvider();

        var read = () => provider.GetRequiredService<IOptions<HarborGcOptions>>().Value;

        var failures = read.Should().Throw<OptionsValidationException>().Which.Failures.ToList();
        failures.Should().HaveCount(3);
        failures[0].Should().Be($"HarborGc:Store:Path: the folder '{Path.Combine(folder, "absent")}' of '{Path.Combine(folder, "absent", "harbor-gc.db")}' does not exist.");
        failures[1].Should().Be("HarborGc:Gc:Workers: must be between 1 and 16, but is 17.");
        failures[2].Should().StartWith($"HarborGc:Immutability:RulesFile: ").And.Contain(rules).And.Contain("tag_selectors");
        var store = () => provider.GetRequiredService<IRegistryStore>();
        store.Should().Throw<OptionsValidationException>("nothing is opened from invalid options");
    }

    [TestCase("2h30m", "90s", "7d", 150, 1.5, 7 * 24 * 60)]
    [TestCase("1d12h", "0", "36h", 36 * 60, 0, 36 * 60)]
    [TestCase("02:30:00", "00:01:30", "7.00:00:00", 150, 1.5, 7 * 24 * 60)]
    public async Task GivenDurationsInTheCommandLinesGrammar_WhenBound_ThenTheyAreRead_AsWellAsHhMmSs(
        string window, string grace, string max, int windowMinutes, double graceMinutes, int maxMinutes)
    {
        // given configuration whose durations are written as the command line and the daemon configuration write them
        var root = _folders.NewFolder();
        Directory.CreateDirectory(Path.Combine(root, "docker", "registry", "v2"));
        var services = new ServiceCollection();
        services.AddHarborGc(Configuration(new()
        {
            ["HarborGc:Store:Kind"] = "Distribution",
            ["HarborGc:Store:Root"] = root,
            ["HarborGc:Store:GracePeriod"] = grace,
            ["HarborGc:Gc:TimeWindow"] = window,
            ["HarborGc:Gc:MaxDuration"] = max,
            ["HarborGc:Gc:Workers"] = "3",
        }));
        await using var provider = services.BuildServiceProvider();

        // when the options are read
        var options = provider.GetRequiredService<IOptions<HarborGcOptions>>().Value;

        // then every duration is the one written, and the other values are bound as before
        (options.Gc.TimeWindow, options.Gc.MaxDuration, options.Store.GracePeriod, options.Gc.Workers, options.Store.Root).Should().Be(
            (TimeSpan.FromMinutes(windowMinutes), (TimeSpan?)TimeSpan.FromMinutes(maxMinutes), TimeSpan.FromMinutes(graceMinutes), 3, root));
        provider.GetRequiredService<IRegistryStore>().Should().BeOfType<DistributionRegistryStore>().Which.GracePeriod.Should().Be(TimeSpan.FromMinutes(graceMinutes));
    }

    [Test]
    public async Task GivenDurationsThatAreNotDurations_WhenTheOptionsAreRead_ThenEachIsListedByItsKey_WithTheTextAndTheGrammar()
    {
        var services = new ServiceCollection();
        services.AddHarborGc(Configuration(new()
        {
            ["HarborGc:Store:Kind"] = "InMemory",
            ["HarborGc:Gc:TimeWindow"] = "2 hours",
            ["HarborGc:Gc:MaxDuration"] = "30m2h",
            ["HarborGc:Gc:Workers"] = "0",
        }));
        await using var provider = services.BuildServiceProvider();

        var read = () => provider.GetRequiredService<IOptions<HarborGcOptions>>().Value;

        read.Should().Throw<OptionsValidationException>().Which.Failures.Should().BeEquivalentTo(
            $"HarborGc:Gc:TimeWindow: '2 hours' is not a duration; {Duration.Grammar}.",
            $"HarborGc:Gc:MaxDuration: '30m2h' is not a duration; {Duration.Grammar}.",
            "HarborGc:Gc:Workers: must be between 1 and 16, but is 0.");
    }

    [Test]
    public async Task GivenConfigurationAndADelegate_WhenBound_ThenConfigurationSetsTheValues_AndTheDelegateHasTheLastWord()
    {
        var services = new ServiceCollection();
        services.AddHarborGc(
            Configuration(new()
            {
                ["HarborGc:Store:Kind"] = "InMemory",
                ["HarborGc:Gc:Workers"] = "4",
                ["HarborGc:Gc:TimeWindow"] = "00:30:00",
                ["HarborGc:Gc:MaxDuration"] = "01:00:00",
                ["HarborGc:Gc:DeleteUntagged"] = "false",
            }),
            o => o.Gc.Workers = 8);
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<HarborGcOptions>>().Value;

        options.Store.Kind.Should().Be(HarborGcStoreKind.InMemory);
        (options.Gc.Workers, options.Gc.TimeWindow, options.Gc.MaxDuration, options.Gc.DeleteUntagged)
            .Should().Be((8, TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), false));
        provider.GetRequiredService<IRegistryStore>().Should().BeOfType<InMemoryRegistryStore>();
    }

    [Test]
    public async Task GivenALiteDbStore_AndTheHostsClockAndLogger_WhenTheResolvedCollectorRuns_ThenItCollects_OnThatClock_LoggingThroughTheHost()
    {
        // given a host clock and logger, a LiteDB store, a tagged image and an untagged one pushed through the resolved API
        var time = new FakeTimeProvider(Start);
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddLogging(l => l.AddProvider(logs));
        var path = DatabasePath();
        services.AddHarborGc(o => o.Store.UseLiteDb(path, LiteDbConnectionMode.Direct));
        await using var provider = services.BuildServiceProvider();
        var api = provider.GetRequiredService<RegistryApi>();
        var tagged = await PushImage(api, "v1");
        var untagged = await PushImage(api, null);
        tagged.PushedAt.Should().Be(Start, "the store writes push times with the host's clock");

        // when the resolved collector runs three hours later, with a two-hour window
        time.Advance(TimeSpan.FromHours(3));
        var result = await provider.GetRequiredService<GarbageCollector>().RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.FromHours(2) });

        // then the untagged image and its two blobs are gone, the tagged one stays, the run is dated by the host's clock, and the
        // collector's messages went to the host's logger under its category
        (result.ArtifactsDeleted, result.BlobsDeleted, result.StartedAt).Should().Be((1, 3, Start.AddHours(3)));
        var store = provider.GetRequiredService<IRegistryStore>();
        (await api.Store.GetArtifactAsync(untagged.Key)).Should().BeNull();
        (await api.Store.GetArtifactAsync(tagged.Key)).Should().NotBeNull();
        foreach (var reference in tagged.References)
        {
            (await store.GetBlobAsync(reference.Digest)).Should().NotBeNull();
        }

        var collectorLogs = logs.Entries.Where(e => e.Category == typeof(GarbageCollector).FullName).ToList();
        collectorLogs.Should().ContainSingle(e => e.EventId.Id == 1000).Which.Message.Should().Contain($"litedb:{path}").And.Contain("1 artifacts and 3 blobs");
        collectorLogs.Should().ContainSingle(e => e.EventId.Id == 1104).Which.Message.Should().StartWith("GC run finished: deleted 1 artifacts and 3 blobs");
    }

    [Test]
    public async Task GivenImmutableRulesInAFile_WhenTheResolvedApiMovesAMatchingTag_ThenItIsRefusedNamingTheRule_AndTheHostLogsIt()
    {
        var rules = Path.Combine(_folders.NewFolder(), "rules.json");
        await File.WriteAllTextAsync(rules, """
            [{"disabled": false, "action": "immutable", "template": "immutable_template",
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}]
            """);
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(logs));
        services.AddHarborGc(o =>
        {
            o.Store.UseInMemory();
            o.Immutability.RulesFile = rules;
            o.Immutability.Project = "library";
        });
        await using var provider = services.BuildServiceProvider();
        var api = provider.GetRequiredService<RegistryApi>();
        var first = await PushImage(api, "v1");
        var second = await PushImage(api, "latest");

        var move = async () => await api.TagAsync(Repo, "v1", second.Digest);

        var refused = (await move.Should().ThrowAsync<ImmutableTagException>()).Which;
        refused.Rule.Should().Contain("tag matches 'v*'");
        logs.Entries.Should().ContainSingle(e => e.Category == typeof(RegistryApi).FullName && e.Level == LogLevel.Warning)
            .Which.Message.Should().Be(refused.Message);
        (await api.Store.GetTagAsync(Repo, "v1"))!.Digest.Should().Be(first.Digest);
        await api.TagAsync(Repo, "latest", first.Digest); // latest matches no rule
    }

    [Test]
    public async Task GivenALiteDbStoreInDirectMode_WhenTheContainerIsDisposed_ThenTheStoreIsClosed_AndOpensAgain()
    {
        var path = DatabasePath();
        var services = new ServiceCollection();
        services.AddHarborGc(o => o.Store.UseLiteDb(path, LiteDbConnectionMode.Direct));
        var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IWritableRegistryStore>();
        var pushed = await PushImage(provider.GetRequiredService<RegistryApi>(), "v1");

        await provider.DisposeAsync();

        var afterDispose = async () => await store.GetArtifactAsync(pushed.Key);
        await afterDispose.Should().ThrowAsync<ObjectDisposedException>("the container closed the store it opened");
        using var reopened = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = path, Connection = LiteDbConnectionMode.Direct });
        (await reopened.GetArtifactAsync(pushed.Key)).Should().NotBeNull();
    }

    private string DatabasePath() => Path.Combine(_folders.NewFolder(), "harbor-gc.db");

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private async Task<Artifact> PushImage(RegistryApi api, string? tag)
    {
        var config = await PushBlob(api, $"config {++_n}");
        var layer = await PushBlob(api, $"layer {_n}");
        var manifest = Image(config, [layer]);
        return await api.PushManifestAsync(Repo, tag ?? Digest.Sha256Of(manifest).ToString(), manifest);
    }

    private static async Task<Digest> PushBlob(RegistryApi api, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var digest = Digest.Sha256Of(bytes);
        using var stream = new MemoryStream(bytes);
        await api.PushBlobAsync(digest, stream);
        return digest;
    }
}
