using System.Net;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// <c>harbor-gc gc</c> for real on the storage of a real CNCF Distribution 2.8.2 registry, checked afterwards through the
/// registry's own HTTP API (issue 3). The registry is stopped while the collector runs, as an operator would stop it (or put it
/// in read-only mode) for Distribution's own <c>garbage-collect</c>, and started again on the same root to serve what is left.
/// </summary>
[Category("Integration")]
public class DistributionGcIntegrationTests : RegistryIntegrationTest
{
    [Test]
    public async Task RealRun_WindowZero_CollectsTheGarbage_AndTheRestartedRegistryServesEveryLiveManifestAndBlob()
    {
        // given: every scenario of issue 3, pushed over HTTP
        var scenario = await IssueThreeScenario.PushAsync(Push);

        // when: the registry is stopped, harbor-gc collects for real (window 0: everything was pushed just now), the registry restarts
        Registry.Stop();
        var report = await HarborGcAsync("--time-window", "0");
        await Registry.StartAsync();

        // then: the report deleted exactly the scenario's garbage, for the scenario's reasons, and its dead blobs
        report.DryRun.Should().BeFalse();
        report.Artifacts.Should().BeEquivalentTo(scenario.Garbage.Select(g => (g.Manifest.Repository, g.Manifest.Digest, g.Reason)));
        report.Blobs.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(scenario.DeadBlobs);
        report.Blobs.Should().Contain(scenario.Unreferenced.Select(u => u.Digest)).And.Contain(scenario.OnlyInGarbage)
            .And.NotContain(scenario.SharedWithLive, "a blob lives while any live manifest in any repository references it");
        (report.ArtifactsKept, report.BlobsKept, report.BlobsFailed).Should().Be((0, 0, 0), "nothing changed during the run");

        // every live manifest (tagged images, index children, accessories) and every blob it references still serves
        foreach (var manifest in scenario.Live)
        {
            await ShouldServeAsync(manifest);
        }

        foreach (var (repository, tags) in scenario.Tags)
        {
            (await Client.ListTagsAsync(repository)).Should().BeEquivalentTo(tags, $"{repository} keeps its user tags and v1's cosign tag only");
            foreach (var tag in tags)
            {
                var byTag = await Client.GetManifestAsync(repository, tag);
                byTag.Status.Should().Be(HttpStatusCode.OK, $"{repository}:{tag}: {byTag.Text}");
                scenario.Live.Select(m => m.Digest.ToString()).Should().Contain(byTag.DigestHeader);
            }
        }

        (await Client.GetManifestAsync(IssueThreeScenario.App, "latest")).DigestHeader.Should().Be(scenario.Live[1].Digest.ToString(), "latest names v2");

        // everything the report deleted is gone: manifests by digest, the old image's signature tag, blobs from every repository
        foreach (var (repository, digest, _) in report.Artifacts)
        {
            await ShouldBeGoneAsync(repository, digest.ToString());
        }

        await ShouldBeGoneAsync(IssueThreeScenario.App, $"sha256-{scenario.Garbage[0].Manifest.Digest.Hex}.sig");
        foreach (var blob in report.Blobs)
        {
            foreach (var repository in IssueThreeScenario.Repositories)
            {
                var response = await Client.GetBlobAsync(repository, blob);
                response.Status.Should().Be(HttpStatusCode.NotFound, $"blob {blob} was deleted, yet {repository} answered {response.Text}");
                response.ErrorCode.Should().Be("BLOB_UNKNOWN");
            }
        }

        // and a second run, on the collected tree, plans nothing
        Registry.Stop();
        var second = await HarborGcAsync("--dry-run", "--time-window", "0");
        second.Artifacts.Should().BeEmpty();
        second.Blobs.Should().BeEmpty();
        second.LayerLinks.Should().Be(0, "the first run removed the layer links of the blobs it deleted");
    }

    [Test]
    public async Task RealRun_DefaultWindow_OnAFreshRegistry_DeletesNothing()
    {
        // given: the same scenarios, all pushed within the last minute
        var scenario = await IssueThreeScenario.PushAsync(Push);
        Registry.Stop();
        var before = await TreeAsync();

        // when: a real run with the default time window (2 h)
        var report = await HarborGcAsync();

        // then: everything is younger than the window, so everything is a root and not a file changed
        report.DryRun.Should().BeFalse();
        report.Artifacts.Should().BeEmpty();
        report.Blobs.Should().BeEmpty();
        report.LayerLinks.Should().Be(0);
        (await TreeAsync()).Should().Equal(before);

        await Registry.StartAsync();
        foreach (var manifest in scenario.Live.Concat(scenario.Garbage.Select(g => g.Manifest)))
        {
            await ShouldServeAsync(manifest);
        }

        foreach (var (repository, blob) in scenario.Unreferenced)
        {
            (await Client.GetBlobAsync(repository, blob)).Status.Should().Be(HttpStatusCode.OK, "a blob uploaded a moment ago is within the window");
        }
    }

    /// <summary>The manifest serves by digest (GET and HEAD, same bytes and digest) and so does every blob it references.</summary>
    private async Task ShouldServeAsync(PushedManifest manifest)
    {
        var get = await Client.GetManifestAsync(manifest.Repository, manifest.Digest.ToString());
        get.Status.Should().Be(HttpStatusCode.OK, $"{manifest.Repository}@{manifest.Digest} is live, yet the registry answered {get.Text}");
        Digest.Sha256Of(get.Body).Should().Be(manifest.Digest);
        get.ContentType.Should().Be(manifest.MediaType);
        var head = await Client.HeadManifestAsync(manifest.Repository, manifest.Digest.ToString());
        head.Status.Should().Be(HttpStatusCode.OK);
        head.DigestHeader.Should().Be(manifest.Digest.ToString());
        head.ContentLength.Should().Be(manifest.Body.Length);

        foreach (var blob in manifest.Blobs)
        {
            var response = await Client.GetBlobAsync(manifest.Repository, blob);
            response.Status.Should().Be(HttpStatusCode.OK, $"blob {blob} of live {manifest.Repository}@{manifest.Digest}: {response.Text}");
            Digest.Sha256Of(response.Body).Should().Be(blob, $"the bytes of {blob} in {manifest.Repository}");
        }
    }

    private async Task ShouldBeGoneAsync(string repository, string reference)
    {
        var response = await Client.GetManifestAsync(repository, reference);
        response.Status.Should().Be(HttpStatusCode.NotFound, $"{repository}:{reference} was deleted, yet the registry answered {response.Text}");
        response.ErrorCode.Should().Be("MANIFEST_UNKNOWN");
    }

    /// <summary>Every file under the registry's root with its size and time, for a before/after comparison.</summary>
    private protected virtual Task<List<string>> TreeAsync() => Task.FromResult(
        Directory.EnumerateFiles(Registry.Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(Registry.Root, f)} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f).Ticks}").ToList());
}
