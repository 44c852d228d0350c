using System.Globalization;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Reporting;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support.Pusher;
using LiteDB;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// The test assembly run as a program (<c>dotnet Harbor.Gc.Tests.dll COMMAND ...</c>, see <see cref="HarborGcProcess.StartTestProgram"/>):
/// the second process of tests that need one other than <c>harbor-gc</c>, an application that embeds the store. The test runner
/// never calls it.
/// <list type="bullet">
/// <item><c>embedder-registry DB PLAN [--no-case-only-tags]</c>: creates the store DB and pushes <see cref="EmbedderRegistry"/> through <see cref="RegistryApi"/>
/// (run it with ICU globalization and a culture to be an embedder that uses them), then writes its own dry run's JSON report
/// (time window 0) to PLAN. Prints the culture and whether string comparison is ICU's. With <c>--no-case-only-tags</c>, no two
/// tags of a repository differ only in case (a collation that ignores case could not hold them).</item>
/// <item><c>legacy-copy DB NEW</c>: copies the database DB into NEW as the store was before its collation was fixed: the same
/// documents and indexes, with LiteDB's default collation (the process's culture, ignoring case), indexed as this process orders.</item>
/// <item><c>hold direct|shared DB READY STOP</c>: opens the existing store DB, writes READY, then pushes an image every few
/// milliseconds until STOP exists (two minutes at most), and prints how many writes it made and how many failed. With
/// <c>litedb-direct</c>: opens the file with LiteDB itself in direct mode (as an application that does not go through the store
/// would), reads it, and only waits.</item>
/// <item><c>push --store PATH|postgres:ADDRESS --records FILE --dead N [--clients 4] [--seed 1] [--min-accepted 0] [--untagged 0] [--revive 0]</c>:
/// a registry process that embeds Harbor.Gc (AddHarborGc, the LiteDB store in shared mode or the postgres: store) and pushes from
/// concurrent clients until its stdin closes (<see cref="PushProgram"/>; start it with <c>inputPipe</c>).</item>
/// </list>
/// </summary>
internal static class ChildProgram
{
    public static async Task<int> Main(string[] args)
    {
        switch (args)
        {
            case ["embedder-registry", var database, var plan, .. var rest]:
                await EmbedderRegistryAsync(database, plan, caseOnlyTags: rest is not ["--no-case-only-tags"]);
                return 0;
            case ["legacy-copy", var from, var to]:
                LegacyCopy(from, to);
                return 0;
            case ["hold", "litedb-direct", var database, var ready, var stop]:
                return await HoldWithLiteDbAsync(database, ready, stop);
            case ["hold", var mode, var database, var ready, var stop]:
                return await HoldAsync(mode == "direct" ? LiteDbConnectionMode.Direct : LiteDbConnectionMode.Shared, database, ready, stop);
            case ["push", .. var options]:
                return await PushProgram.RunAsync(options);
            default:
                await Console.Error.WriteLineAsync("usage: embedder-registry DB PLAN [--no-case-only-tags] | legacy-copy DB NEW | hold direct|shared|litedb-direct DB READY STOP | push --store PATH|postgres:ADDRESS --records FILE --dead N [--clients N] [--seed N] [--min-accepted N] [--untagged N] [--revive N]");
                return 64;
        }
    }

    /// <summary>The globalization the process runs with: the current culture, and whether comparison is ICU's (not ordinal).</summary>
    public static string Globalization() =>
        $"culture={CultureInfo.CurrentCulture.Name} icu={string.Compare("a-b", "a_b", StringComparison.InvariantCulture) > 0}";

    private static async Task EmbedderRegistryAsync(string database, string planPath, bool caseOnlyTags)
    {
        Console.WriteLine(Globalization());
        var time = new FakeTimeProvider(EmbedderRegistry.PushedAt);
        using (var store = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, CreateIfMissing = true, Connection = LiteDbConnectionMode.Direct }, time))
        {
            await EmbedderRegistry.PushAsync(new RegistryApi(store), caseOnlyTags ? EmbedderRegistry.Tags : EmbedderRegistry.TagsOfOneCase);
            time.Advance(TimeSpan.FromDays(1));
            var result = await new GarbageCollector(store, time).RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true, TimeWindow = TimeSpan.Zero });
            await File.WriteAllTextAsync(planPath, GcReportWriter.ToJson(result));
            Console.WriteLine($"planned {result.Plan.Artifacts.Count} artifacts, {result.Plan.Blobs.Count} blobs");
        }
    }

    private static void LegacyCopy(string from, string to)
    {
        Console.WriteLine(Globalization());
        using var source = new LiteDatabase(new ConnectionString { Filename = from, ReadOnly = true });
        using var target = new LiteDatabase(new ConnectionString { Filename = to });
        foreach (var name in source.GetCollectionNames())
        {
            target.GetCollection(name).InsertBulk(source.GetCollection(name).FindAll());
        }

        foreach (var index in source.GetCollection("$indexes").FindAll().Where(i => i["name"].AsString != "_id"))
        {
            target.GetCollection(index["collection"].AsString).EnsureIndex(index["name"].AsString, index["expression"].AsString);
        }

        Console.WriteLine($"collation {target.Pragma("COLLATION").AsString}");
    }

    private static async Task<int> HoldWithLiteDbAsync(string database, string ready, string stop)
    {
        using var db = new LiteDatabase(new ConnectionString { Filename = database, Connection = ConnectionType.Direct });
        Console.WriteLine($"{db.GetCollection("artifacts").Count()} artifacts");
        await File.WriteAllTextAsync(ready, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        var deadline = TimeProvider.System.GetUtcNow().AddMinutes(2);
        while (!File.Exists(stop) && TimeProvider.System.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }

        return 0;
    }

    private static async Task<int> HoldAsync(LiteDbConnectionMode mode, string database, string ready, string stop)
    {
        var writes = 0;
        var failures = 0;
        string? firstFailure = null;
        using (var store = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, Connection = mode }))
        {
            var api = new RegistryApi(store);
            using (var config = new MemoryStream("{\"architecture\":\"amd64\",\"os\":\"linux\"}"u8.ToArray()))
            {
                await api.PushBlobAsync(EmbedderRegistry.Config, config);
            }

            await File.WriteAllTextAsync(ready, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            var deadline = TimeProvider.System.GetUtcNow().AddMinutes(2);
            var repository = RepositoryName.Parse("holder/app");
            while (!File.Exists(stop) && TimeProvider.System.GetUtcNow() < deadline)
            {
                try
                {
                    var layer = Encoding.UTF8.GetBytes($"held layer {Environment.ProcessId} {writes}");
                    using (var stream = new MemoryStream(layer))
                    {
                        await api.PushBlobAsync(Digest.Sha256Of(layer), stream);
                    }

                    await api.PushManifestAsync(repository, "t" + (writes % 10).ToString(CultureInfo.InvariantCulture), Image(EmbedderRegistry.Config, [Digest.Sha256Of(layer)]));
                    writes++;
                }
#pragma warning disable CA1031 // the holder counts every failed write, whatever it is
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures++;
                    firstFailure ??= e.GetType().Name + ": " + e.Message;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
            }
        }

        Console.WriteLine($"writes={writes} failures={failures} {firstFailure}");
        return failures == 0 ? 0 : 1;
    }
}

