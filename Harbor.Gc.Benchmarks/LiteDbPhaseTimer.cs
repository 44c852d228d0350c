using System.Diagnostics;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using LiteDB;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-litedb [artifacts]</c>: a stopwatch breakdown of a GC dry run on the LiteDB benchmark store, to see where the time
/// goes: LiteDB reading and deserializing its documents, the store turning documents into records, and the graph (interning,
/// build), mark and plan. Each phase runs three times; the last is printed (the first ones warm the page cache and the JIT).
/// </summary>
internal static class LiteDbPhaseTimer
{
    public static async Task RunAsync(int artifacts)
    {
        var folder = LiteDbBenchmarkStore.GetOrCreate(artifacts, seed: 42);
        var time = new RegistryGenerator.FixedTime(LiteDbBenchmarkStore.Now);
        for (var round = 1; round <= 3; round++)
        {
            var raw = new Stopwatch();
            var count = new Stopwatch();
            long documents = 0;
            using (var db = new LiteDatabase(new ConnectionString { Filename = LiteDbBenchmarkStore.DatabasePath(folder), Connection = ConnectionType.Direct, ReadOnly = true }))
            {
                foreach (var name in new[] { LiteDbDocuments.Blobs, LiteDbDocuments.Artifacts, LiteDbDocuments.Tags, LiteDbDocuments.AccessoryLinks, LiteDbDocuments.LayerLinks })
                {
                    raw.Start();
                    documents += db.GetCollection(name).FindAll().LongCount();
                    raw.Stop();
                    count.Start();
                    _ = db.GetCollection(name).Count();
                    count.Stop();
                }
            }

            using var store = LiteDbBenchmarkStore.Open(folder, time);
            var snapshot = Stopwatch.StartNew();
            var counter = new CountingSink();
            await store.ReadSnapshotAsync(counter);
            snapshot.Stop();
            var plan = Stopwatch.StartNew();
            var planned = await new GarbageCollector(store, time).PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true });
            plan.Stop();
            Console.WriteLine(
                $"round {round}: LiteDB FindAll (BSON read + deserialize) {raw.ElapsedMilliseconds} ms for {documents:N0} documents, Count() {count.ElapsedMilliseconds} ms; " +
                $"store snapshot (+ records) {snapshot.ElapsedMilliseconds} ms for {counter.Records:N0} records; " +
                $"PlanAsync (snapshot + graph + mark + plan) {plan.ElapsedMilliseconds} ms: {planned.Artifacts.Count:N0} artifacts, {planned.Blobs.Count:N0} blobs planned");
        }
    }

    /// <summary><c>measure-litedb-push [artifacts]</c>: 200 pushes in each connection mode, blob uploads and manifest pushes timed apart.</summary>
    public static async Task PushAsync(int artifacts)
    {
        foreach (var connection in new[] { LiteDbConnectionMode.Direct, LiteDbConnectionMode.Shared })
        {
            var benchmark = new LiteDbPushBenchmarks { Artifacts = artifacts, Connection = connection };
            benchmark.Setup();
            try
            {
                for (var round = 1; round <= 2; round++)
                {
                    var blobs = new Stopwatch();
                    var manifests = new Stopwatch();
                    for (var i = 0; i < LiteDbPushBenchmarks.PushesPerInvoke; i++)
                    {
                        await benchmark.PushImage(blobs, manifests);
                    }

                    Console.WriteLine(
                        $"{connection}, round {round}, in {Path.GetTempPath()}: per push {(blobs.Elapsed + manifests.Elapsed).TotalMilliseconds / LiteDbPushBenchmarks.PushesPerInvoke:F1} ms = " +
                        $"3 blob uploads {blobs.Elapsed.TotalMilliseconds / LiteDbPushBenchmarks.PushesPerInvoke:F1} ms + manifest {manifests.Elapsed.TotalMilliseconds / LiteDbPushBenchmarks.PushesPerInvoke:F1} ms");
                }
            }
            finally
            {
                benchmark.Cleanup();
            }
        }
    }

    private sealed class CountingSink : ISnapshotSink
    {
        public long Records { get; private set; }

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Records++;

        public void OnArtifact(Artifact artifact) => Records++;

        public void OnTag(Tag tag) => Records++;

        public void OnAccessoryLink(AccessoryLink link) => Records++;

        public void OnLayerLink(LayerLink link) => Records++;

        public void OnProblem(StoreProblem problem) => Records++;
    }
}
