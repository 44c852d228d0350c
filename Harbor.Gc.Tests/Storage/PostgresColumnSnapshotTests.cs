using System.Security.Cryptography;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The <c>postgres:</c> store hands a collection's graph builder its blobs and artifacts as columns (<see cref="IColumnSnapshotSink"/>),
/// without a record per row. What it hands over must be what the records say, field for field, and what the records path refuses
/// (a damaged row) must be refused on this path too.
/// </summary>
[NonParallelizable] // a database cluster
public class PostgresColumnSnapshotTests
{
    private StoreFactory _stores = null!;

    [SetUp]
    public void SetUp() => _stores = new StoreFactory(StoreKind.Postgres);

    [TearDown]
    public void TearDown() => _stores.Dispose();

    [TestCase(3, 4)]
    [TestCase(11, 6)]
    public async Task TheColumns_AreTheRecordsFields_BlobForBlob_AndArtifactForArtifact(int seed, int scale)
    {
        // given a random registry (indexes, accessories, foreign layers, retouched blobs, blobs left mid-deletion) in a postgres: store
        var (store, _, description) = _stores.Random(seed, scale);

        // when the store is read once as records and once as columns
        var records = new RecordingSink();
        await store.Inner.ReadSnapshotAsync(records);
        var columns = new ColumnRecordingSink();
        await store.Inner.ReadSnapshotAsync(columns);

        // then the columns sink got no record of a blob or an artifact, and every column is its record's field
        columns.RecordCalls.Should().Be(0, "a sink that takes columns gets no Blob or Artifact records");
        records.Blobs.Should().NotBeEmpty(description);
        records.Artifacts.Should().Contain(a => a.Children.Length > 0, "the registry has indexes");
        columns.Blobs.Should().BeEquivalentTo(
            records.Blobs.Select(b => new BlobColumns(b.Digest, b.Size, b.LastTouchedAt.UtcTicks, b.Status)),
            o => o.WithStrictOrdering(), description);
        columns.Artifacts.Should().BeEquivalentTo(
            records.Artifacts.Select(a => new ArtifactRow(
                new ArtifactColumns(a.Repository, a.Digest, a.MediaType, a.Kind, a.Size, a.PushedAt.UtcTicks, a.Version, a.Trashed, a.ParseProblem),
                [.. a.References.Select(r => r.Digest)], [.. a.References.Select(r => r.Kind)], [.. a.Children])),
            o => o.WithStrictOrdering(), description);
        columns.Tags.Should().BeEquivalentTo(records.Tags, o => o.WithStrictOrdering());
        columns.Links.Should().BeEquivalentTo(records.Links, o => o.WithStrictOrdering());
    }

    [Test]
    public async Task TheSizeHint_CoversEveryCount_EvenFromEstimatesALittleShort_WithoutOvershootingMuch()
    {
        // given a random registry in a postgres: store, analyzed (as autovacuum does), so the planner's statistics hold its sizes; its
        // artifacts and blobs estimated 2% short, as ANALYZE's estimate from a sample of a large table can be
        var (store, _, description) = _stores.Random(7, 6);
        await using (var connection = await ((PostgresRegistryStore)store.Inner).OpenConnectionAsync())
        await using (var analyze = new NpgsqlCommand(
                         "ANALYZE; UPDATE pg_class SET reltuples = floor(reltuples * 0.98) WHERE oid IN ('artifacts'::regclass, 'blobs'::regclass)", connection))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        // when it is read
        var records = new RecordingSink();
        await store.Inner.ReadSnapshotAsync(records);

        // then the hint it gave before the rows is at least each count (an array sized to a hint a row short doubles) and not far past
        // it; the references too, which no table counts (estimated from the packed references' average width)
        var hint = records.Hint;
        var references = records.Artifacts.Sum(a => (long)a.References.Length);
        references.Should().BeGreaterThan(100, description);
        ((long)hint.Artifacts, (long)hint.Blobs, (long)hint.Tags, (long)hint.AccessoryLinks, hint.BlobReferences).Should().Match<(long, long, long, long, long)>(h =>
            h.Item1 >= records.Artifacts.Count && h.Item2 >= records.Blobs.Count && h.Item3 >= records.Tags.Count && h.Item4 >= records.Links.Count
            && h.Item5 >= references, $"the counts are {records.Artifacts.Count}, {records.Blobs.Count}, {records.Tags.Count}, {records.Links.Count}, {references}");
        hint.Artifacts.Should().BeLessThanOrEqualTo((records.Artifacts.Count * 17 / 16) + 64);
        hint.Blobs.Should().BeLessThanOrEqualTo((records.Blobs.Count * 17 / 16) + 64);
        hint.BlobReferences.Should().BeLessThanOrEqualTo((references * 2) + 64);
    }

