using System.Data;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Npgsql;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A GC dry run on the <c>harbor:</c> store (<see cref="HarborInstallation"/>: Harbor's PostgreSQL plus its registry storage):
/// the store's snapshot and <see cref="GarbageCollector.PlanAsync"/>, what <c>harbor-gc gc --dry-run</c> does after start-up; and
/// its two reads alone: the database's queries, and the storage tree through the Distribution store's reader.
/// </summary>
[MemoryDiagnoser]
[GcConcurrent(false)] // as the harbor-gc command runs
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class HarborStoreBenchmarks
{
    /// <summary>As the Distribution benchmark: untagged artifacts collected, no time window.</summary>
    internal static readonly GcOptions Options = new() { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero };

    private HarborInstallation _installation = null!;

    [Params(100_000)]
    public int Artifacts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _installation = HarborInstallation.CreateAsync(Artifacts).GetAwaiter().GetResult();
        Console.WriteLine($"// {_installation.Summary}");
        Console.WriteLine($"// {CheckAsync(_installation).GetAwaiter().GetResult()}");
    }

    [GlobalCleanup]
    public void Cleanup() => Tests.Integration.PostgresCluster.StopShared();

    /// <summary>The store's snapshot (database and storage) and the whole dry run's plan.</summary>
    [Benchmark(Description = "harbor: snapshot + dry run (PlanAsync)")]
    public Task<CollectionPlan> DryRun() => PlanAsync(_installation);

    /// <summary>The store's six queries in one repeatable-read transaction, every column read as the store reads it, nothing built.</summary>
    [Benchmark(Description = "database queries alone")]
    public Task<long> DatabaseQueries() => QueryAsync(_installation.ConnectionString);

    /// <summary>The storage tree through the Distribution store's reader into a sink that keeps nothing.</summary>
    [Benchmark(Description = "storage read alone")]
    public Task<long> StorageRead() => StorageReadOf(_installation);

    internal async Task<long> StorageReadOf(HarborInstallation installation)
    {
        var sink = new CountingSink();
        await new DistributionRegistryStore(installation.StorageRoot, TimeProvider.System).ReadSnapshotAsync(sink).ConfigureAwait(false);
        return sink.Count;
    }

    internal static async Task<CollectionPlan> PlanAsync(HarborInstallation installation) =>
        await new GarbageCollector(installation.CreateStore(), TimeProvider.System).PlanAsync(Options).ConfigureAwait(false);

    /// <summary>
    /// Sanity, before anything is timed: the <c>harbor:</c> store reads the installation without a warning (the database and the storage
    /// agree), and plans what the <c>distribution:</c> store plans over the same tree (tags in both places: the pre-2.15 property).
    /// </summary>
    /// <exception cref="InvalidOperationException">A warning, or plans that differ.</exception>
    internal static async Task<string> CheckAsync(HarborInstallation installation)
    {
        var plan = await PlanAsync(installation).ConfigureAwait(false);
        if (plan.Warnings.Count > 0)
        {
            throw new InvalidOperationException($"the harbor: store warns {plan.Warnings.Count} time(s) on the benchmark installation, first: {string.Join(" | ", plan.Warnings.Take(3))}");
        }

        var distribution = await new GarbageCollector(new DistributionRegistryStore(installation.StorageRoot, TimeProvider.System), TimeProvider.System)
            .PlanAsync(Options).ConfigureAwait(false);
        var harborArtifacts = plan.Artifacts.Select(a => a.Key.ToString()).Order(StringComparer.Ordinal).ToList();
        var distributionArtifacts = distribution.Artifacts.Select(a => a.Key.ToString()).Order(StringComparer.Ordinal).ToList();
        var harborBlobs = plan.Blobs.Select(b => b.Digest).ToHashSet();
        if (!harborArtifacts.SequenceEqual(distributionArtifacts) || !harborBlobs.SetEquals(distribution.Blobs.Select(b => b.Digest)))
        {
            throw new InvalidOperationException(
                $"the harbor: plan ({plan.Artifacts.Count:N0} artifacts, {plan.Blobs.Count:N0} blobs) differs from the distribution: plan of the same tree "
                + $"({distribution.Artifacts.Count:N0} artifacts, {distribution.Blobs.Count:N0} blobs)");
        }

        return $"sanity: 0 warnings; the harbor: plan deletes {plan.Artifacts.Count:N0} artifacts and {plan.Blobs.Count:N0} blobs "
            + $"({plan.Blobs.Sum(b => b.Size) / 1e6:N1} MB), {plan.LayerLinks.Count:N0} layer links, {plan.Uploads.Count:N0} uploads, the same as the distribution: plan of the tree";
    }

    /// <summary>The queries of <c>HarborDatabaseStore</c> (its schema check and six reads), each row's columns read as it reads them.</summary>
    internal static async Task<long> QueryAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead).ConfigureAwait(false);
        long sum = 0;
        foreach (var sql in new[]
                 {
                     "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
                     "SELECT version, dirty FROM schema_migrations",
                     "SELECT id, repository_name, digest, manifest_media_type, artifact_type, COALESCE(size, 0), push_time, pull_time FROM artifact",
                     "SELECT artifact_id, name, push_time, pull_time FROM tag",
                     "SELECT parent_id, child_digest FROM artifact_reference",
                     "SELECT artifact_id, subject_artifact_digest, COALESCE(type, '') FROM artifact_accessory WHERE artifact_id IS NOT NULL AND subject_artifact_digest IS NOT NULL",
                     "SELECT digest, content_type, size, creation_time, update_time, COALESCE(status, 'none') FROM blob",
                     "SELECT digest_af, digest_blob FROM artifact_blob",
                 })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    if (!reader.IsDBNull(i))
                    {
                        sum += reader.GetValue(i) is string s ? s.Length : 1;
                    }
                }
            }
        }

        return sum;
    }

    /// <summary>Counts what a snapshot delivers and keeps nothing.</summary>
    private sealed class CountingSink : ISnapshotSink
    {
        public long Count { get; private set; }

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Count++;

        public void OnArtifact(Artifact artifact) => Count++;

        public void OnTag(Tag tag) => Count++;

        public void OnAccessoryLink(AccessoryLink link) => Count++;

        public void OnLayerLink(LayerLink link) => Count++;

        public void OnProblem(StoreProblem problem) => Count++;
    }
}