/// <summary>
/// A registry an embedding application writes: repository names and tags whose order differs between ordinal comparison and
/// ICU's (separators <c>- _ . /</c>, digits, tags that differ only in case), images shared and not, untagged images (garbage),
/// cosign tag-scheme signatures of garbage and of live images, and indexes, live and dead. Everything pushed at
/// <see cref="PushedAt"/>, long before any real clock.
/// </summary>
internal static class EmbedderRegistry
{
    public static readonly DateTimeOffset PushedAt = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly string[] Repositories =
    [
        "team-a/app", "team_a/app", "team.a/app", "teama/app", "team-a/app-web", "team-a/app_web", "team-a/app.web", "team-a/appweb",
        "a/b", "a-b/c", "a_b/c", "a.b/c", "ab/c", "a0/x", "z/y-1", "z/y_1", "z/y1", "z/y.1",
    ];

    public static readonly string[] Tags = ["v1", "V1", "v1.0", "v1-0", "v1_0", "Latest", "latest", "RC-1", "rc_1", "rc.1", "a", "A", "_a", "a_"];

    /// <summary>Tags of the same orders, no two of which differ only in case.</summary>
    public static readonly string[] TagsOfOneCase = ["v1", "V2", "v1.0", "v1-0", "v1_0", "Latest", "stable", "RC-1", "rc_1", "rc.1", "a", "B", "_a", "a_"];

    /// <summary>The config blob every image uses (pushed first).</summary>
    public static Digest Config => Digest.Sha256Of(ConfigBytes);

    private static byte[] ConfigBytes => "{\"architecture\":\"amd64\",\"os\":\"linux\"}"u8.ToArray();

    public static async Task PushAsync(RegistryApi api, string[] tags)
    {
        await PushBlobAsync(api, ConfigBytes);
        var shared = new List<Digest>();
        for (var i = 0; i < 12; i++)
        {
            shared.Add(await PushBlobAsync(api, Encoding.UTF8.GetBytes($"shared layer {i}")));
        }

        var n = 0;
        foreach (var name in Repositories)
        {
            var repository = RepositoryName.Parse(name);
            var images = new List<Digest>();
            for (var i = 0; i < 12; i++)
            {
                var own = await PushBlobAsync(api, Encoding.UTF8.GetBytes($"{name} layer {i}"));
                var content = Image(Config, [own, shared[(n + i) % shared.Count]]);
                var tag = i % 3 == 2 ? null : tags[((i / 3 * 2) + (i % 3) + n) % tags.Length]; // two of three tagged, tags differing in case and separators
                var image = await api.PushManifestAsync(repository, tag ?? Digest.Sha256Of(content).ToString(), content);
                images.Add(image.Digest);
                if (i % 4 == 1)
                {
                    // a cosign signature by its tag-scheme tag: goes with its image when that is garbage
                    var signature = await PushBlobAsync(api, Encoding.UTF8.GetBytes($"{name} signature {i}"));
                    await api.PushManifestAsync(repository, $"sha256-{image.Digest.Hex}.sig", Image(Config, [signature], layerType: MediaTypes.CosignSimpleSigning));
                }
            }

            // an untagged index of two untagged images (garbage with its children), and a tagged one of two tagged images
            var deadIndex = Index([images[2], images[5]]);
            await api.PushManifestAsync(repository, Digest.Sha256Of(deadIndex).ToString(), deadIndex);
            await api.PushManifestAsync(repository, "multi-" + tags[n % tags.Length], Index([images[0], images[1]]));
            n++;
        }
    }

    private static async Task<Digest> PushBlobAsync(RegistryApi api, byte[] content)
    {
        var digest = Digest.Sha256Of(content);
        using var stream = new MemoryStream(content);
        await api.PushBlobAsync(digest, stream);
        return digest;
    }
}
