namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// The embedded stores' blob location in a bucket (issue 17), <c>litedb:PATH?blobs=s3://BUCKET/PREFIX&amp;endpoint=…&amp;region=…</c> and
/// the same settings on a <c>postgres:</c> address: bad input exits 2 before anything is opened, and never echoes a credential.
/// </summary>
internal sealed class S3BlobsSpecTests
{
    [TestCase("blobs=s3://AKIAEXAMPLE:s3cret-key@bucket/blobs", "credentials never go in the address")]
    [TestCase("blobs=s3://bucket/blobs&secret_key=s3cret-key", "credentials never go in the address")]
    [TestCase("blobs=s3://bucket/blobs&endpoint=http://AKIAEXAMPLE:s3cret-key@127.0.0.1:9000", "credentials never go in the address")]
    [TestCase("blobs=s3://Not_A_Bucket/blobs", "'Not_A_Bucket' is not a bucket name")]
    [TestCase("blobs=s3://bucket/a/../b", "is not a key prefix")]
    [TestCase("blobs=s3://bucket/blobs&parallelism=4", "unknown setting 'parallelism'")]
    [TestCase("blobs=s3://bucket/blobs&region=Mars", "region= takes")]
    [TestCase("endpoint=http://127.0.0.1:9000", "endpoint= and region= go with blobs=s3://")]
    public async Task LiteDb_ABadBlobLocation_ExitsWith2_SayingWhat_AndNeverEchoesACredential(string settings, string expected)
    {
        var (code, _, errors) = await GcCommandTests.Run("gc", "--store", "litedb:/nonexistent/meta.db?" + settings, "--dry-run");

        code.Should().Be(2, errors);
        errors.Should().Contain(expected).And.NotContain("s3cret-key");
    }

    [TestCase("blobs=s3://AKIAEXAMPLE:s3cret-key@bucket/blobs", "credentials never go in the address")]
    [TestCase("blobs=s3://bucket/blobs&accesskey=s3cret-key", "credentials never go in the address")]
    [TestCase("blobs=/some/folder&endpoint=http://127.0.0.1:9000", "unknown setting 'endpoint'")]
    public async Task Postgres_ABadBlobLocation_ExitsWith2_BeforeConnecting_AndNeverEchoesACredential(string settings, string expected)
    {
        // port 1: nothing listens, so a message about the blob location shows it was refused before a connection was tried
        var (code, _, errors) = await GcCommandTests.Run("gc", "--store", "postgres:postgresql://harbor@127.0.0.1:1/store?" + settings, "--dry-run");

        code.Should().Be(2, errors);
        errors.Should().Contain(expected).And.NotContain("s3cret-key");
    }
}
