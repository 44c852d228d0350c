using System.Diagnostics;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>The test S3 server itself (<see cref="S3Server"/>): it serves S3 with the standard chain's credentials, and stops exactly its processes.</summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3ServerTests
{
    [Test]
    public async Task Serves_S3_OnLoopback_AndStopsExactlyItsProcesses()
    {
        List<int> ids;
        using (var server = S3Server.StartNew())
        {
            server.Endpoint.Host.Should().Be("127.0.0.1");
            server.ProcessIds.Should().HaveCount(3, "memcached, the backends' process and the proxy's");
            ids = [.. server.ProcessIds];
            ids.Should().OnlyContain(id => IsRunning(id));

            var bucket = await server.CreateBucketAsync();
            await server.PutAsync(bucket, [new("a/b", "x"u8.ToArray())]);
            (await server.KeysAsync(bucket)).Should().Equal("a/b");
            TestContext.Progress.WriteLine($"started in {server.StartupTime.TotalSeconds:0.00} s");
        }

        ids.Should().OnlyContain(id => !IsRunning(id));
    }

    private static bool IsRunning(int id)
    {
        try
        {
            using var process = Process.GetProcessById(id);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
