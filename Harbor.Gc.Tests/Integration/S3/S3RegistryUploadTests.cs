using System.Net;
using Amazon.S3.Model;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// Unfinished uploads the real registry left in a bucket (issue 17): its s3 driver keeps an upload's bytes in a multipart upload of
/// <c>_uploads/UUID/data</c> and only <c>startedat</c> and hash states as objects. A real run collects an upload older than the time
/// window whole, aborting its multipart upload (ListMultipartUploads, AbortMultipartUpload), and so one whose folder is already gone;
/// within the window it keeps both.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3RegistryUploadTests : RegistryIntegrationTest
{
    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    [Test]
    public async Task RealRun_AbortsTheMultipartUploads_OfStaleUploads_AndOfOnesWhoseFolderIsGone_AndKeepsThemWithinTheWindow()
    {
        // given a push that sent a chunk and stopped, and a multipart upload of an upload's data whose folder is gone
        var abandoned = await Client.StartUploadAsync("library/app");
        (await Client.SendChunkAsync(abandoned.Location, "hello-partial-bytes"u8.ToArray())).Status.Should().Be(HttpStatusCode.Accepted);
        var s3 = Registry.S3!;
        var orphanKey = $"{S3Registry.RootDirectory}/docker/registry/v2/repositories/library/app/_uploads/{Guid.NewGuid():D}/data";
        using (var client = S3Server.Shared.CreateClient())
        {
            var started = await client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = s3.Bucket, Key = orphanKey });
            using var part = new MemoryStream("orphan bytes"u8.ToArray());
            await client.UploadPartAsync(new UploadPartRequest { BucketName = s3.Bucket, Key = orphanKey, UploadId = started.UploadId, PartNumber = 1, InputStream = part, UseChunkEncoding = false });
        }

        var multipart = await S3Registry.MultipartUploadsAsync(Registry);
        multipart.Select(u => u.Key).Should().BeEquivalentTo(
            $"{S3Registry.RootDirectory}/docker/registry/v2/repositories/library/app/_uploads/{abandoned.Id}/data", orphanKey);
        Registry.Stop();

        // when a real run with a window of an hour, then one with none
        var within = await HarborGcAsync("--time-window", "1h");
        var uploadsAfterWithin = await S3Registry.MultipartUploadsAsync(Registry);
        var objectsAfterWithin = await S3Registry.ObjectsAsync(Registry);
        await HarborGcAsync("--time-window", "0");

        // then the first kept both uploads whole, and the second removed both: no multipart upload and no upload object left
        within.Artifacts.Should().BeEmpty();
        uploadsAfterWithin.Should().BeEquivalentTo(multipart);
        objectsAfterWithin.Should().Contain(o => o.Contains($"/_uploads/{abandoned.Id}/startedat", StringComparison.Ordinal));
        (await S3Registry.MultipartUploadsAsync(Registry)).Should().BeEmpty();
        (await S3Registry.ObjectsAsync(Registry)).Should().NotContain(o => o.Contains("/_uploads/", StringComparison.Ordinal));

        // and the registry no longer knows the abandoned upload
        await Registry.StartAsync();
        (await Client.SendChunkAsync(abandoned.Location, "late"u8.ToArray())).Status.Should().Be(HttpStatusCode.NotFound);
    }
}
