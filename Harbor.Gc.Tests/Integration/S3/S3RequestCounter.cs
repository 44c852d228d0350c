using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// A counting TCP proxy on 127.0.0.1 in front of an S3 server: every HTTP/1.1 request a client sends through it is forwarded byte for
/// byte and counted by its S3 operation (<see cref="Operation"/>), so two clients (Distribution's Go SDK and our .NET one) are counted
/// by the same meter. The request heads are parsed only to count them and to find where each body ends (<c>Content-Length</c> or
/// chunked); the answers are copied back untouched. Signatures stay valid: the client signs for the proxy's host and port, and the
/// <c>Host</c> header it sends is what the server checks. NUnit-free: the S3 benchmark (<c>measure-s3</c>) uses it.
/// </summary>
internal sealed class S3RequestCounter : IDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly Task _accepting;
    private long _failures;
    private long _refused;

    /// <summary>Starts the proxy in front of <paramref name="upstream"/> (<c>http://127.0.0.1:PORT</c>) on a free port of 127.0.0.1.</summary>
    public S3RequestCounter(Uri upstream)
    {
        _upstream = new IPEndPoint(IPAddress.Parse(upstream.Host), upstream.Port);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(512);
        Endpoint = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}"));
        _accepting = AcceptAsync();
    }

    /// <summary>The proxy's address, to give the clients in place of the server's.</summary>
    public Uri Endpoint { get; }

    /// <summary>
    /// When set, each request it answers true for (method, path) reaches the server with its path changed, so the signature, which
    /// covers the path, no longer matches: the server refuses it (403 SignatureDoesNotMatch), as a bucket policy or a broken
    /// credential refuses one request among many. Counted as the operation it was.
    /// </summary>
    public Func<string, string, bool>? Refuse { get; set; }

    /// <summary>How many requests <see cref="Refuse"/> made the server refuse.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Connections whose requests could not be parsed (forwarding stopped there); 0 in a valid measurement.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>The requests counted since the start or the last <see cref="Reset"/>, by operation.</summary>
    public IReadOnlyDictionary<string, long> Snapshot() => new SortedDictionary<string, long>(_counts.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal);

    /// <summary>Forgets the counts.</summary>
    public void Reset()
    {
        _counts.Clear();
        Interlocked.Exchange(ref _failures, 0);
    }

    /// <summary>The request kinds S3 prices and rates by, of an <see cref="Operation"/>: LIST, GET, HEAD, PUT (also COPY, POST), DELETE.</summary>
    public static string Kind(string operation) => operation switch
    {
        "ListObjectsV2" or "ListObjects" or "ListMultipartUploads" or "ListParts" => "LIST",
        "GetObject" or "GetBucketLocation" => "GET",
        "HeadObject" or "HeadBucket" => "HEAD",
        "DeleteObject" or "DeleteObjects" or "AbortMultipartUpload" or "DeleteBucket" => "DELETE",
        "PutObject" or "CopyObject" or "UploadPart" or "UploadPartCopy" or "CreateMultipartUpload" or "CompleteMultipartUpload" or "CreateBucket" => "PUT",
        _ => "OTHER",
    };

    /// <summary>
    /// The S3 operation of a path-style request: its method, its path (<c>/BUCKET</c> or <c>/BUCKET/KEY</c>), the names of its query
    /// parameters and whether it names a copy source (<c>x-amz-copy-source</c>).
    /// </summary>
    public static string Operation(string method, string path, IReadOnlyCollection<string> query, bool copySource)
    {
        var slash = path.IndexOf('/', 1);
        var onBucket = slash < 0 || slash == path.Length - 1;
        bool Has(string name) => query.Contains(name);
        return (method, onBucket) switch
        {
            ("GET", true) when Has("uploads") => "ListMultipartUploads",
            ("GET", true) when Has("location") => "GetBucketLocation",
            ("GET", true) when query.Count > 0 && Has("list-type") => "ListObjectsV2",
            ("GET", true) => "ListObjects",
            ("GET", false) when Has("uploadId") => "ListParts",
            ("GET", false) => "GetObject",
            ("HEAD", true) => "HeadBucket",
            ("HEAD", false) => "HeadObject",
            ("PUT", true) => "CreateBucket",
            ("PUT", false) when Has("uploadId") => copySource ? "UploadPartCopy" : "UploadPart",
            ("PUT", false) => copySource ? "CopyObject" : "PutObject",
            ("POST", true) when Has("delete") => "DeleteObjects",
            ("POST", false) when Has("uploads") => "CreateMultipartUpload",
            ("POST", false) when Has("uploadId") => "CompleteMultipartUpload",
            ("DELETE", true) => "DeleteBucket",
            ("DELETE", false) when Has("uploadId") => "AbortMultipartUpload",
            ("DELETE", false) => "DeleteObject",
            _ => method + " (other)",
        };
    }

    /// <summary>Stops accepting and closes every connection.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // stopped
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
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            client.NoDelay = true;
            server.NoDelay = true;
            try
            {
                await server.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
                var fromClient = client.GetStream();
                var toServer = server.GetStream();
                var answers = CopyAnswersAsync(toServer, fromClient);
                await ForwardRequestsAsync(fromClient, toServer).ConfigureAwait(false);
                server.Client.Shutdown(SocketShutdown.Send);
                await answers.ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // a connection closed by either side
            }
            catch (InvalidDataException)
            {
                Interlocked.Increment(ref _failures);
            }
        }
    }

    private async Task CopyAnswersAsync(Stream from, Stream to)
    {
        try
        {
            await from.CopyToAsync(to, 64 * 1024, _stop.Token).ConfigureAwait(false);
        }
        finally
        {
            // the server closed: so does the client's side
            to.Close();
        }
    }

    private async Task ForwardRequestsAsync(Stream from, Stream to)
    {
        var reader = new Reader(from);
        while (true)
        {
            var head = await reader.ReadHeadAsync(_stop.Token).ConfigureAwait(false);
            if (head is null)
            {
                return; // the client closed between requests
            }

            var text = Encoding.Latin1.GetString(head);
            var lines = text.Split("\r\n");
            var first = lines[0].Split(' ');
            if (first.Length < 3)
            {
                throw new InvalidDataException($"not an HTTP request line: {lines[0]}");
            }

            long length = 0;
            var chunked = false;
            var copy = false;
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    continue;
                }

                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    length = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    chunked = true;
                }
                else if (name.Equals("x-amz-copy-source", StringComparison.OrdinalIgnoreCase))
                {
                    copy = true;
                }
            }

            var target = first[1];
            var question = target.IndexOf('?', StringComparison.Ordinal);
            var path = question < 0 ? target : target[..question];
            var query = question < 0
                ? []
                : target[(question + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => Uri.UnescapeDataString(p.Split('=', 2)[0])).ToHashSet(StringComparer.Ordinal);
            _counts.AddOrUpdate(Operation(first[0], path, query, copy), 1, (_, n) => n + 1);

            if (Refuse?.Invoke(first[0], Uri.UnescapeDataString(path)) == true)
            {
                Interlocked.Increment(ref _refused);
                head = Encoding.Latin1.GetBytes(string.Join(' ', first[0], path + "-refused-by-the-test" + target[path.Length..], string.Join(' ', first[2..])) + text[lines[0].Length..]);
            }

            await to.WriteAsync(head, _stop.Token).ConfigureAwait(false);
            if (chunked)
            {
                await reader.CopyChunkedAsync(to, _stop.Token).ConfigureAwait(false);
            }
            else
            {
                await reader.CopyAsync(to, length, _stop.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A buffered reader of one connection's request stream.</summary>
    private sealed class Reader(Stream stream)
    {
        private const int MaxHead = 64 * 1024;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>The next request's head, through its blank line; null when the stream ends before one starts.</summary>
        public async Task<byte[]?> ReadHeadAsync(CancellationToken token)
        {
            var head = new MemoryStream();
            var matched = 0; // how much of "\r\n\r\n" the head ends with
            while (true)
            {
                if (_start == _end && !await FillAsync(token).ConfigureAwait(false))
                {
                    return head.Length == 0 ? null : throw new InvalidDataException("the connection closed inside a request head");
                }

                var b = _buffer[_start++];
                head.WriteByte(b);
                matched = b == (matched % 2 == 0 ? (byte)'\r' : (byte)'\n') ? matched + 1 : b == '\r' ? 1 : 0;
                if (matched == 4)
                {
                    return head.ToArray();
                }

                if (head.Length > MaxHead)
                {
                    throw new InvalidDataException("a request head over 64 KiB");
                }
            }
        }

        /// <summary>Copies <paramref name="count"/> bytes on.</summary>
        public async Task CopyAsync(Stream to, long count, CancellationToken token)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync(token).ConfigureAwait(false))
                {
                    throw new InvalidDataException("the connection closed inside a request body");
                }

                var n = (int)Math.Min(count, _end - _start);
                await to.WriteAsync(_buffer.AsMemory(_start, n), token).ConfigureAwait(false);
                _start += n;
                count -= n;
            }
        }

        /// <summary>Copies a chunked body on, through its last chunk and trailers.</summary>
        public async Task CopyChunkedAsync(Stream to, CancellationToken token)
        {
            while (true)
            {
                var line = await ReadLineAsync(token).ConfigureAwait(false);
                await to.WriteAsync(line, token).ConfigureAwait(false);
                var text = Encoding.Latin1.GetString(line).Trim();
                var size = long.Parse(text.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while (true)
                    {
                        var trailer = await ReadLineAsync(token).ConfigureAwait(false);
                        await to.WriteAsync(trailer, token).ConfigureAwait(false);
                        if (trailer.Length == 2)
                        {
                            return;
                        }
                    }
                }

                await CopyAsync(to, size + 2, token).ConfigureAwait(false); // the data and its CRLF
            }
        }

        private async Task<byte[]> ReadLineAsync(CancellationToken token)
        {
            var line = new MemoryStream();
            while (true)
            {
                if (_start == _end && !await FillAsync(token).ConfigureAwait(false))
                {
                    throw new InvalidDataException("the connection closed inside a chunked body");
                }

                var b = _buffer[_start++];
                line.WriteByte(b);
                if (b == '\n')
                {
                    return line.ToArray();
                }
            }
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, token).ConfigureAwait(false);
            return _end > 0;
        }
    }
}
