using Harbor.Gc.Model;
using Harbor.Gc.Replication;

namespace Harbor.Gc.Tests.Replication;

/// <summary>What the replication snapshot keeps of a store's snapshot.</summary>
public class ReplicationSnapshotTests
{
    [Test]
    public void An_artifact_its_stores_catalog_deleted_is_not_replicated()
    {
        // given a snapshot receiving an artifact and one Harbor deleted (its manifest still in the storage: Artifact.Trashed)
        var snapshot = new ReplicationSnapshot();
        Artifact Of(string text, bool trashed) => new()
        {
            Repository = RepositoryName.Parse("library/app"), Digest = Digest.Sha256Of(System.Text.Encoding.UTF8.GetBytes(text)),
            MediaType = MediaTypes.OciManifest, Kind = ManifestKind.OciManifest, PushedAt = DateTimeOffset.UnixEpoch, Trashed = trashed,
        };

        // when both are read
        snapshot.OnArtifact(Of("kept", trashed: false));
        snapshot.OnArtifact(Of("deleted", trashed: true));

        // then only the first is there to replicate
        snapshot.Artifacts.Select(a => a.Digest).Should().Equal(Digest.Sha256Of("kept"u8.ToArray()));
    }
}
