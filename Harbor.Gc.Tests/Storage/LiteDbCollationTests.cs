using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// Issue 13, part 3: LiteDB orders and finds its keys by the database's collation, which by default follows the culture and
/// the globalization mode of the process. The <c>harbor-gc</c> command runs with invariant globalization; an application that
/// embeds the store usually has ICU and a culture. Every store is created with one fixed ordinal collation, and a store of any
/// other is refused, so both processes always find the same keys.
/// </summary>
[NonParallelizable] // child processes: alone on the machine's two cores
public class LiteDbCollationTests
{
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

    /// <summary>
    /// An embedding application with ICU and a German culture (and one with ICU and the invariant culture, as in a container
    /// without LANG) writes a registry whose repository names and tags sort differently under ICU and ordinally; the real
    /// <c>harbor-gc</c> (invariant globalization) plans what the embedder's own dry run planned, its real run deletes every
    /// planned artifact and blob and leaves no tag on a deleted artifact, and a second run finds nothing left to do.
    /// </summary>
    [TestCase("de_DE.UTF-8", "de-DE")]
    [TestCase("C.UTF-8", "")]
    [CancelAfter(300_000)]
    public async Task StoreWrittenByAnIcuEmbedder_TheCliPlansTheSame_AndItsRealRunDeletesEveryPlannedArtifact(string locale, string culture)
    {
        // given a store an embedding application wrote with ICU globalization and the locale's culture, and that process's own plan
        var database = Path.Combine(_folder, "harbor-gc.db");
        var embedderPlan = Path.Combine(_folder, "embedder-plan.json");
        using (var embedder = HarborGcProcess.StartTestProgram(["embedder-registry", database, embedderPlan], _folder, Icu(locale)))
        {
            await embedder.WaitAsync(TimeSpan.FromSeconds(180));
            embedder.ExitCode.Should().Be(0, embedder.Output);
            embedder.StandardOutput.Should().Contain($"culture={culture} icu=True", "the embedder must really compare with ICU in that culture");
        }

        var expected = PlanOf(embedderPlan);
        expected.Artifacts.Should().HaveCountGreaterThan(100, "the registry must have garbage in every repository");

        // when the real harbor-gc (invariant globalization) makes its dry-run plan of the same file
        var cliPlan = Path.Combine(_folder, "cli-plan.json");
        await RunCliAsync("gc", "--delete-untagged", "true", "--dry-run", "--time-window", "0", "--store", $"litedb:{database}", "--report-json", cliPlan);

        // then it is the embedder's plan
        var planned = PlanOf(cliPlan);
        planned.Artifacts.Should().BeEquivalentTo(expected.Artifacts);
        planned.Blobs.Should().BeEquivalentTo(expected.Blobs);

        // and its real run deletes every planned artifact and blob, and no tag is left on a deleted artifact
        await RunCliAsync("gc", "--delete-untagged", "true", "--time-window", "0", "--store", $"litedb:{database}");
        using (var store = new TestStore(LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, Connection = LiteDbConnectionMode.Direct }, new FakeTimeProvider(EmbedderRegistry.PushedAt))))
        {
            var artifacts = store.GetArtifacts().Select(a => a.Key.ToString()).ToHashSet();
            artifacts.Should().NotIntersectWith(expected.Artifacts, "every planned artifact is deleted");
            store.GetBlobs().Select(b => b.Digest.ToString()).Should().NotIntersectWith(expected.Blobs, "every planned blob is deleted");
            store.GetTags().Where(t => !artifacts.Contains(new ArtifactKey(t.Repository, t.Digest).ToString()))
                .Select(t => $"{t.Repository}:{t.Name}").Should().BeEmpty("a deleted artifact keeps no tag");
            store.GetTags().Should().HaveCountGreaterThan(150, "the live images keep theirs");
        }

        var again = Path.Combine(_folder, "again.json");
        await RunCliAsync("gc", "--delete-untagged", "true", "--dry-run", "--time-window", "0", "--store", $"litedb:{database}", "--report-json", again);
        PlanOf(again).Artifacts.Should().BeEmpty("nothing is left for the next run");
    }

    /// <summary>
    /// A store as an ICU embedder wrote it before the collation was fixed (its culture's collation, ignoring case, indexed in ICU's
    /// order) is refused by harbor-gc, and <c>harbor-gc store convert</c> copies it, unchanged itself, into a store of the fixed
    /// collation that plans what the embedder planned.
    /// </summary>
    [Test]
    [CancelAfter(300_000)]
    public async Task StoreOfAnIcuEmbedderBeforeTheFix_IsRefused_AndStoreConvert_MakesAStoreThatPlansTheSame()
    {
        // given the embedder's registry, copied by the embedder into a database of LiteDB's default collation (its culture, ignoring case)
        var database = Path.Combine(_folder, "harbor-gc.db");
        var legacy = Path.Combine(_folder, "legacy.db");
        var embedderPlan = Path.Combine(_folder, "embedder-plan.json");
        foreach (var args in new[] { new[] { "embedder-registry", database, embedderPlan, "--no-case-only-tags" }, ["legacy-copy", database, legacy] })
        {
            using var embedder = HarborGcProcess.StartTestProgram(args, _folder, Icu("de_DE.UTF-8"));
            await embedder.WaitAsync(TimeSpan.FromSeconds(180));
            embedder.ExitCode.Should().Be(0, embedder.Output);
        }

        var legacyState = File.ReadAllBytes(legacy);

        // when the real harbor-gc opens it, it exits 2 naming the file and the collation
        using (var refused = HarborGcProcess.Start(["gc", "--delete-untagged", "true", "--dry-run", "--store", $"litedb:{legacy}"], _folder))
        {
            await refused.WaitAsync(TimeSpan.FromSeconds(120));
            refused.ExitCode.Should().Be(2, refused.Output);
            refused.Output.Should().Contain(legacy).And.Contain("culture de-DE, IgnoreCase").And.Contain("harbor-gc store convert");
        }

        // when the real harbor-gc converts it
        var converted = Path.Combine(_folder, "converted.db");
        await RunCliAsync("store", "convert", "--store", $"litedb:{legacy}", "--to", converted);

        // then the old file is unchanged, and the new one plans what the embedder planned
        File.ReadAllBytes(legacy).Should().Equal(legacyState, "store convert only reads the store");
        File.Exists(LiteDbFile.LogPath(legacy)).Should().BeFalse();
        var cliPlan = Path.Combine(_folder, "cli-plan.json");
        await RunCliAsync("gc", "--delete-untagged", "true", "--dry-run", "--time-window", "0", "--store", $"litedb:{converted}", "--report-json", cliPlan);
        var expected = PlanOf(embedderPlan);
        var planned = PlanOf(cliPlan);
        planned.Artifacts.Should().BeEquivalentTo(expected.Artifacts);
        planned.Blobs.Should().BeEquivalentTo(expected.Blobs);
    }

    [Test]
    public void NewStore_HasTheFixedOrdinalCollation()
    {
        var database = Path.Combine(_folder, "harbor-gc.db");
        LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, CreateIfMissing = true }).Dispose();

        using var db = new LiteDatabase(new ConnectionString { Filename = database, ReadOnly = true });
        db.Pragma("COLLATION").AsString.Should().Be("/Ordinal", "the invariant culture, compared ordinally: the same under ICU and invariant globalization");
    }

    /// <summary>OCI tags are case-sensitive: a collation that ignores case made <c>V1</c> overwrite <c>v1</c>, and GC then deleted the image <c>v1</c> had tagged.</summary>
    [Test]
    public async Task TagsThatDifferOnlyInCase_AreTwoTags_AndGcKeepsBothImages()
    {
        // given two images of one repository, tagged v1 and V1
        var time = new FakeTimeProvider(EmbedderRegistry.PushedAt);
        using var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(_folder, create: true), time), _folder);
        var repository = RepositoryName.Parse("library/app");
        var lower = store.PutArtifact(Image(store, repository, "lower"));
        var upper = store.PutArtifact(Image(store, repository, "upper"));
        store.PutTag(repository, "v1", lower.Digest);
        store.PutTag(repository, "V1", upper.Digest);
        time.Advance(TimeSpan.FromDays(1));

        // when a GC plans
        var result = await new GarbageCollector(store.Inner, time).RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true, TimeWindow = TimeSpan.Zero });

        // then both tags are there, each on its own image, and neither image is garbage
        store.GetTags().Select(t => (t.Name, t.Digest)).Should().BeEquivalentTo([("v1", lower.Digest), ("V1", upper.Digest)]);
        result.Plan.Artifacts.Should().BeEmpty();
    }

    /// <summary>A store of the collation LiteDB chose before it was fixed (the culture's, ignoring case) is refused, naming what to do.</summary>
    [Test]
    public async Task StoreOfAnotherCollation_IsRefusedWithExitTwo_NamingTheFileAndTheCollation_AndChangesNothing()
    {
        // given a store whose database has LiteDB's old default collation (as every store had before it was fixed)
        var database = Path.Combine(_folder, "harbor-gc.db");
        using (var db = new LiteDatabase(new ConnectionString { Filename = database, Collation = new Collation("/IgnoreCase") }))
        {
            var meta = db.GetCollection("meta");
            meta.Insert(new BsonDocument { ["_id"] = "schema", ["value"] = 1 });
            meta.Insert(new BsonDocument { ["_id"] = "version", ["value"] = 0L });
            meta.Insert(new BsonDocument { ["_id"] = "storeId", ["value"] = "0123456789abcdef0123456789abcdef" });
        }

        Directory.CreateDirectory(Path.Combine(_folder, "blobs"));
        var before = FolderState.Of(_folder);

        // when harbor-gc opens it, to plan or to collect
        foreach (var args in new[] { new[] { "gc", "--delete-untagged", "true", "--dry-run" }, ["gc"] })
        {
            var (code, _, errors) = await GcCommandTests.Run([.. args, "--store", $"litedb:{database}"]);

            // then it exits 2 naming the file, the collation found and the way out, and nothing changed
            code.Should().Be(2, errors);
            errors.Should().Contain(database).And.Contain("IgnoreCase").And.Contain("harbor-gc store convert");
            FolderState.Of(_folder).Should().BeEquivalentTo(before);
        }
    }

    private static Artifact Image(TestStore store, RepositoryName repository, string seed)
    {
        var layer = store.PutBlob(System.Text.Encoding.UTF8.GetBytes(seed + " layer")).Digest;
        var manifest = store.PutBlob(System.Text.Encoding.UTF8.GetBytes(seed + " manifest")).Digest;
        return new Artifact
        {
            Repository = repository,
            Digest = manifest,
            MediaType = MediaTypes.OciManifest,
            Kind = ManifestKind.OciManifest,
            PushedAt = DateTimeOffset.MinValue,
            References = [new(manifest, 10, MediaTypes.OciManifest, BlobReferenceKind.Manifest), new(layer, 10, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer)],
        };
    }

    /// <summary>ICU globalization and a locale, whatever the runtimeconfig of the program says.</summary>
    private static Dictionary<string, string?> Icu(string locale) => new()
    {
        ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "0",
        ["LANG"] = locale,
        ["LC_ALL"] = locale,
    };

    private async Task RunCliAsync(params string[] args)
    {
        using var cli = HarborGcProcess.Start(args, _folder);
        await cli.WaitAsync(TimeSpan.FromSeconds(120));
        cli.ExitCode.Should().Be(0, $"harbor-gc {string.Join(' ', args)}: {cli.Output}");
    }

    /// <summary>The artifacts (<c>repository@digest</c>) and blobs a JSON report plans.</summary>
    private static (HashSet<string> Artifacts, HashSet<string> Blobs) PlanOf(string report)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        return (
            json.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => $"{a.GetProperty("repository").GetString()}@{a.GetProperty("digest").GetString()}").ToHashSet(),
            json.RootElement.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString()!).ToHashSet());
    }
}
