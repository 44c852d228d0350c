using System.Text;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Manifests;

public class ArtifactReaderTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private static readonly DateTimeOffset At = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public void Read_Image_ReferencesItsOwnBlobFirst()
    {
        var bytes = Image(D('c'), [D('1')]);

        var artifact = ArtifactReader.Read(Repo, bytes, null, At);

        artifact.Digest.Should().Be(Digest.Sha256Of(bytes));
        artifact.Kind.Should().Be(ManifestKind.OciManifest);
        artifact.References.Select(r => (r.Digest, r.Kind)).Should().Equal(
            (artifact.Digest, BlobReferenceKind.Manifest), (D('c'), BlobReferenceKind.Config), (D('1'), BlobReferenceKind.Layer));
        artifact.References[0].Size.Should().Be(bytes.Length);
    }

    [Test]
    public void Read_Unparsable_IsUnknown_AndReferencesEveryDigestItMentions()
    {
        // a schema 1 manifest: never parsed, never deleted for being unparsable, and its layers are kept
        var bytes = Encoding.UTF8.GetBytes($$"""{"schemaVersion":1,"fsLayers":[{"blobSum":"{{D('1')}}"},{"blobSum":"{{D('2')}}"},{"blobSum":"{{D('1')}}"}],"bad":"sha256:{{new string('3', 65)}}"}""");

        var artifact = ArtifactReader.Read(Repo, bytes, MediaTypes.DockerManifestSchema1Signed, At);

        artifact.Kind.Should().Be(ManifestKind.Unknown);
        artifact.ParseProblem.Should().StartWith("manifest field 'schemaVersion': Docker schema 1");
        artifact.References.Skip(1).Select(r => r.Digest).Should().Equal([D('1'), D('2')], "each mentioned digest once; a 65-hex run is not a digest");
    }

    [Test]
    public void Read_DigestNotMatchingTheContent_IsRefused()
    {
        var act = () => ArtifactReader.Read(Repo, D('e'), Image(D('c'), []), null, At);

        act.Should().Throw<ArgumentException>().Which.Message.Should().Contain("does not hash to its digest");
    }
}
