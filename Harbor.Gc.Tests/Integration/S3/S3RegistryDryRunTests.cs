using System.Net;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// Dry runs over what the real registry wrote into a bucket through its <c>s3</c> driver (issue 17): the plan is the one the
/// filesystem integration tests expect of the same pushes on a folder (<see cref="DistributionGcIntegrationTests"/>), and nothing in
/// the bucket changes.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3RegistryDryRunTests : RegistryIntegrationTest
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    [Test]
    public async Task DryRun_OnTheRegistrysBucket_PlansIssueThreesGarbage_AsOnAFolder_AndChangesNothing()
    {
        // given issue 3's scenarios (accessories, indexes, a moved tag, untagged images, mounts, orphans) pushed over HTTP into a bucket
        var scenario = await IssueThreeScenario.PushAsync(Push);
        var before = await S3Registry.ObjectsAsync(Registry);

        // when harbor-gc plans over the bucket with no time window, the registry still serving
        var report = await HarborGcAsync("--dry-run", "--time-window", "0");

        // then it plans what the filesystem test deletes for real: the scenario's garbage, for its reasons, and its dead blobs
        report.DryRun.Should().BeTrue();
        report.Artifacts.Should().BeEquivalentTo(scenario.Garbage.Select(g => (g.Manifest.Repository, g.Manifest.Digest, g.Reason)));
        report.Blobs.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(scenario.DeadBlobs);
        report.Blobs.Should().NotContain(scenario.SharedWithLive);
        report.LayerLinks.Should().BeGreaterThan(0, "the dead blobs' layer links go with them");

        // and the bucket is as it was, and the registry serves the garbage still
        (await S3Registry.ObjectsAsync(Registry)).Should().Equal(before);
        (await Client.GetManifestAsync(IssueThreeScenario.App, scenario.Garbage[0].Manifest.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public async Task DryRun_OnTheRegistrysBucket_ListsAnAbandonedUpload()
    {
        // given a push that sent a chunk and stopped: the registry's s3 driver keeps its bytes in an unfinished multipart upload
        var abandoned = await Client.StartUploadAsync("library/app");
        (await Client.SendChunkAsync(abandoned.Location, "hello-partial-bytes"u8.ToArray())).Status.Should().Be(HttpStatusCode.Accepted);
        var multipart = await S3Registry.MultipartUploadsAsync(Registry);
        multipart.Should().ContainSingle().Which.Key.Should().Be($"{S3Registry.RootDirectory}/docker/registry/v2/repositories/library/app/_uploads/{abandoned.Id}/data");

        // when planned with no time window
        var plan = await PlanAsync();

        // then the upload is planned, by the id the registry gave it
        using var json = System.Text.Json.JsonDocument.Parse(plan);
        json.RootElement.GetProperty("uploads").EnumerateArray().Select(u => (u.GetProperty("repository").GetString(), u.GetProperty("id").GetString()))
            .Should().Equal(("library/app", abandoned.Id));
    }

    private async Task<string> PlanAsync()
    {
        var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-report-{Guid.NewGuid():N}.json");
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await Harbor.Gc.Runner.Program.RunAsync(["gc", "--store", StoreSpec, "--dry-run", "--time-window", "0", "--report-json", report], stdout, stderr, Clock, CancellationToken.None);
            code.Should().Be(0, $"{stdout}\n{stderr}");
            return await File.ReadAllTextAsync(report);
        }
        finally
        {
            File.Delete(report);
        }
    }
}
