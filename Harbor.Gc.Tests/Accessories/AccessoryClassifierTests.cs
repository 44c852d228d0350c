using Harbor.Gc.Accessories;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Accessories;

/// <summary>Every row of DESIGN.md §4's detection table.</summary>
public class AccessoryClassifierTests
{
    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");
    private static readonly DateTimeOffset At = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [TestCase(MediaTypes.CosignSignatureArtifact, AccessoryTypes.CosignSignature)]
    [TestCase(MediaTypes.SigstoreBundle, AccessoryTypes.CosignSignature)]
    [TestCase(MediaTypes.NotationSignature, AccessoryTypes.NotationSignature)]
    [TestCase(MediaTypes.HarborSbom, AccessoryTypes.HarborSbom)]
    [TestCase("application/vnd.in-toto+json", AccessoryTypes.SubjectAccessory, Description = "any other referrer")]
    public void ClassifyBySubject_ByArtifactType_IsHard(string artifactType, string expected)
    {
        var bytes = Referrer(D('d'), artifactType, D('9'));
        var artifact = ArtifactReader.Read(Repo, bytes, null, At);

        var link = AccessoryClassifier.Default.ClassifyBySubject(artifact, ManifestParser.Parse(bytes));

        link.Should().Be(new AccessoryLink(Repo, artifact.Digest, D('d'), expected, ReferenceStrength.Hard));
    }

    [Test]
    public void ClassifyBySubject_ConfigMediaTypeStandsInForArtifactType()
    {
        // cosign before OCI 1.1 artifactType: the signature type is the config media type
        var bytes = Image(D('c'), [D('1')], configType: MediaTypes.CosignSignatureArtifact, subject: D('d'));

        var link = AccessoryClassifier.Default.ClassifyBySubject(ArtifactReader.Read(Repo, bytes, null, At), ManifestParser.Parse(bytes));

        link!.Type.Should().Be(AccessoryTypes.CosignSignature);
    }

    [Test]
    public void ClassifyBySubject_NydusImage_IsAnAccelerator()
    {
        var bootstrap = "," + Descriptor(D('b'), 10, MediaTypes.OciLayerGzip, $"\"annotations\":{{\"{ManifestParser.NydusBootstrapAnnotation}\":\"true\"}}");
        var bytes = Image(D('c'), [D('1')], subject: D('d'), extraLayers: bootstrap);

        AccessoryClassifier.Default.ClassifyBySubject(ArtifactReader.Read(Repo, bytes, null, At), ManifestParser.Parse(bytes))!.Type
            .Should().Be(AccessoryTypes.NydusAccelerator);
    }

    [Test]
    public void ClassifyBySubject_NoSubject_IsNotAnAccessory()
    {
        var bytes = Image(D('c'), [D('1')], artifactType: MediaTypes.NotationSignature);

        AccessoryClassifier.Default.ClassifyBySubject(ArtifactReader.Read(Repo, bytes, null, At), ManifestParser.Parse(bytes)).Should().BeNull();
    }

    [Test]
    public void With_RegisteredSoftType_IsSoft_AndTheDefaultIsUnchanged()
    {
        var bytes = Referrer(D('d'), "application/vnd.example.scan-report", D('9'));
        var artifact = ArtifactReader.Read(Repo, bytes, null, At);
        var classifier = AccessoryClassifier.Default.With("application/vnd.example.scan-report", "report.scan", ReferenceStrength.Soft);

        classifier.ClassifyBySubject(artifact, null)!.Should().Match<AccessoryLink>(l => l.Type == "report.scan" && l.Strength == ReferenceStrength.Soft);
        AccessoryClassifier.Default.ClassifyBySubject(artifact, null)!.Type.Should().Be(AccessoryTypes.SubjectAccessory);
    }

    [TestCase(".sig", AccessoryTypes.CosignSignature)]
    [TestCase(".att", AccessoryTypes.CosignAttestation)]
    [TestCase(".sbom", AccessoryTypes.CosignSbom)]
    public void ClassifyByTag_CosignTagScheme_IsHardAndMarked(string suffix, string expected)
    {
        var signature = ArtifactReader.Read(Repo, Image(D('c'), [D('1')], layerType: MediaTypes.CosignSimpleSigning), null, At);

        var link = AccessoryClassifier.ClassifyByTag(signature, $"sha256-{D('d').Hex}{suffix}");

        link.Should().Be(new AccessoryLink(Repo, signature.Digest, D('d'), expected, ReferenceStrength.Hard, FromTagScheme: true));
    }

    [Test]
    public void ClassifyByTag_SigTagWithoutTheSimpleSigningLayer_IsAnOrdinaryTag()
    {
        var notCosign = ArtifactReader.Read(Repo, Image(D('c'), [D('1')]), null, At);

        AccessoryClassifier.ClassifyByTag(notCosign, $"sha256-{D('d').Hex}.sig").Should().BeNull();
    }

    [TestCase("sha256-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE.sig", Description = "upper case")]
    [TestCase("sha256-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.sig", Description = "63 hex")]
    [TestCase("sha256-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.sig2", Description = "other suffix")]
    [TestCase("sha512-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.sig", Description = "other algorithm")]
    [TestCase("latest")]
    public void TryParseTagScheme_Rejects(string tag) => AccessoryClassifier.IsTagSchemeTag(tag).Should().BeFalse();

    [Test]
    public void TryParseTagScheme_ReadsTheSubject()
    {
        AccessoryClassifier.TryParseTagScheme($"sha256-{D('a').Hex}.att", out var subject, out var type).Should().BeTrue();
        subject.Should().Be(D('a'));
        type.Should().Be(AccessoryTypes.CosignAttestation);
    }
}
