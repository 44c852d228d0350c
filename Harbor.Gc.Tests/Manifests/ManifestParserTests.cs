using System.Text;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Manifests;

public class ManifestParserTests
{
    [TestCase(MediaTypes.OciManifest, ManifestKind.OciManifest)]
    [TestCase(MediaTypes.DockerManifest, ManifestKind.DockerManifest)]
    public void Parse_ImageManifest_GivesConfigThenLayers(string mediaType, ManifestKind kind)
    {
        var parsed = ManifestParser.Parse(Image(D('c'), [D('1'), D('2')], mediaType));

        parsed.Kind.Should().Be(kind);
        parsed.MediaType.Should().Be(mediaType);
        parsed.References.Select(r => (r.Digest, r.Kind, r.Size)).Should().Equal(
            (D('c'), BlobReferenceKind.Config, 123L), (D('1'), BlobReferenceKind.Layer, 1000L), (D('2'), BlobReferenceKind.Layer, 1000L));
        parsed.ArtifactType.Should().Be(MediaTypes.OciConfig, "without artifactType, the config media type is the artifact type");
        parsed.Children.Should().BeEmpty();
        parsed.Subject.Should().BeNull();
    }

    [TestCase(MediaTypes.OciIndex, ManifestKind.OciIndex)]
    [TestCase(MediaTypes.DockerManifestList, ManifestKind.DockerManifestList)]
    public void Parse_Index_GivesChildren(string mediaType, ManifestKind kind)
    {
        var parsed = ManifestParser.Parse(Index([D('a'), D('b')], mediaType));

        parsed.Kind.Should().Be(kind);
        parsed.Children.Should().Equal(D('a'), D('b'));
        parsed.References.Should().BeEmpty();
    }

    [Test]
    public void Parse_ForeignLayer_IsFlagged()
    {
        var foreign = "," + Descriptor(D('f'), 9_000_000, MediaTypes.DockerForeignLayer, "\"urls\":[\"https://mcr.example/layer\"]");

        var parsed = ManifestParser.Parse(Image(D('c'), [D('1')], MediaTypes.DockerManifest, MediaTypes.DockerConfig, MediaTypes.DockerLayerGzip, extraLayers: foreign));

        parsed.References.Select(r => (r.Digest, r.IsForeign)).Should().Equal((D('c'), false), (D('1'), false), (D('f'), true));
    }

    [Test]
    public void Parse_Referrer_GivesSubjectAndArtifactType()
    {
        var parsed = ManifestParser.Parse(Referrer(D('d'), MediaTypes.NotationSignature, D('9')));

        parsed.Subject.Should().Be(D('d'));
        parsed.ArtifactType.Should().Be(MediaTypes.NotationSignature, "artifactType wins over the (empty) config media type");
    }

    [Test]
    public void Parse_NydusBootstrapLayer_IsRecognised()
    {
        var bootstrap = "," + Descriptor(D('b'), 10, MediaTypes.OciLayerGzip, $"\"annotations\":{{\"{ManifestParser.NydusBootstrapAnnotation}\":\"true\"}}");

        ManifestParser.Parse(Image(D('c'), [D('1')], extraLayers: bootstrap)).HasNydusBootstrapLayer.Should().BeTrue();
        ManifestParser.Parse(Image(D('c'), [D('1')])).HasNydusBootstrapLayer.Should().BeFalse();
    }

    [TestCase("""{"config":{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":1},"layers":[]}""", ManifestKind.OciManifest, Description = "no mediaType: config means an OCI manifest, as Distribution detects it")]
    [TestCase("""{"manifests":[]}""", ManifestKind.OciIndex, Description = "no mediaType: manifests means an OCI index")]
    public void Parse_WithoutMediaType_DetectsTheKind(string json, ManifestKind kind) =>
        ManifestParser.Parse(Encoding.UTF8.GetBytes(json)).Kind.Should().Be(kind);

    [Test]
    public void Parse_DeclaredTypeUsed_WhenTheFieldIsMissing() =>
        ManifestParser.Parse("""{"manifests":[]}"""u8, MediaTypes.DockerManifestList).Kind.Should().Be(ManifestKind.DockerManifestList);

    [TestCase("{ not json", "manifest field '$': not valid JSON")]
    [TestCase("[1,2]", "manifest field '$': expected a JSON object, found an array")]
    [TestCase("""{"schemaVersion":1,"fsLayers":[]}""", "manifest field 'schemaVersion': Docker schema 1 manifests are not parsed")]
    [TestCase("""{"mediaType":"application/vnd.example+json","config":{}}""", "manifest field 'mediaType': media type 'application/vnd.example+json' is not a manifest kind this collector understands")]
    [TestCase("""{"mediaType":7}""", "manifest field 'mediaType': expected a string, found a number")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}""", "manifest field 'config': missing")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"size":1}}""", "manifest field 'config.digest': missing")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:../../etc/passwd","size":1}}""", "manifest field 'config.digest': 'sha256:../../etc/passwd' is not a valid digest: sha256 takes 64 hex characters after ':', found 16", Description = "a path trick in a digest")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":-1}}""", "manifest field 'config.size': expected a non-negative integer, found -1")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":1},"layers":[{"digest":"sha256:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC","size":1}]}""", "manifest field 'layers[0].digest': 'sha256:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC' is not a valid digest: character 'C' at position 7 is not a lowercase hex digit")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":1},"layers":{}}""", "manifest field 'layers': expected an array, found an object")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:x","size":1}]}""", "manifest field 'manifests[0].digest': 'sha256:x' is not a valid digest")]
    [TestCase("""{"mediaType":"application/vnd.oci.image.index.v1+json"}""", "manifest field 'manifests': missing")]
    [TestCase("""{"schemaVersion":2}""", "manifest field 'mediaType': missing, and the document has neither 'manifests' nor 'config' to tell its kind")]
    public void Parse_Malformed_FailsSayingWhatAndWhere(string json, string message)
    {
        var act = () => ManifestParser.Parse(Encoding.UTF8.GetBytes(json));

        act.Should().Throw<ManifestFormatException>().Which.Message.Should().StartWith(message);
    }

    [Test]
    public void Parse_DeclaredTypeContradictingTheField_IsAnError()
    {
        var act = () => ManifestParser.Parse(Index([D('a')]), MediaTypes.OciManifest);

        act.Should().Throw<ManifestFormatException>().Which.Message.Should()
            .Be($"manifest field 'mediaType': '{MediaTypes.OciIndex}' does not match the media type '{MediaTypes.OciManifest}' it was pushed with");
    }
}
