using System.Net;
using System.Net.Sockets;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>The registry fixture itself: a clear failure when the registry cannot serve, and nothing left behind.</summary>
[Category("Integration")]
[NonParallelizable]
public class DistributionRegistryProcessTests
{
    [Test]
    public async Task Start_WhenThePortIsTaken_FailsWithTheRegistrysOwnError()
    {
        using var registry = new DistributionRegistryProcess(RegistryBinary.Require(), TimeProvider.System);
        using var squatter = new TcpListener(IPAddress.Loopback, registry.Port);
        squatter.Start();

        var start = () => registry.StartAsync();

        (await start.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*exited with code*address already in use*");
        registry.IsRunning.Should().BeFalse();
    }

    [Test]
    public async Task StopAndDispose_EndTheProcess_AndDisposeRemovesTheRoot()
    {
        var registry = new DistributionRegistryProcess(RegistryBinary.Require(), TimeProvider.System);
        try
        {
            await registry.StartAsync();
            using var client = new RegistryClient(registry.Endpoint);
            await client.PushBlobAsync("probe", "kept across a restart"u8.ToArray());

            registry.Stop();
            registry.IsRunning.Should().BeFalse();
            (await Refused(registry.Port)).Should().BeTrue("a stopped registry no longer listens");

            await registry.StartAsync();
            (await client.GetBlobAsync("probe", Digest.Sha256Of("kept across a restart"u8))).Status.Should().Be(HttpStatusCode.OK, "the restart serves the same root");
        }
        finally
        {
            registry.Dispose();
        }

        registry.IsRunning.Should().BeFalse();
        (await Refused(registry.Port)).Should().BeTrue();
        Directory.Exists(registry.Root).Should().BeFalse();
        File.Exists(registry.ConfigFile).Should().BeFalse();
    }

    private static async Task<bool> Refused(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
    }
}
