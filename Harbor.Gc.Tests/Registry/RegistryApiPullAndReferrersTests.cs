using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>Pull recording and the referrers API of <see cref="RegistryApi"/>, over both stores.</summary>
public class RegistryApiPullAndReferrersTests(StoreKind kind) : RegistryApiFixture(kind)
{
    [Test]
    public async Task RecordPull_ByTag_SetsThePullTimeOfTheArtifactAndOfTheTag()
    {
        // Given an image with two tags
        var image = await PushImage("v1");
        await Api.TagAsync(Repo, "latest", image.Digest);
        Time.Advance(TimeSpan.FromHours(1));
        var pulledAt = Time.GetUtcNow();

        // When it is pulled by one tag (retention's "most recently pulled" rules read these times)
        (await Api.RecordPullAsync(Repo, "v1")).Should().BeTrue();

        // Then the artifact and that tag record the pull, the other tag does not
        Store.GetArtifact(image.Key)!.PulledAt.Should().Be(pulledAt);
        Store.GetTags().Single(t => t.Name == "v1").PulledAt.Should().Be(pulledAt);
        Store.GetTags().Single(t => t.Name == "latest").PulledAt.Should().BeNull();
    }

    [Test]
    public async Task RecordPull_ByDigest_SetsOnlyTheArtifactPullTime()
    {
        var image = await PushImage("v1");
        Time.Advance(TimeSpan.FromHours(2));

        (await Api.RecordPullAsync(Repo, image.Digest.ToString())).Should().BeTrue();

        Store.GetArtifact(image.Key)!.PulledAt.Should().Be(Time.GetUtcNow());
        Store.GetTags().Single().PulledAt.Should().BeNull();
    }

    [Test]
    public async Task RecordPull_OfAnUnknownReference_RecordsNothing()
    {
        (await Api.RecordPullAsync(Repo, "nope")).Should().BeFalse();
        (await Api.RecordPullAsync(Repo, D('a').ToString())).Should().BeFalse();
    }

    [Test]
    public async Task GetReferrers_ReturnsAnOciImageIndexOfTheReferrers_AsTheDistributionSpecDefines()
    {
        // Given an image with a notation signature and an SBOM, and a referrer of another image
        var image = await PushImage("v1");
        var signature = await PushReferrer(image.Digest, MediaTypes.NotationSignature);
        var sbom = await PushReferrer(image.Digest, MediaTypes.HarborSbom);
        var other = await PushImage("v2");
        await PushReferrer(other.Digest, MediaTypes.NotationSignature);

        // When its referrers are listed
        var referrers = await Api.GetReferrersAsync(image.Key);

        // Then the answer is an image index of descriptors (media type, digest, size, artifactType), ordered by digest
        var expected = new[] { signature, sbom }.OrderBy(a => a.Digest.ToString(), StringComparer.Ordinal)
            .Select(a => $$"""{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{a.Digest}}","size":{{a.Size}},"artifactType":"{{a.ArtifactType}}"}""");
        Encoding.UTF8.GetString(referrers.ToJson()).Should().Be(
            $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{string.Join(",", expected)}}]}""");
        referrers.ArtifactTypeFilter.Should().BeNull();
    }

    [Test]
    public async Task GetReferrers_FilteredByArtifactType_ListsOnlyThatType()
    {
        var image = await PushImage("v1");
        var signature = await PushReferrer(image.Digest, MediaTypes.NotationSignature);
        await PushReferrer(image.Digest, MediaTypes.HarborSbom);

        var referrers = await Api.GetReferrersAsync(image.Key, MediaTypes.NotationSignature);

        referrers.Manifests.Should().Equal(new ReferrerDescriptor(MediaTypes.OciManifest, signature.Digest, signature.Size, MediaTypes.NotationSignature));
        referrers.ArtifactTypeFilter.Should().Be(MediaTypes.NotationSignature, "the registry then answers with OCI-Filters-Applied: artifactType");
    }

    [Test]
    public async Task GetReferrers_OfASubjectNotPushedYet_ListsTheReferrersAlreadyThere()
    {
        var signature = await PushReferrer(D('a'), MediaTypes.NotationSignature);

        var referrers = await Api.GetReferrersAsync(new ArtifactKey(Repo, D('a')));

        referrers.Manifests.Should().ContainSingle().Which.Digest.Should().Be(signature.Digest);
    }

    [Test]
    public async Task GetReferrers_WithNone_IsAnEmptyIndex()
    {
        var image = await PushImage("v1");

        var referrers = await Api.GetReferrersAsync(image.Key);

        Encoding.UTF8.GetString(referrers.ToJson()).Should().Be($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[]}""");
    }
}
