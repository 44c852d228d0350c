using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of the test S3 server that can hold one chosen request on its way to the server: a client (the
/// registry) sends <c>PUT /BUCKET/KEY</c>, the proxy stops forwarding that connection's bytes the moment the request line passes, and
/// forwards them once the test releases it. So the test can stop a registry request between its checks and its first write, for as
/// long as it likes, without touching the registry: the request's storage work is made to span a moment of the collector's run.
/// </summary>
/// <remarks>
/// Bytes are forwarded unchanged (the client's <c>Host</c> header, on which its signature depends, included), so a client signs for
/// the proxy's address and the server checks the same header. Only the client-to-server direction is ever held.
/// </remarks>
internal sealed class HoldingS3Proxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];
    private readonly List<HeldRequest> _holds = [];

    public HoldingS3Proxy(Uri target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptAsync();
    }

    /// <summary>The address clients use, <c>http://127.0.0.1:PORT</c>.</summary>
    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Called with the request line of each request on its way to the server (<c>METHOD PATH HTTP/1.1</c>), on the proxy's threads.</summary>
    public event Action<string>? RequestSeen;

    /// <summary>Holds the next request <c>METHOD /BUCKET/KEY</c> (path-style, as the registry's driver sends to an address) until released.</summary>
    public HeldRequest Hold(string method, string bucket, string key)
    {
        var hold = new HeldRequest($"{method} /{bucket}/{key} HTTP/1.1");
        lock (_holds)
        {
            _holds.Add(hold);
        }

        return hold;
    }

    private bool HasHolds
    {
        get
        {
            lock (_holds)
            {
                return _holds.Count > 0;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_holds)
        {
            _holds.ForEach(h => h.Release());
        }

        lock (_sockets)
        {
            _sockets.ForEach(s => s.Dispose());
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
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var server = new TcpClient();
        lock (_sockets)
        {
            _sockets.Add(client);
            _sockets.Add(server);
        }

        try
        {
            await server.ConnectAsync(_target.Host, _target.Port, _stop.Token).ConfigureAwait(false);
            var up = PumpAsync(client.GetStream(), server.GetStream(), holding: true);
            var down = PumpAsync(server.GetStream(), client.GetStream(), holding: false);
            await Task.WhenAny(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // the proxy stopped or a side closed
        }
        finally
        {
            client.Dispose();
            server.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool holding)
    {
        var buffer = new byte[64 * 1024];
        var tail = string.Empty; // the end of what passed before, for a request line split across two reads
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false)) > 0)
            {
                if (holding && RequestSeen is { } seenHandler)
                {
                    // a request's line starts the read that carries it (a client sends a request's head in one write and does not
                    // pipeline), or, rarely, follows the previous request's end in it
                    var text = Encoding.Latin1.GetString(buffer, 0, read);
                    foreach (var line in text.Split("\r\n"))
                    {
                        if (line.EndsWith(" HTTP/1.1", StringComparison.Ordinal) && line.IndexOf(' ', StringComparison.Ordinal) is > 2 and < 8)
                        {
                            seenHandler(line);
                        }
                    }
                }

                if (holding && HasHolds)
                {
                    // Latin-1 maps each byte to one char, so the request line's ASCII is found whatever else the bytes hold
                    var seen = tail + Encoding.Latin1.GetString(buffer, 0, read);
                    HeldRequest? hold;
                    lock (_holds)
                    {
                        hold = _holds.Find(h => seen.Contains(h.RequestLine, StringComparison.Ordinal));
                        _holds.Remove(hold!);
                    }

                    if (hold is not null)
                    {
                        hold.Reach();
                        await hold.Released.WaitAsync(_stop.Token).ConfigureAwait(false);
                    }

                    tail = seen.Length > 512 ? seen[^512..] : seen;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // the proxy stopped or a side closed
        }
        finally
        {
            try
            {
                to.Socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // already closed
            }
        }
    }
}

/// <summary>A request the proxy holds once it arrives, until <see cref="Release"/>.</summary>
internal sealed class HeldRequest(string requestLine)
{
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The request line that is held (<c>PUT /BUCKET/KEY HTTP/1.1</c>).</summary>
    public string RequestLine { get; } = requestLine;

    /// <summary>Completes when the request arrived and is being held.</summary>
    public Task Reached => _reached.Task;

    internal Task Released => _released.Task;

    /// <summary>Lets the request through to the server.</summary>
    public void Release() => _released.TrySetResult();

    internal void Reach() => _reached.TrySetResult();
}
