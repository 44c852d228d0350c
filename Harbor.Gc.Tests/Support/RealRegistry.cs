using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Debian's <c>docker-registry</c> (CNCF Distribution 2.8.2) serving a storage tree on 127.0.0.1, with its own upload purging
/// off, for tests against the real registry. Tests are ignored where the binary is not installed.
/// </summary>
internal sealed class RealRegistry : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";

    private readonly Process _process;
    private readonly string _configFolder;

    private RealRegistry(Process process, string configFolder, Uri baseAddress)
    {
        _process = process;
        _configFolder = configFolder;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Http { get; }

    public static async Task<RealRegistry> StartAsync(string rootDirectory)
    {
        if (!File.Exists(Binary))
        {
            Assert.Ignore($"{Binary} is not installed");
        }

        var configFolder = Directory.CreateTempSubdirectory("harbor-gc-registry").FullName;
        var port = FreePort();
        var config = Path.Combine(configFolder, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {rootDirectory}
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:{port}
            """);
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{Binary} did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var registry = new RealRegistry(process, configFolder, new Uri($"http://127.0.0.1:{port}/"));
        for (var attempt = 0; attempt < 100 && !process.HasExited; attempt++)
        {
            try
            {
                using var response = await registry.Http.GetAsync(new Uri("v2/", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return registry;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }

        await registry.DisposeAsync();
        throw new InvalidOperationException($"{Binary} did not answer on 127.0.0.1:{port}");
    }

    /// <summary>Starts a blob upload (<c>POST /v2/NAME/blobs/uploads/</c>); returns its id and where to send its bytes.</summary>
    public async Task<(string Id, Uri Location)> StartUploadAsync(string repository)
    {
        using var response = await Http.PostAsync(new Uri($"v2/{repository}/blobs/uploads/", UriKind.Relative), null);
        response.StatusCode.Should().Be(HttpStatusCode.Accepted);
        return (response.Headers.GetValues("Docker-Upload-Uuid").Single(), response.Headers.Location!);
    }

    /// <summary>Sends a chunk (<c>PATCH</c>); returns the status and where to send the next one.</summary>
    public async Task<(HttpStatusCode Status, Uri? Location)> SendChunkAsync(Uri location, byte[] bytes)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/octet-stream");
        using var response = await Http.SendAsync(request);
        return (response.StatusCode, response.Headers.Location);
    }

    /// <summary>Completes an upload (<c>PUT …&amp;digest=</c>); returns the status.</summary>
    public async Task<HttpStatusCode> CompleteAsync(Uri location, string digest)
    {
        var separator = location.Query.Length > 0 ? "&" : "?";
        using var response = await Http.PutAsync(new Uri($"{location}{separator}digest={Uri.EscapeDataString(digest)}"), null);
        return response.StatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_configFolder, recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
