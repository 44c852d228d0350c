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

        // and every reference to a blob the push locked came as that blob (its row id, schema version 5), every foreign one as its digest
        columns.ByBlob.Should().BeEquivalentTo(records.Artifacts.Select(a => a.References.Select(r => !r.IsForeign).ToArray()), o => o.WithStrictOrdering());
        records.Artifacts.Should().Contain(a => a.References.Any(r => r.IsForeign), "the registry has foreign layers");
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
    public async Task APush_WritesItsReferencesAsBlobRowIds_ButAForeignLayerAsItsDigest_EvenWhenTheStoreHasThatBlob()
    {
        // given images pushed through the store: one with a layer, a foreign layer whose digest the store also has a blob row for (a
        // push neither locks nor needs a foreign layer's blob), and a foreign layer the store has no blob for; pushed twice (an update)
        var registry = new ScenarioRegistry(_stores);
        var layer = registry.Blob();
        var alsoForeign = registry.Blob();
        BlobReference[] foreign =
        [
            new(alsoForeign, 100, MediaTypes.DockerForeignLayer, BlobReferenceKind.Layer, IsForeign: true),
            new(Digest.Sha256Of("elsewhere"u8), 500, MediaTypes.DockerForeignLayer, BlobReferenceKind.Layer, IsForeign: true),
        ];
        var image = registry.Image("library/app", [layer], tag: "v1", foreignLayers: foreign);
        registry.Store.PutArtifact(image);

        // when a collection's sink reads the store
        var columns = new ColumnRecordingSink();
        await registry.Store.Inner.ReadSnapshotAsync(columns);

        // then the manifest, config and layer came as their blobs, both foreign layers as their digests, in the manifest's order
        columns.Artifacts.Should().ContainSingle().Which.References.Should().Equal(image.References.Select(r => r.Digest));
        columns.ByBlob.Should().ContainSingle().Which.Should().Equal(true, true, true, false, false);
        columns.Artifacts[0].Kinds.Should().Equal(image.References.Select(r => r.Kind));
    }

    [Test]
    public async Task ADryRun_OverAnArtifactWhosePackedReferenceKeysAreDamaged_IsRefused_NamingTheColumn_AndItsRecordIsReadAsBefore()
    {
        // given a store with an image, whose references as blob row ids (what a collection reads) are then cut short by something
        // other than this store
        var registry = new ScenarioRegistry(_stores);
        var layer = registry.Blob();
        registry.Image("library/app", [layer], tag: "v1");
        (await ExecuteAsync(registry, "UPDATE artifacts SET ref_keys = substring(ref_keys FROM 1 FOR 3)")).Should().Be(1);

        // when a dry run reads it (the graph builder takes columns)
        var collector = new GarbageCollector(registry.Store.Inner, registry.Time);
        var plan = () => collector.PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true });

        // then it is refused, saying which column is damaged; the artifact's record (its packed references) still reads
        (await plan.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("artifacts.ref_keys is damaged");
        var records = new RecordingSink();
        await registry.Store.Inner.ReadSnapshotAsync(records);
        records.Artifacts.Should().ContainSingle().Which.References.Select(r => r.Digest).Should().Contain(layer);
    }

    [Test]
    public async Task ASnapshot_OverAnArtifactWhosePackedReferencesAreDamaged_IsRefused_NamingTheColumn()
    {
        // given a store with an image, whose packed references (the artifact's record) are then cut short by something other than this store
        var registry = new ScenarioRegistry(_stores);
        var layer = registry.Blob();
        registry.Image("library/app", [layer], tag: "v1");
        (await ExecuteAsync(registry, "UPDATE artifacts SET refs = substring(refs FROM 1 FOR 20)")).Should().Be(1);

        // when the store is read as records
        var records = () => registry.Store.Inner.ReadSnapshotAsync(new RecordingSink()).AsTask();

        // then it is refused, saying which column is damaged
        (await records.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("artifacts.refs is damaged");
    }

    [TestCase("DELETE FROM blobs WHERE status = 0 AND id = (SELECT min(id) FROM blobs)", "names blob row id")]
    [TestCase("ALTER TABLE blobs ALTER COLUMN id SET GENERATED BY DEFAULT; UPDATE blobs SET id = (SELECT min(id) FROM blobs) WHERE id = (SELECT max(id) FROM blobs)",
        "is the id of two blob rows")]
    public async Task ADryRun_OverBlobRowIdsChangedByHand_IsRefused_AndNothingIsDeleted(string change, string message)
    {
        // given a store with two images sharing a layer, one untagged (garbage), then its blob rows changed by hand: a referenced blob's row
        // deleted (its artifacts' references name an id no row has), or a second row given another's id (a reference would name either)
        var registry = new ScenarioRegistry(_stores);
        var shared = registry.Blob();
        registry.Image("library/app", [shared, registry.Blob()], tag: "v1");
        registry.Image("library/app", [shared, registry.Blob()]);
        var blobsBefore = await ScalarAsync(registry, "SELECT count(*) FROM blobs");
        await ExecuteAsync(registry, change);
        registry.Age(TimeSpan.FromDays(30)); // the untagged image past any time window

        // when a real run reads it
        var collector = new GarbageCollector(registry.Store.Inner, registry.Time);
        var run = () => collector.RunAsync(new GcOptions { DryRun = false, DeleteUntagged = true });

        // then it is refused, saying what is wrong, and no artifact or blob was deleted
        (await run.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain(message);
        (await ScalarAsync(registry, "SELECT count(*) FROM artifacts")).Should().Be(2);
        (await ScalarAsync(registry, "SELECT count(*) FROM blobs")).Should().BeGreaterThanOrEqualTo(blobsBefore - 1);
        (await ScalarAsync(registry, "SELECT count(*) FROM blobs WHERE status <> 0")).Should().Be(0);
    }

    private static async Task<int> ExecuteAsync(ScenarioRegistry registry, string sql)
    {
        await using var connection = await ((PostgresRegistryStore)registry.Store.Inner).OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> ScalarAsync(ScenarioRegistry registry, string sql)
    {
        await using var connection = await ((PostgresRegistryStore)registry.Store.Inner).OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task AStoreOfSchemaVersion1_IsMigrated_AndACollectionReadsItsReferences_AsBlobRowIdsWhereTheStoreHasTheRow()
    {
        // given a store as schema version 1 made it (references as five parallel arrays), with blob rows for some references: per
        // artifact i a config (a row), a sha512 layer (a row when i is even), a layer without a row, and a foreign layer that has a row
        using var database = await PostgresTestDatabases.NewStoreDatabaseAtAsync(1,
            "INSERT INTO blobs (digest, size, media_type, created_at, updated_at, status) SELECT sha256(('config' || i)::bytea), 7, NULL, 1, 2, 0 FROM generate_series(1, 30) i; "
            + "INSERT INTO blobs (digest, size, media_type, created_at, updated_at, status) SELECT sha512(('layer' || i)::bytea), 9, NULL, 1, 2, 0 FROM generate_series(2, 30, 2) i; "
            + "INSERT INTO blobs (digest, size, media_type, created_at, updated_at, status) VALUES (sha256('foreign'::bytea), 5, NULL, 1, 2, 0); "
            + "INSERT INTO artifacts SELECT 'repo' || (i % 3), sha256(i::text::bytea), 'application/vnd.oci.image.manifest.v1+json', 1, NULL, 100 + i, 10, 5, NULL, '{}', "
            + "ARRAY[sha256(('config' || i)::bytea), sha512(('layer' || i)::bytea), sha256(('missing' || i)::bytea), sha256('foreign'::bytea)], "
            + "ARRAY[7::bigint, 9, 3, 5], ARRAY['application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.layer.v1.tar+gzip', NULL, NULL], "
            + "ARRAY[1::smallint, 2, 2, 2], ARRAY[false, false, false, true], '{}', NULL, NULL, i FROM generate_series(1, 30) i");

        // when this version opens it (migrating it to version 5) and reads it as records and as columns
        await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = _stores.NewFolder() });
        var records = new RecordingSink();
        await store.ReadSnapshotAsync(records);
        var columns = new ColumnRecordingSink();
        await store.ReadSnapshotAsync(columns);

        // then the columns' references are the records', in order, with their kinds; a reference came as its blob where the store has
        // the blob's row and it is not foreign, as its digest otherwise
        records.Artifacts.Should().HaveCount(30);
        columns.Artifacts.Select(a => (a.Columns.Digest, a.References, a.Kinds)).Should().BeEquivalentTo(
            records.Artifacts.Select(a => (a.Digest, a.References.Select(r => r.Digest).ToArray(), a.References.Select(r => r.Kind).ToArray())),
            o => o.WithStrictOrdering());
        var byBlob = columns.Artifacts.Zip(columns.ByBlob).ToDictionary(p => p.First.Columns.Digest, p => p.Second);
        for (var i = 1; i <= 30; i++)
        {
            var digest = Digest.Sha256Of(Encoding.ASCII.GetBytes($"{i}"));
            byBlob[digest].Should().Equal([true, i % 2 == 0, false, false], $"artifact {i}");
        }

        // and a collection over it (untagged artifacts kept) plans to delete no blob a reference names through its row id
        var plan = await new GarbageCollector(store, TimeProvider.System).PlanAsync(new GcOptions { DryRun = true });
        var named = columns.Artifacts.SelectMany(a => a.References.Where((_, r) => byBlob[a.Columns.Digest][r])).ToHashSet();
        named.Should().HaveCount(45);
        plan.Blobs.Select(b => b.Digest).Should().NotIntersectWith(named);
    }

    [Test]
    public async Task AStoreOfSchemaVersion3_IsMigrated_AndItsBlobsAndArtifactsReadAsTheirRecords()
    {
        // given a store as schema version 3 made it, with blobs of either algorithm, every status, retouched (updated after created)
        // and not, and a size past 32 bits; and artifacts of either algorithm, several kinds and media types, one with a parse problem
        using var database = await PostgresTestDatabases.NewStoreDatabaseAtAsync(3,
            "INSERT INTO blobs (digest, size, media_type, created_at, updated_at, status) SELECT CASE WHEN i % 3 = 0 THEN sha512(i::text::bytea) "
            + "ELSE sha256(i::text::bytea) END, i * 5000000000, NULL, 1000 + i * 7, CASE WHEN i % 2 = 0 THEN 1000 + i * 11 ELSE 0 END, i % 5 "
            + "FROM generate_series(1, 40) i; "
            + "INSERT INTO media_types (name) VALUES ('application/vnd.oci.image.manifest.v1+json'), ('application/vnd.oci.image.index.v1+json'); "
            + "INSERT INTO artifacts (repository, digest, media_type, kind, artifact_type, size, pushed_at, first_pushed_at, pulled_at, labels, "
            + "ref_digests, refs, children, subject, parse_problem, version) SELECT 'repo' || (i % 3), CASE WHEN i % 4 = 0 THEN sha512(('m' || i)::bytea) "
            + "ELSE sha256(('m' || i)::bytea) END, 1 + i % 2, i % 5, NULL, 100 + i * 3000000000, 2000 + i, 1000, NULL, '{}', '{}', ''::bytea, '{}', NULL, "
            + "CASE WHEN i = 5 THEN 'not a manifest' END, i * 3 FROM generate_series(1, 20) i");

        // when this version opens it (migrating it) and reads it as records and as columns
        await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = _stores.NewFolder() });
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
        var packed = new byte[8 + 32 + 18];
        packed[7] = 9; // its row id
        foreach (var bytes in new[] { packed[..^1], [.. packed, 0], Array.Empty<byte>() })
        {
            // when it is unpacked
            var unpack = () => PostgresRegistryStore.UnpackBlobSnapshot(bytes, out _, out _, out _, out _);

            // then it is refused, saying which column and how long it was
            unpack.Should().Throw<InvalidDataException>().WithMessage($"blobs.snapshot is damaged: {bytes.Length} bytes*");
        }

        // and the right length unpacks
        PostgresRegistryStore.UnpackBlobSnapshot(packed, out var id, out var size, out _, out var status).Should().Be(Digest.FromHash(new byte[32]));
        (id, size, status).Should().Be((9L, 0L, BlobStatus.None));
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

        /// <summary>Per artifact, per reference: whether it came as a blob of the snapshot (a row id in the store), not as a digest.</summary>
        public List<bool[]> ByBlob { get; } = [];

        public void OnArtifactColumns(in ArtifactColumns artifact, ReadOnlySpan<int> referenceBlobs, ReadOnlySpan<Digest> referenceDigests,
            ReadOnlySpan<BlobReferenceKind> referenceKinds, ReadOnlySpan<Digest> children)
        {
            // a blob ordinal names a blob this sink was given before
            var references = new Digest[referenceBlobs.Length];
            for (var r = 0; r < references.Length; r++)
            {
                referenceBlobs[r].Should().BeLessThan(Blobs.Count, "a reference names a blob already delivered");
                references[r] = referenceBlobs[r] >= 0 ? Blobs[referenceBlobs[r]].Digest : referenceDigests[r];
            }

            Artifacts.Add(new ArtifactRow(artifact, references, referenceKinds.ToArray(), children.ToArray()));
            ByBlob.Add([.. referenceBlobs.ToArray().Select(b => b >= 0)]);
        }
    }
}
