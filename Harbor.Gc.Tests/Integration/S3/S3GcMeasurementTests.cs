using Amazon.S3;
using Amazon.S3.Model;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The meter and the benchmark of issue 17 (<c>measure-s3</c>): the counting proxy counts what a client sends, by S3 operation, and
/// the measurement runs end to end on a tiny tree, so the benchmark mode cannot rot unnoticed.
/// </summary>
[Category("S3")]
public sealed class S3GcMeasurementTests
{
    [TestCase("GET", "/b", "list-type,prefix,delimiter", false, "ListObjectsV2")]
    [TestCase("GET", "/b/", "prefix,max-keys", false, "ListObjects")]
    [TestCase("GET", "/b", "uploads,prefix", false, "ListMultipartUploads")]
    [TestCase("GET", "/b/reg/docker/registry/v2/blobs/sha256/ab/abcd/data", "", false, "GetObject")]
    [TestCase("GET", "/b/k", "uploadId", false, "ListParts")]
    [TestCase("HEAD", "/b/k", "", false, "HeadObject")]
    [TestCase("PUT", "/b/k", "", false, "PutObject")]
    [TestCase("PUT", "/b/k", "", true, "CopyObject")]
    [TestCase("PUT", "/b/k", "partNumber,uploadId", false, "UploadPart")]
    [TestCase("POST", "/b", "delete", false, "DeleteObjects")]
    [TestCase("POST", "/b/k", "uploads", false, "CreateMultipartUpload")]
    [TestCase("DELETE", "/b/k", "uploadId", false, "AbortMultipartUpload")]
    [TestCase("DELETE", "/b/k", "", false, "DeleteObject")]
    public void Operation_OfAPathStyleRequest_IsTheS3OperationItNames(string method, string path, string query, bool copySource, string expected) =>
        S3RequestCounter.Operation(method, path, query.Split(',', StringSplitOptions.RemoveEmptyEntries), copySource).Should().Be(expected);

    [Test]
    [Category("Integration")]
    public async Task Counter_InFrontOfTheServer_CountsEachRequestOnceByOperationAndPassesTheAnswersOn()
    {
        // given: a bucket with three objects, and the proxy in front of the server
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("count");
        await server.PutAsync(bucket, [new("a/1", [1]), new("a/2", [2, 2]), new("b/3", [3, 3, 3])]);
        using var counter = new S3RequestCounter(server.Endpoint);
        using var client = new AmazonS3Client(new AmazonS3Config
        {
            ServiceURL = counter.Endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = S3Server.Region,
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
        });

        // when: a listing, two reads, a stat, a write with a body and a batch delete go through it
        var listing = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "a/", Delimiter = "/" });
        using (var one = await client.GetObjectAsync(bucket, "a/2"))
        using (var two = await client.GetObjectAsync(bucket, "b/3"))
        {
            using var read = new MemoryStream();
            await two.ResponseStream.CopyToAsync(read);
            read.ToArray().Should().Equal(3, 3, 3);
        }

        var head = await client.GetObjectMetadataAsync(bucket, "a/1");
        using (var body = new MemoryStream(new byte[100_000]))
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "c/4", InputStream = body, UseChunkEncoding = false });
        }

        await client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = [new() { Key = "a/1" }, new() { Key = "c/4" }] });

        // then: each counted once under its operation, the answers whole
        listing.S3Objects.Select(o => o.Key).Should().Equal("a/1", "a/2");
        head.ContentLength.Should().Be(1);
        counter.Snapshot().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["ListObjectsV2"] = 1, ["GetObject"] = 2, ["HeadObject"] = 1, ["PutObject"] = 1, ["DeleteObjects"] = 1,
        });
        counter.Failures.Should().Be(0);
        (await server.KeysAsync(bucket)).Should().BeEquivalentTo("a/2", "b/3");
    }

    [Test]
    [Category("Integration")]
    public async Task Measurement_OnATinyTree_CountsBothDryRunsWhichWriteNothingAndReadTheBucketAsTheFolder()
    {
        // given: Swift and Distribution's registry installed; a tree of 12 manifests in 3 repositories
        S3Server.RequirePackages();
        var registry = RegistryBinary.Require();
        var log = new StringWriter();
        var options = new S3GcOptions(Path.Combine(AppContext.BaseDirectory, "harbor-gc.dll"), registry, Manifests: 12, Repositories: 3, Runs: 1);

        // when
        var result = await S3GcMeasurement.RunAsync(options, log);

        // then: one counted run of each collector, reading only (a dry run writes and deletes nothing)
        TestContext.Progress.WriteLine(log.ToString());
        result.Runs.Select(r => r.Tool).Should().Equal(["distribution", "harbor-gc"], log.ToString());
        foreach (var run in result.Runs)
        {
            run.Total.Should().BePositive();
            run.ByKind().Keys.Should().BeSubsetOf(["LIST", "GET", "HEAD"], run.ToString());
        }

        // and Distribution 2.8's reads follow the model in the benchmarks' README: every tag link of a repository once per revision,
        // two link reads per revision and two more per tagged one (the link again and the manifest); three v1 listings per revision
        var shape = result.Shape;
        var tagged = shape.RevisionLinks - result.Distribution!.Manifests.Count;
        var distribution = result.Runs[0].Requests;
        distribution["GetObject"].Should().Be(shape.RevisionsTimesTags + (2 * shape.RevisionLinks) + (2 * tagged), log.ToString());
        distribution["ListObjects"].Should().Be(3 * shape.RevisionLinks, log.ToString());

        // and each collector picks on the bucket what it picks on the same tree on disk, and picks something
        result.FolderCheck.Should().Contain("harbor-gc: bucket vs folder").And.Contain("distribution: bucket vs folder")
            .And.NotMatchRegex("only (left|right) [1-9]");
        result.HarborGc.Blobs.Should().NotBeEmpty();
        result.Distribution.Blobs.Should().NotBeEmpty();
    }
}
