using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A real CNCF Distribution registry (<c>docker-registry serve</c>) on a free loopback port, storing into a temporary root
/// (filesystem driver, deletes enabled). It can be stopped and started again on the same root, and runs the registry's own
/// <c>garbage-collect</c>. <see cref="Dispose"/> kills the process and removes the root; a process still running when the
/// test host exits is killed then too, so no registry outlives the tests. Given an <see cref="S3RegistryStorage"/>, the registry
/// stores into a bucket through its <c>s3</c> driver instead (issue 17), run without <c>AWS_CA_BUNDLE</c> (its AWS SDK panics
/// when that is set; /work/shared/reference/s3/NOTES.md).
/// </summary>
internal sealed class DistributionRegistryProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly ConcurrentDictionary<Process, bool> Running = new();
    private readonly string _binary;
    private readonly string _work;
    private readonly TimeProvider _time;
    private Process? _process;
    private StringBuilder _output = new();

    static DistributionRegistryProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Keys)
        {
            Kill(process);
        }
    };

    /// <summary>Creates the root and the configuration; call <see cref="StartAsync"/> to serve.</summary>
    /// <param name="binary">The <c>docker-registry</c> binary.</param>
    /// <param name="time">The clock, for the start-up wait.</param>
    /// <param name="parentFolder">Where to make the registry's folder (the temporary folder when null).</param>
    /// <param name="s3">Store into this bucket instead of <see cref="Root"/> (which is then made but left empty).</param>
    public DistributionRegistryProcess(string binary, TimeProvider time, string? parentFolder = null, S3RegistryStorage? s3 = null)
    {
        _binary = binary;
        _time = time;
        _work = Path.Combine(parentFolder ?? Path.GetTempPath(), "harbor-gc-registry", Guid.NewGuid().ToString("N"));
        Root = Path.Combine(_work, "root");
        Directory.CreateDirectory(Root);
        Port = FixtureProcess.FreePort();
        Endpoint = new Uri($"http://127.0.0.1:{Port}/");
        ConfigFile = Path.Combine(_work, "config.yml");
        S3 = s3;
        string[] driver = s3 is null
            ? ["  filesystem:", $"    rootdirectory: {Root}"]
            :
            [
                "  s3:",
                $"    accesskey: \"{s3.AccessKey}\"",
                $"    secretkey: \"{s3.SecretKey}\"",
                $"    region: {s3.Region}",
                $"    regionendpoint: {s3.Endpoint.ToString().TrimEnd('/')}",
                $"    bucket: {s3.Bucket}",
                "    secure: false",
                "    v4auth: true",
                "    encrypt: false",
                "    chunksize: 5242880",
                $"    rootdirectory: /{s3.RootDirectory}",
                "  redirect:",
                "    disable: true",
            ];
        File.WriteAllText(ConfigFile, string.Create(CultureInfo.InvariantCulture, $"""
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
            {string.Join('\n', driver)}
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:{Port}
            """));
    }

    /// <summary>The storage <c>rootdirectory</c> (the folder holding <c>docker/registry/v2</c>).</summary>
    public string Root { get; }

    /// <summary>The bucket the registry stores into; null for <see cref="Root"/>.</summary>
    public S3RegistryStorage? S3 { get; }

    /// <summary>The registry's configuration file.</summary>
    public string ConfigFile { get; }

    /// <summary>The loopback port the registry listens on (the same across restarts).</summary>
    public int Port { get; }

    /// <summary>The registry's base address.</summary>
    public Uri Endpoint { get; }

    /// <summary>Whether the registry process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What the registry printed since it was last started (stdout and stderr).</summary>
    public string Output => FixtureProcess.Read(_output);

    /// <summary>Starts <c>docker-registry serve</c> and waits until <c>GET /v2/</c> answers 200.</summary>
    /// <exception cref="InvalidOperationException">The registry exited or did not answer in time; the message carries its output.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("the registry is already running");
        }

        _output = new StringBuilder();
        var process = Launch("serve", ConfigFile);
        _process = process;
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
        async Task<bool> Answers(CancellationToken token)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(Endpoint, "v2/"), token).ConfigureAwait(false);
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false; // not listening yet
            }
            catch (TaskCanceledException) when (!token.IsCancellationRequested)
            {
                return false; // a request timed out: try again
            }
        }

        try
        {
            await FixtureProcess.WaitUntilServingAsync(process, $"{_binary} serve", $"answering GET {Endpoint}v2/", Answers, StartTimeout, () => Output, _time, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            Stop();
            throw;
        }
    }

    /// <summary>Stops the registry (kill, then wait for it to exit); a no-op when it is not running.</summary>
    public void Stop()
    {
        if (_process is { } process)
        {
            Kill(process);
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Stops the registry and starts it again on the same root and port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        Stop();
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs <c>docker-registry garbage-collect [--dry-run] [--delete-untagged] CONFIG</c> (stop the registry first).</summary>
    /// <returns>What it printed on stdout.</returns>
    /// <exception cref="InvalidOperationException">It exited with an error; the message carries its output.</exception>
    public async Task<string> GarbageCollectAsync(bool dryRun, bool deleteUntagged, CancellationToken cancellationToken = default)
    {
        var args = new List<string> { "garbage-collect" };
        if (dryRun)
        {
            args.Add("--dry-run");
        }

        if (deleteUntagged)
        {
            args.Add("--delete-untagged");
        }

        args.Add(ConfigFile);
        using var process = new Process { StartInfo = StartInfo(args) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{_binary} {string.Join(' ', args)} exited with code {process.ExitCode}:\n{output}\n{await stderr.ConfigureAwait(false)}");
        }

        return output;
    }

    /// <summary>Kills the registry and removes its root and configuration.</summary>
    public void Dispose()
    {
        Stop();
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private Process Launch(params string[] args)
    {
        var process = FixtureProcess.Start(StartInfo(args), _output);
        Running[process] = true;
        return process;
    }

    private ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(_binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _work,
        };
        info.Environment.Remove("AWS_CA_BUNDLE"); // Distribution's AWS SDK panics when it is set
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // it was never started or is already gone
        }
        finally
        {
            Running.TryRemove(process, out _);
        }
    }
}

/// <summary>Where a registry's <c>s3</c> driver stores: a bucket of a test S3 server, under <paramref name="RootDirectory"/>.</summary>
/// <param name="Endpoint">The server's address.</param>
/// <param name="Bucket">The bucket.</param>
/// <param name="RootDirectory">The registry's <c>rootdirectory</c>, without the leading <c>/</c> (the bucket's root when empty).</param>
/// <param name="AccessKey">The access key.</param>
/// <param name="SecretKey">The secret key (written into the registry's configuration file, under the test's temporary folder).</param>
/// <param name="Region">The region.</param>
internal sealed record S3RegistryStorage(Uri Endpoint, string Bucket, string RootDirectory, string AccessKey, string SecretKey, string Region);
