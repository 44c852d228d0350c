using Harbor.Gc.Model;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The LiteDB store keeps an artifact's first push apart from its last touch (DESIGN.md §6) in an optional field, so schema
/// version 1 files written before it existed still open, read and take pushes.
/// </summary>
public class LiteDbFirstPushTests
{
    private static readonly DateTimeOffset Start = new(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public void Given_an_artifact_written_without_a_first_push_time_when_read_and_pushed_again_then_its_old_push_time_stands_for_it()
    {
        // Given a store whose artifact document has no firstPushedAt, as this project's earlier versions wrote it
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        var time = new FakeTimeProvider(Start);
        Artifact image;
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), time)))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            image = r.Image(r.Blob("config"), r.Blob("layer"));
            store.PutTag(image.Repository, "v1", image.Digest);
            store.GetArtifact(image.Key)!.FirstPushedAt.Should().Be(Start, "a new store writes the field");
        }

        using (var db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(folder, "harbor-gc.db"), Connection = ConnectionType.Shared }))
        {
            var artifacts = db.GetCollection(LiteDbDocuments.Artifacts);
            var doc = artifacts.FindAll().Single();
            doc.Remove(LiteDbDocuments.FirstPushedAt).Should().BeTrue();
            artifacts.Update(doc).Should().BeTrue();
        }

        // When it is opened, read, and the same manifest is pushed again twenty days later
        time.Advance(TimeSpan.FromDays(20));
        using var reopened = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder), time));
        reopened.GetArtifact(image.Key)!.FirstPushedAt.Should().BeNull("the field is absent: PushedAt stands for it");
        reopened.PutArtifact(image);

        // Then its earlier push time became its first push, and the push its last touch
        var stored = reopened.GetArtifact(image.Key)!;
        (stored.FirstPushedAt, stored.PushedAt).Should().Be((Start, Start + TimeSpan.FromDays(20)));
    }
}
