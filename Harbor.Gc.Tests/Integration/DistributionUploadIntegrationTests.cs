using System.Net;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Uploads left by the real registry (Debian's docker-registry 2.8.2 on 127.0.0.1, its own upload purging off): the store reads
/// what the registry wrote, a real run removes an abandoned one, and an upload resumed after the plan still completes.
/// </summary>
[Category("Integration")]
public class DistributionUploadIntegrationTests : RegistryIntegrationTest
{
    [Test]
    public async Task AbandonedUpload_IsRemoved_WhileAnUploadResumedAfterThePlanStillCompletes()
    {
        // given two pushes that sent a chunk each and stopped (a POST, then a PATCH never followed by the PUT)
        var startedBefore = TimeProvider.System.GetUtcNow();
        var abandoned = await Client.StartUploadAsync("library/app");
        (await Client.SendChunkAsync(abandoned.Location, "hello-partial-bytes"u8.ToArray())).Status.Should().Be(HttpStatusCode.Accepted);
        var resumed = await Client.StartUploadAsync("library/app");
        var next = await Client.SendChunkAsync(resumed.Location, "first-"u8.ToArray());

        // when planned three hours later (the default window is two), the registry still serving
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow() + TimeSpan.FromHours(3));
        using var store = OpenStore(time, TimeSpan.Zero);
        var collector = new GarbageCollector(store, time);
        var plan = await collector.PlanAsync(new GcOptions());

        // then both are planned as the registry wrote them: its UUID, its startedat (RFC 3339, to the second), the bytes received
        plan.Warnings.Should().BeEmpty();
        plan.Uploads.Select(u => (u.Repository?.Value, u.Id, u.Size)).Should().BeEquivalentTo(new[]
        {
            ("library/app", abandoned.Id, 19L),
            ("library/app", resumed.Id, 6L),
        });
        plan.Uploads.Should().OnlyContain(u => u.StartedAt >= startedBefore.AddSeconds(-1) && u.StartedAt <= TimeProvider.System.GetUtcNow());

        // and when the second push resumes before the plan is applied
        var resumedAgain = await Client.SendChunkAsync(next.Location!, "second"u8.ToArray());
        resumedAgain.Status.Should().Be(HttpStatusCode.Accepted);
        var result = await collector.ExecuteAsync(plan, new GcOptions());

        // then the abandoned upload is gone (the registry no longer knows it), and the resumed one is kept and completes
        result.UploadsDeleted.Should().Be(1);
        result.UploadsSkipped.Select(u => u.Id).Should().Equal(resumed.Id);
        (await UploadLeftAsync("library/app", abandoned.Id)).Should().BeFalse();
        (await UploadLeftAsync("library/app", resumed.Id)).Should().BeTrue("the resumed upload is kept");
        (await Client.SendChunkAsync(abandoned.Location, "late"u8.ToArray())).Status.Should().Be(HttpStatusCode.NotFound);
        var digest = Digest.Sha256Of("first-second"u8);
        (await Client.CompleteUploadAsync(resumedAgain.Location!, digest)).Should().Be(HttpStatusCode.Created);
        var blob = await Client.GetBlobAsync("library/app", digest);
        blob.Status.Should().Be(HttpStatusCode.OK);
        blob.Body.Should().Equal("first-second"u8.ToArray());
        (await UploadLeftAsync("library/app", resumed.Id)).Should().BeFalse("the registry removes an upload's folder when it completes");
    }
}
