using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using LiteDB;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// The LiteDB store of the LiteDB benchmarks: <see cref="RegistryGenerator"/>'s registry (seed, size) written into a LiteDB store
/// once and kept in <c>artifacts/litedb-benchmark/seed{seed}-{artifacts}</c> under the repository root (git-ignored), so that later
/// runs and the benchmark processes BenchmarkDotNet starts open it instead of writing it again.
/// </summary>
/// <remarks>
/// The records are copied as the generator made them (times, versions, statuses) with LiteDB bulk inserts into a store the
/// ordinary <see cref="LiteDbRegistryStore.Open"/> created (schema, indexes, store id), then the store's version counter is set past
/// the highest version. Blob bytes are not written: a GC dry run reads records only, and the push benchmark pushes its own blobs.
/// </remarks>
internal static class LiteDbBenchmarkStore
{
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private const string CompleteMarker = "complete.txt";

    /// <summary>The folder of the cached store (its database is <c>harbor-gc.db</c>), written first when missing.</summary>
    public static string GetOrCreate(int artifacts, int seed)
    {
        var folder = Path.Combine(ArtifactsRoot(), "litedb-benchmark", string.Create(CultureInfo.InvariantCulture, $"seed{seed}-{artifacts}"));
        if (File.Exists(Path.Combine(folder, CompleteMarker)))
        {
            return folder;
        }

        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        var stopwatch = Stopwatch.StartNew();
        var generator = new RegistryGenerator(seed);
        var source = generator.Generate(artifacts, Now);
        var sink = new DocumentSink();
        source.ReadSnapshotAsync(sink).AsTask().GetAwaiter().GetResult();
        var path = DatabasePath(folder);
        LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = path, CreateIfMissing = true, Connection = LiteDbConnectionMode.Direct }).Dispose();
        using (var db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }))
        {
            db.GetCollection(LiteDbDocuments.Blobs).InsertBulk(sink.Blobs);
            db.GetCollection(LiteDbDocuments.Artifacts).InsertBulk(sink.Artifacts);
            db.GetCollection(LiteDbDocuments.Tags).InsertBulk(sink.Tags);
            db.GetCollection(LiteDbDocuments.AccessoryLinks).InsertBulk(sink.AccessoryLinks);
            db.GetCollection(LiteDbDocuments.LayerLinks).InsertBulk(sink.LayerLinks);
            db.GetCollection(LiteDbDocuments.Meta).Upsert(new BsonDocument { ["_id"] = LiteDbDocuments.VersionKey, [LiteDbDocuments.Value] = sink.MaxVersion });
            db.Checkpoint();
        }

        var (a, b, r, t, repositories) = generator.Counts;
        var stats = string.Create(CultureInfo.InvariantCulture,
            $"{a:N0} artifacts, {b:N0} blobs, {r:N0} references, {t:N0} tags, {repositories:N0} repositories; {new FileInfo(path).Length / 1048576.0:F0} MB; written in {stopwatch.Elapsed.TotalSeconds:F0} s");
        File.WriteAllText(Path.Combine(folder, CompleteMarker), stats + Environment.NewLine);
        Console.WriteLine($"// LiteDB store {folder}: {stats}");
        return folder;
    }

    /// <summary>A copy of a store folder in the temp folder, for a benchmark that writes; delete it afterwards.</summary>
    public static string Copy(string folder)
    {
        var copy = Path.Combine(Path.GetTempPath(), "harbor-gc-benchmark-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    public static string DatabasePath(string folder) => Path.Combine(folder, "harbor-gc.db");

    /// <summary>Opens a store folder (direct mode: the benchmark is the only process using it).</summary>
    public static LiteDbRegistryStore Open(string folder, TimeProvider time) =>
        LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = DatabasePath(folder), Connection = LiteDbConnectionMode.Direct }, time);

    /// <summary>The repository's <c>artifacts</c> folder, found upwards from the binaries; the temp folder outside a checkout.</summary>
    internal static string ArtifactsRoot()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Harbor.Gc.sln")))
            {
                return Path.Combine(dir, "artifacts");
            }
        }

        return Path.Combine(Path.GetTempPath(), "harbor-gc-artifacts");
    }

    private sealed class DocumentSink : ISnapshotSink
    {
        public List<BsonDocument> Blobs { get; } = [];

        public List<BsonDocument> Artifacts { get; } = [];

        public List<BsonDocument> Tags { get; } = [];

        public List<BsonDocument> AccessoryLinks { get; } = [];

        public List<BsonDocument> LayerLinks { get; } = [];

        public long MaxVersion { get; private set; }

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Blobs.Add(LiteDbDocuments.ToDocument(blob));

        public void OnArtifact(Artifact artifact)
        {
            MaxVersion = Math.Max(MaxVersion, artifact.Version);
            Artifacts.Add(LiteDbDocuments.ToDocument(artifact));
        }

        public void OnTag(Tag tag) => Tags.Add(LiteDbDocuments.ToDocument(tag));

        public void OnAccessoryLink(AccessoryLink link) => AccessoryLinks.Add(LiteDbDocuments.ToDocument(link));

        public void OnLayerLink(LayerLink link) => LayerLinks.Add(LiteDbDocuments.ToDocument(link));

        public void OnProblem(StoreProblem problem) => throw new InvalidOperationException(problem.ToString());
    }
}
