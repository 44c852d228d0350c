using System.Net;
using Harbor.Gc.Runner;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// <c>harbor-gc retention run</c> for real on the storage of a real CNCF Distribution 2.8.2 registry, then <c>harbor-gc gc</c>,
/// checked through the registry's own HTTP API. As for GC, the registry is stopped while harbor-gc runs and started again on
/// the same root.
/// </summary>
[Category("Integration")]
public class RetentionIntegrationTests : RegistryIntegrationTest
{
    private const string App = "library/app";

    [Test]
    public async Task Given_v1_signed_and_v2_and_a_multi_arch_latest_when_latestPushedK_2_runs_then_v1_and_its_accessories_go_and_the_next_GC_frees_only_their_blobs()
    {
        // given: v1 with a cosign signature and a notation referrer; then v2 (sharing the base layer); then a multi-arch "latest"
        var v1 = await Push.ImageAsync(App, "v1", "{\"v\":1}", ["base layer", "v1 layer"]);
        var v1Sig = await Push.CosignSignatureAsync(v1, "v1 signed");
        var v1Notation = await Push.ReferrerAsync(v1, "application/vnd.cncf.notary.signature", "v1 notation");
        await Task.Delay(PushTimeResolution); // push times are the revision links' times
        var v2 = await Push.ImageAsync(App, "v2", "{\"v\":2}", ["base layer", "v2 layer"]);
        await Task.Delay(PushTimeResolution);
        var amd = await Push.ImageAsync(App, null, "{\"arch\":\"amd64\"}", ["amd64 layer"]);
        var arm = await Push.ImageAsync(App, null, "{\"arch\":\"arm64\"}", ["arm64 layer"]);
        var latest = await Push.IndexAsync(App, "latest", amd, arm);
        var policy = Path.Combine(Registry.Root, "policy.json");
        await File.WriteAllTextAsync(policy, """
            {"algorithm": "or", "rules": [{"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 2},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "scope": {"level": "project", "ref": "library"}}
            """);

        // when: retention runs for real on the stopped registry's storage, and the registry restarts
        Registry.Stop();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(["retention", "run", "--policy", policy, "--store", StoreSpec, "--grace-period", "1s"], stdout, stderr, Clock, CancellationToken.None);
        await Registry.StartAsync();

        // then: v1 and both its accessories are gone, with the signature's tag; v2, latest and its untagged children serve
        code.Should().Be(0, stderr.ToString());
        stdout.ToString().Should().Contain("library/app: 2 retained, 1 deleted of 3 candidate(s); 3 artifact(s) planned for deletion with their accessories and children");
        foreach (var gone in new[] { v1, v1Sig, v1Notation })
        {
            (await Client.GetManifestAsync(App, gone.Digest.ToString())).Status.Should().Be(HttpStatusCode.NotFound);
        }

        (await Client.ListTagsAsync(App)).Should().BeEquivalentTo(["v2", "latest"]);
        foreach (var kept in new[] { v2, latest, amd, arm })
        {
            (await Client.GetManifestAsync(App, kept.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK);
        }

        (await Client.GetBlobAsync(App, v1.Blobs[2])).Status.Should().Be(HttpStatusCode.OK, "retention deletes no blob");

        // and the next GC frees exactly the blobs only the deleted artifacts referenced (the notation referrer's empty config too)
        Registry.Stop();
        var gc = await HarborGcAsync("--time-window", "0");
        await Registry.StartAsync();
        var deletedOnly = new[] { v1, v1Sig, v1Notation }.SelectMany(m => m.AllBlobs).Where(b => b != v1.Blobs[1]).Distinct();
        gc.Artifacts.Should().BeEmpty("retention left no garbage artifact");
        gc.Blobs.Should().BeEquivalentTo(deletedOnly);
        (await Client.GetBlobAsync(App, v1.Blobs[1])).Status.Should().Be(HttpStatusCode.OK, "the base layer is shared with v2");
        foreach (var blob in v2.Blobs.Concat(amd.Blobs).Concat(arm.Blobs)) // configs and layers: the registry serves a repository's linked blobs
        {
            (await Client.GetBlobAsync(App, blob)).Status.Should().Be(HttpStatusCode.OK);
        }
    }
}
