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

    private sealed record BlobColumns(Digest Digest, long Size, long LastTouchedTicks, BlobStatus Status);

    private sealed record ArtifactRow(ArtifactColumns Columns, Digest[] References, BlobReferenceKind[] Kinds, Digest[] Children);

    private class RecordingSink : ISnapshotSink
    {
        public List<Blob> Blobs { get; } = [];

        public List<Artifact> Artifacts { get; } = [];

        public List<Tag> Tags { get; } = [];

        public List<AccessoryLink> Links { get; } = [];

        public int RecordCalls { get; private set; }

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

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