    [Test]
    public async Task ADryRun_OverAnArtifactWhosePackedReferencesAreDamaged_IsRefused_NamingTheColumn()
    {
        // given a store with an image, whose packed references are then cut short by something other than this store
        var registry = new ScenarioRegistry(_stores);
        var layer = registry.Blob();
        registry.Image("library/app", [layer], tag: "v1");
        await using (var connection = await ((PostgresRegistryStore)registry.Store.Inner).OpenConnectionAsync())
        await using (var cut = new NpgsqlCommand("UPDATE artifacts SET refs = substring(refs FROM 1 FOR 20)", connection))
        {
            (await cut.ExecuteNonQueryAsync()).Should().Be(1);
        }

        // when a dry run reads it (the graph builder takes columns)
        var collector = new GarbageCollector(registry.Store.Inner, registry.Time);
        var plan = () => collector.PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true });

        // then it is refused, saying which column is damaged, as the records path refuses it
        (await plan.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("artifacts.refs is damaged");
        var records = () => registry.Store.Inner.ReadSnapshotAsync(new RecordingSink()).AsTask();
        (await records.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("artifacts.refs is damaged");
    }

    [Test]
    public async Task AStoreOfSchemaVersion3_IsMigrated_AndItsBlobsAndArtifactsReadAsTheirRecords()
    {
        // given a store as schema version 3 made it, with blobs of either algorithm, every status, retouched (updated after created)
        // and not, and a size past 32 bits; and artifacts of either algorithm, several kinds and media types, one with a parse problem
        var name = PostgresTestDatabases.NewEmptyDatabase();
        using var database = new PostgresTestDatabases.Database(name);
        await using (var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(name)))
        {
            await connection.OpenAsync();
            await PostgresSchema.EnsureAsync(connection, name, create: true, readOnly: false, CancellationToken.None, upTo: 3);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO blobs (digest, size, media_type, created_at, updated_at, status) SELECT CASE WHEN i % 3 = 0 THEN sha512(i::text::bytea) "
                + "ELSE sha256(i::text::bytea) END, i * 5000000000, NULL, 1000 + i * 7, CASE WHEN i % 2 = 0 THEN 1000 + i * 11 ELSE 0 END, i % 5 "
                + "FROM generate_series(1, 40) i; "
                + "INSERT INTO media_types (name) VALUES ('application/vnd.oci.image.manifest.v1+json'), ('application/vnd.oci.image.index.v1+json'); "
                + "INSERT INTO artifacts (repository, digest, media_type, kind, artifact_type, size, pushed_at, first_pushed_at, pulled_at, labels, "
                + "ref_digests, refs, children, subject, parse_problem, version) SELECT 'repo' || (i % 3), CASE WHEN i % 4 = 0 THEN sha512(('m' || i)::bytea) "
                + "ELSE sha256(('m' || i)::bytea) END, 1 + i % 2, i % 5, NULL, 100 + i * 3000000000, 2000 + i, 1000, NULL, '{}', '{}', ''::bytea, '{}', NULL, "
                + "CASE WHEN i = 5 THEN 'not a manifest' END, i * 3 FROM generate_series(1, 20) i", connection);
            await insert.ExecuteNonQueryAsync();
        }

        NpgsqlConnection.ClearAllPools();

        // when this version opens it (migrating it) and reads it as records and as columns
        await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = _stores.NewFolder() });
        var records = new RecordingSink();
        await store.ReadSnapshotAsync(records);
        var columns = new ColumnRecordingSink();
        await store.ReadSnapshotAsync(columns);

        // then each blob's and artifact's columns are what was written (a blob's last touch the later of its two times, from its
        // packed column), as its record says
        var expectedBlobs = Enumerable.Range(1, 40).Select(i => new BlobColumns(
            i % 3 == 0 ? Sha512Of($"{i}") : Digest.Sha256Of(Encoding.ASCII.GetBytes($"{i}")),
            i * 5_000_000_000L, Math.Max(1000 + (i * 7), i % 2 == 0 ? 1000 + (i * 11) : 0), (BlobStatus)(i % 5))).ToList();
        columns.Blobs.Should().BeEquivalentTo(expectedBlobs);
        records.Blobs.Select(b => new BlobColumns(b.Digest, b.Size, b.LastTouchedAt.UtcTicks, b.Status)).Should().BeEquivalentTo(expectedBlobs);
        var expectedArtifacts = Enumerable.Range(1, 20).Select(i => new ArtifactColumns(
            RepositoryName.Parse($"repo{i % 3}"), i % 4 == 0 ? Sha512Of($"m{i}") : Digest.Sha256Of(Encoding.ASCII.GetBytes($"m{i}")),
            i % 2 == 0 ? "application/vnd.oci.image.manifest.v1+json" : "application/vnd.oci.image.index.v1+json", (ManifestKind)(i % 5),
            100 + (i * 3_000_000_000L), 2000 + i, i * 3, false, i == 5 ? "not a manifest" : null)).ToList();
        columns.Artifacts.Select(a => a.Columns).Should().BeEquivalentTo(expectedArtifacts);
        records.Artifacts.Select(a => new ArtifactColumns(a.Repository, a.Digest, a.MediaType, a.Kind, a.Size, a.PushedAt.UtcTicks, a.Version, a.Trashed, a.ParseProblem))
            .Should().BeEquivalentTo(expectedArtifacts);

        static Digest Sha512Of(string text) => Digest.FromHash(SHA512.HashData(Encoding.ASCII.GetBytes(text)));
    }

    [Test]
    public void APackedBlobColumn_OfAnotherLength_IsRefused_NamingTheColumn()
    {
        // given the packed column of a sha256 blob, cut by one byte and lengthened by one
        var packed = new byte[32 + 18];
        foreach (var bytes in new[] { packed[..^1], [.. packed, 0], Array.Empty<byte>() })
        {
            // when it is unpacked
            var unpack = () => PostgresRegistryStore.UnpackBlobSnapshot(bytes, out _, out _, out _);

            // then it is refused, saying which column and how long it was
            unpack.Should().Throw<InvalidDataException>().WithMessage($"blobs.snapshot is damaged: {bytes.Length} bytes*");
        }

        // and the right length unpacks
        PostgresRegistryStore.UnpackBlobSnapshot(packed, out var size, out _, out var status).Should().Be(Digest.FromHash(new byte[32]));
        (size, status).Should().Be((0L, BlobStatus.None));
    }

    private sealed record BlobColumns(Digest Digest, long Size, long LastTouchedTicks, BlobStatus Status);

    private sealed record ArtifactRow(ArtifactColumns Columns, Digest[] References, BlobReferenceKind[] Kinds, Digest[] Children);

    private class RecordingSink : ISnapshotSink
    {
        public List<Blob> Blobs { get; } = [];

        public List<Artifact> Artifacts { get; } = [];

        public List<Tag> Tags { get; } = [];

        public List<AccessoryLink> Links { get; } = [];

        public int RecordCalls { get; private set; }

        public SnapshotSizeHint Hint { get; private set; }

        public void OnBegin(SnapshotSizeHint hint) => Hint = hint;

        public void OnBlob(Blob blob)
        {
            RecordCalls++;
            Blobs.Add(blob);
        }

        public void OnArtifact(Artifact artifact)
        {
            RecordCalls++;
            Artifacts.Add(artifact);
        }

        public void OnTag(Tag tag) => Tags.Add(tag);

        public void OnAccessoryLink(AccessoryLink link) => Links.Add(link);

        public void OnLayerLink(LayerLink link)
        {
        }

        public void OnProblem(StoreProblem problem) => throw new AssertionException($"unexpected problem: {problem}");
    }

    private sealed class ColumnRecordingSink : RecordingSink, IColumnSnapshotSink
    {
        public new List<BlobColumns> Blobs { get; } = [];

        public new List<ArtifactRow> Artifacts { get; } = [];

        public bool TakesColumns => true;

        public void OnBlobColumns(in Digest digest, long size, long lastTouchedTicks, BlobStatus status) =>
            Blobs.Add(new BlobColumns(digest, size, lastTouchedTicks, status));

        public void OnArtifactColumns(in ArtifactColumns artifact, ReadOnlySpan<Digest> references, ReadOnlySpan<BlobReferenceKind> referenceKinds, ReadOnlySpan<Digest> children) =>
            Artifacts.Add(new ArtifactRow(artifact, references.ToArray(), referenceKinds.ToArray(), children.ToArray()));
    }
}
