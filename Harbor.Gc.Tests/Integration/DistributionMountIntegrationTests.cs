using System.Net;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A blob mounted while a plan waits to be applied, with the real registry (Debian's docker-registry 2.8.2 on 127.0.0.1): the
/// registry writes the mount's layer link (into a new folder of another repository, or over the link the blob already had in
/// its own), the sweep's re-check finds it and keeps the blob, and a manifest pushed with that blob afterwards is accepted and
/// pulls whole.
/// </summary>
[Category("Integration")]
public class DistributionMountIntegrationTests : RegistryIntegrationTest
{
    [TestCase("into another repository")]
    [TestCase("into its own repository")]
    public async Task BlobMountedAfterThePlan_IsKept_AndAManifestPushedWithItPullsWhole(string where)
    {
        // given an untagged image in library/app, whose layer only it uses, and a tagged image in team/tool
        var old = await Push.ImageAsync("library/app", null, """{"config":"old"}""", [new Layer("layer used by the old image only")]);
        await Push.ImageAsync("team/tool", "v1", """{"config":"tool"}""", [new Layer("tool layer")]);
        var layer = old.Blobs[1];

        // and a plan (window 0) that collects the untagged image with its config and layer
        using var store = OpenStore(Clock, TimeSpan.FromSeconds(1));
        var collector = new GarbageCollector(store, Clock);
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        plan.Blobs.Select(b => b.Digest).Should().Contain(layer);

        // when, before the plan is applied, a client mounts the layer (another repository: a new layer folder; its own: the
        // link it had is written again), and only then is the plan applied
        var repository = where == "into another repository" ? "team/tool" : "library/app";
        await Task.Delay(PushTimeResolution); // the storage dates the mount's link after the push's (S3 dates to the second)
        await Client.MountBlobAsync(repository, layer, "library/app");
        var result = await collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true, TimeWindow = TimeSpan.Zero });

        // then the untagged manifest goes, and the mounted layer stays
        result.ArtifactsDeleted.Should().Be(1);
        result.BlobsSkipped.Should().Contain(layer);

        // and a manifest pushed with the mounted layer after the run is accepted, and pulls whole from a restarted registry
        var pushed = await Push.ImageAsync(repository, "v2", """{"config":"new"}""", [new Layer("layer used by the old image only", repository)]);
        await Registry.RestartAsync();
        (await Client.GetManifestAsync(repository, "v2")).Status.Should().Be(HttpStatusCode.OK);
        foreach (var blob in pushed.Blobs)
        {
            var response = await Client.GetBlobAsync(repository, blob);
            response.Status.Should().Be(HttpStatusCode.OK, $"{blob} of {repository}:v2");
        }
    }
}
