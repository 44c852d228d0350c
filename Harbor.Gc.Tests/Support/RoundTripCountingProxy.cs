using System.Net;
using System.Net.Sockets;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a server that counts round trips on the wire: a turn of the conversation, where the client
/// sends after the server has answered (or first), is one. It knows nothing of the protocol, so it counts what a client really waits
/// for, however the client groups its statements; the connection's opening (startup, authentication) is counted as well.
/// </summary>
internal sealed class RoundTripCountingProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];
    private long _roundTrips;
    private int _connections;

    public RoundTripCountingProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _ = AcceptAsync();
    }

    /// <summary>The port clients connect to.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Round trips so far, over every connection.</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            var server = new TcpClient();
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(server);
            }

            try
            {
                client.NoDelay = true;
                server.NoDelay = true;
                await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            var conversation = new Conversation();
            _ = PumpAsync(client, server, fromClient: true, conversation);
            _ = PumpAsync(server, client, fromClient: false, conversation);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool fromClient, Conversation conversation)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            while (true)
            {
                var n = await source.ReadAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    break;
                }

                // the turn changes before the bytes go on: the other side can only answer what it has received
                if (fromClient)
                {
                    if (!conversation.ClientSpoke)
                    {
                        conversation.ClientSpoke = true;
                        Interlocked.Increment(ref _roundTrips);
                    }
                }
                else
                {
                    conversation.ClientSpoke = false;
                }

                await target.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or SocketException or InvalidOperationException)
        {
            // the proxy or a side closed
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    /// <summary>Whose turn it is on one connection.</summary>
    private sealed class Conversation
    {
        private volatile bool _clientSpoke;

        /// <summary>Whether the client has sent since the server last answered.</summary>
        public bool ClientSpoke
        {
            get => _clientSpoke;
            set => _clientSpoke = value;
        }
    }
}
