using Harbor.Gc.Runner.Commands;

namespace Harbor.Gc.Tests.Runner;

/// <summary>The <c>distribution:s3://BUCKET/ROOT?endpoint=…&amp;region=…&amp;parallelism=…&amp;lease=…</c> store address (issue 17): what it names, and bad input exiting 2 without echoing a credential.</summary>
internal sealed class S3StoreSpecTests
{
    [Test]
    public void AnAddress_NamesTheBucket_TheLayoutUnderItsRoot_TheEndpointRegionAndParallelism()
    {
        var options = S3StoreSpec.Parse("s3://registry/some/root?endpoint=http://127.0.0.1:9100&region=eu-west-1&parallelism=32&lease=90s");

        options.Should().BeEquivalentTo(new
        {
            Bucket = "registry",
            RootPrefix = "some/root/docker/registry/v2",
            Endpoint = new Uri("http://127.0.0.1:9100"),
            Region = "eu-west-1",
            Parallelism = 32,
            LeaseDuration = TimeSpan.FromSeconds(90),
        });
        S3StoreSpec.Parse("s3://registry").Should().BeEquivalentTo(new { RootPrefix = "docker/registry/v2", Endpoint = (Uri?)null, Region = (string?)null, Parallelism = 16, LeaseDuration = TimeSpan.FromMinutes(1) });
        S3StoreSpec.Parse("s3://registry/").RootPrefix.Should().Be("docker/registry/v2", "rootdirectory: / is the bucket's root");
        S3StoreSpec.Parse("s3://registry/root?cache=/var/cache/harbor-gc%20manifests").ManifestCacheFolder.Should().Be("/var/cache/harbor-gc manifests");
        S3StoreSpec.Parse("s3://registry/root").ManifestCacheFolder.Should().BeNull();
        S3StoreSpec.Redacted("s3://registry/root?cache=/tmp/c&secret=x").Should().Be("s3://registry/root?cache=/tmp/c&secret=***");
    }

    [TestCase("s3://", "is not a bucket name")]
    [TestCase("s3://Not_A_Bucket/root", "'Not_A_Bucket' is not a bucket name")]
    [TestCase("s3://registry/a/../b", "is not a key prefix")]
    [TestCase("s3://registry//root", "is not a key prefix")]
    [TestCase("s3://registry/root?endpoint=ftp://127.0.0.1", "endpoint= takes")]
    [TestCase("s3://registry/root?endpoint=http://AKIAEXAMPLE:s3cret-key@127.0.0.1:9000", "credentials never go in the address")]
    [TestCase("s3://AKIAEXAMPLE:s3cret-key@registry/root", "credentials never go in the address")]
    [TestCase("s3://registry/root?secretkey=s3cret-key", "credentials never go in the address")]
    [TestCase("s3://registry/root?region=Mars", "region= takes")]
    [TestCase("s3://registry/root?parallelism=0", "parallelism= takes")]
    [TestCase("s3://registry/root?lease=1s", "lease= takes")]
    [TestCase("s3://registry/root?lease=2h", "lease= takes")]
    [TestCase("s3://registry/root?lease=soon", "lease= takes")]
    [TestCase("s3://registry/root?colour=blue", "unknown setting 'colour'")]
    [TestCase("s3://registry/root?cache=", "cache= takes")]
    [TestCase("s3://registry/root?cache=/proc/version", "cache= takes a folder")]
    public async Task ABadAddress_ExitsWith2_SayingWhat_AndNeverEchoesACredential(string address, string expected)
    {
        var (code, _, errors) = await GcCommandTests.Run("gc", "--store", "distribution:" + address, "--dry-run");

        code.Should().Be(2, errors);
        errors.Should().Contain(expected).And.NotContain("s3cret-key");
    }
}
