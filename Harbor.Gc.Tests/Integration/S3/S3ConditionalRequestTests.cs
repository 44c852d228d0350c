using System.Net;
using Amazon.S3;
using Amazon.S3.Model;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// What the test S3 server (Swift 2.30's s3api) does with S3's conditional requests, checked because the real-run design relies
/// on some of them and not on others (DESIGN.md, "S3 storage: real runs"): a conditional create (<c>If-None-Match: *</c> on
/// PutObject) is not implemented, so the lease lock cannot be one object created if absent; a DeleteObject with <c>If-Match</c>
/// and a CopyObject with <c>x-amz-copy-source-if-match</c> refuse another ETag (412), so a move into the quarantine copies exactly
/// the version it looked at and never deletes one the registry wrote after it; user metadata set by a copy is read back.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("S3")]
internal sealed class S3ConditionalRequestTests
{
    private const string OtherETag = "\"0123456789abcdef0123456789abcdef\"";

    [Test]
    public async Task TheServer_RefusesConditionalCreates_AndHonoursIfMatchOnDeleteAndCopy()
    {
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("cond");
        using var client = server.CreateClient();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k", ContentBody = "first", UseChunkEncoding = false });
        var etag = (await client.GetObjectMetadataAsync(bucket, "k")).ETag;

        // a create-if-absent over an existing object: not implemented (and the object is unchanged)
        var create = await client.Invoking(c => c.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k", ContentBody = "second", UseChunkEncoding = false, IfNoneMatch = "*" }))
            .Should().ThrowAsync<AmazonS3Exception>();
        create.Which.StatusCode.Should().Be(HttpStatusCode.NotImplemented);

        // a copy of another version than the object's, and a delete of another version: refused, nothing changed
        var copy = await client.Invoking(c => c.CopyObjectAsync(new CopyObjectRequest { SourceBucket = bucket, SourceKey = "k", DestinationBucket = bucket, DestinationKey = "c", ETagToMatch = OtherETag }))
            .Should().ThrowAsync<AmazonS3Exception>();
        copy.Which.StatusCode.Should().Be(HttpStatusCode.PreconditionFailed);
        var delete = await client.Invoking(c => c.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = "k", IfMatch = OtherETag }))
            .Should().ThrowAsync<AmazonS3Exception>();
        delete.Which.StatusCode.Should().Be(HttpStatusCode.PreconditionFailed);
        (await server.KeysAsync(bucket)).Should().Equal("k");

        // the same with the object's own ETag: copied with the metadata given, then deleted
        await client.CopyObjectAsync(new CopyObjectRequest
        {
            SourceBucket = bucket, SourceKey = "k", DestinationBucket = bucket, DestinationKey = "m", ETagToMatch = etag, MetadataDirective = S3MetadataDirective.REPLACE,
            Metadata = { ["harbor-gc-modified"] = "2020-01-01T00:00:00.0000000+00:00" },
        });
        await client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = "k", IfMatch = etag });
        (await client.GetObjectMetadataAsync(bucket, "m")).Metadata["harbor-gc-modified"].Should().Be("2020-01-01T00:00:00.0000000+00:00");
        (await server.KeysAsync(bucket)).Should().Equal("m");
    }
}
