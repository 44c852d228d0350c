using System.Diagnostics;
using System.Globalization;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// A real S3 server for the tests of the S3 storage driver and store (issue 17): OpenStack Swift 2.30 from Debian's packages with its
/// <c>s3api</c> middleware, single node, one replica, under a temporary folder, on 127.0.0.1 (<c>start-swift.sh</c> beside this file
/// writes its configuration and starts it). One server serves the whole test run (<c>Shared</c>, started by the first test
/// that asks, in <c>S3Server.Shared.cs</c>); each test makes buckets of its own (<see cref="CreateBucketAsync"/>). This file has no
/// NUnit in it: the benchmarks compile it and start a server of their own (<see cref="Launch"/>).
/// </summary>
/// <remarks>
/// <para>
/// Credentials reach the code under test the way they reach it in production, through the AWS SDK's standard chain: the server's
/// access key and secret are put in this process's <c>AWS_ACCESS_KEY_ID</c> and <c>AWS_SECRET_ACCESS_KEY</c>, and
/// <c>AWS_EC2_METADATA_DISABLED</c> keeps the SDK from ever asking an instance-metadata address.
/// </para>
/// <para>
/// Without the packages the tests are ignored with the command that installs them, or fail when <c>HARBOR_GC_REQUIRE_S3=1</c> (set by
/// <c>.ci/run</c>, which installs them). The server's processes (memcached, the backends, the proxy) are stopped by their process
/// ids: at the end of the run (<c>StopS3AtRunEnd</c>) and at process exit (the tests'), by <see cref="Dispose"/>, and by a watchdog shell when the test process dies
/// without either.
/// </para>
/// </remarks>
internal sealed partial class S3Server : IDisposable
{
    /// <summary>The access key: tempauth's <c>ACCOUNT:USER</c>.</summary>
    public const string AccessKey = "test:tester";

    /// <summary>The region the server signs for.</summary>
    public const string Region = "us-east-1";

    private const string InstallHint = "apt-get install -y --no-install-recommends swift swift-proxy swift-account swift-container swift-object python3-swift memcached";
    private const string Python = "/usr/bin/python3";

    private static readonly string RunSecret = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();

    private readonly string _work;
    private Process? _watchdog;

    private S3Server()
    {
        _work = Path.Combine(Path.GetTempPath(), "harbor-gc-s3-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_work);
    }

    /// <summary>The S3 address, <c>http://127.0.0.1:PORT</c>.</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>The secret key: one for every server of the test run, since the process's environment holds it (the standard chain).</summary>
    public string Secret => RunSecret;

    /// <summary>How long the server took to start and answer (the script and the health checks).</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The ids of the server's processes.</summary>
    public IReadOnlyList<int> ProcessIds { get; private set; } = [];

    /// <summary>The folder holding the server's configuration, data and logs.</summary>
    public string Folder => _work;

    /// <summary>
    /// Starts a server of its own (the caller disposes it); throws <see cref="InvalidOperationException"/> naming what is missing when
    /// Swift is not installed. The tests go through <c>Shared</c> or <c>StartNew</c>, which skip or fail a test instead.
    /// </summary>
    public static S3Server Launch()
    {
        if (MissingPackages() is { Count: > 0 } missing)
        {
            throw new InvalidOperationException($"the S3 server (OpenStack Swift) needs {string.Join(", ", missing)}: {InstallHint}");
        }

        var server = new S3Server();
        try
        {
            server.Start();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>What is missing for the server (empty when nothing is).</summary>
    public static IReadOnlyList<string> MissingPackages()
    {
        var missing = new List<string>();
        if (OperatingSystem.IsWindows())
        {
            missing.Add("Linux (the server is Debian's Swift)");
            return missing;
        }

        if (!File.Exists(Python) || !Directory.Exists("/usr/lib/python3/dist-packages/swift"))
        {
            missing.Add("python3-swift (Debian's /usr/bin/python3 with the swift module)");
        }

        if (!File.Exists("/etc/swift/swift.conf"))
        {
            missing.Add("swift (its /etc/swift/swift.conf)");
        }

        if (!new[] { "/usr/bin/memcached", "/usr/local/bin/memcached" }.Any(File.Exists))
        {
            missing.Add("memcached");
        }

        return missing;
    }

    /// <summary>An S3 client of the server, for seeding and checking buckets (credentials from the standard chain, as the driver's).</summary>
    public AmazonS3Client CreateClient() => new(new AmazonS3Config
    {
        ServiceURL = Endpoint.ToString(),
        ForcePathStyle = true,
        AuthenticationRegion = Region,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    /// <summary>Creates a bucket of a unique name and returns the name.</summary>
    public async Task<string> CreateBucketAsync(string prefix = "t")
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}-{Guid.NewGuid():N}")[..Math.Min(prefix.Length + 17, 63)];
        using var client = CreateClient();
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            try
            {
                await client.PutBucketAsync(name).ConfigureAwait(false);
                return name;
            }
            catch (AmazonS3Exception e) when ((int)e.StatusCode >= 500 && TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes objects (<c>key → bytes</c>), a few at once.</summary>
    public async Task PutAsync(string bucket, IEnumerable<KeyValuePair<string, byte[]>> objects, int parallelism = 8)
    {
        using var client = CreateClient();
        await Parallel.ForEachAsync(objects, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, token) =>
        {
            using var body = new MemoryStream(item.Value);
            // Swift's s3api does not take the SDK's aws-chunked uploads
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = item.Key, InputStream = body, UseChunkEncoding = false }, token).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// A new bucket (named from <paramref name="prefix"/>) holding the files of a Distribution tree on disk as objects under the
    /// registry's rootdirectory <c>reg</c> (<c>reg/docker/registry/v2/…</c>), each written by a single-part PutObject as the registry
    /// writes its links and manifests.
    /// </summary>
    public async Task<string> CopyTreeAsync(string treeRoot, string prefix, int parallelism = 16)
    {
        var bucket = await CreateBucketAsync(prefix).ConfigureAwait(false);
        var files = Directory.GetFiles(treeRoot, "*", SearchOption.AllDirectories);
        await PutAsync(bucket, files.Select(f => new KeyValuePair<string, byte[]>(
            "reg/" + Path.GetRelativePath(treeRoot, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllBytes(f))), parallelism).ConfigureAwait(false);
        return bucket;
    }

    /// <summary>Every object in <paramref name="bucket"/> as <c>KEY SIZE ETAG LAST-MODIFIED</c>, sorted (the bucket's state, for a before/after comparison).</summary>
    public async Task<List<string>> ObjectsAsync(string bucket)
    {
        using var client = CreateClient();
        var objects = new List<string>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ContinuationToken = token }).ConfigureAwait(false);
            objects.AddRange((page.S3Objects ?? []).Select(o => string.Create(CultureInfo.InvariantCulture, $"{o.Key} {o.Size} {o.ETag} {o.LastModified:O}")));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        objects.Sort(StringComparer.Ordinal);
        return objects;
    }

    /// <summary>Every key in <paramref name="bucket"/>.</summary>
    public async Task<List<string>> KeysAsync(string bucket)
    {
        using var client = CreateClient();
        var keys = new List<string>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ContinuationToken = token }).ConfigureAwait(false);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return keys;
    }

    /// <summary>Stops the server's processes by their ids (TERM, then KILL) and its watchdog, and removes the folder.</summary>
    public void Dispose()
    {
        StopProcesses(ReadProcessIds());
        FixtureProcess.Kill(ref _watchdog);
        FixtureProcess.RemoveFolder(_work);
    }

    private void Start()
    {
        var started = TimeProvider.System.GetTimestamp();
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", Secret);
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        var script = Path.Combine(AppContext.BaseDirectory, "Integration", "S3", "start-swift.sh");
        for (var attempt = 1; ; attempt++)
        {
            var port = FixtureProcess.FreePorts(5);
            var data = Path.Combine(_work, "node");
            var (code, output) = RunScript(script, data, port);
            ProcessIds = ReadProcessIds();
            _watchdog ??= FixtureProcess.StartWatchdog("s3-watchdog", Environment.ProcessId,
                "[ -f \"$2\" ] && while read -r p; do kill -TERM \"$p\" 2>/dev/null; done < \"$2\"", Path.Combine(data, "pids"));
            if (code == 0)
            {
                Endpoint = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
                WaitUntilHealthy(port);
                break;
            }

            StopProcesses(ProcessIds);
            if (code != 4 || attempt == 5) // 4: a port was taken between the check and the start
            {
                throw new InvalidOperationException($"start-swift.sh exited with code {code}:\n{output}");
            }
        }

        StartupTime = TimeProvider.System.GetElapsedTime(started);
    }

    private (int Code, string Output) RunScript(string script, string folder, int port) =>
        FixtureProcess.Run(FixtureProcess.Info("/bin/bash", [script, folder, port.ToString(CultureInfo.InvariantCulture), Secret]), TimeSpan.FromSeconds(120))
            is { } done
            ? (done.Code, done.Stdout + done.Stderr)
            : (-1, "start-swift.sh did not finish within 120 s");

    private List<int> ReadProcessIds()
    {
        var file = Path.Combine(_work, "node", "pids");
        return File.Exists(file)
            ? File.ReadAllLines(file).Select(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0).Where(id => id > 0).ToList()
            : [];
    }

    private void WaitUntilHealthy(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var p in Enumerable.Range(port, 4))
        {
            var answer = http.GetAsync(new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{p}/healthcheck"))).GetAwaiter().GetResult();
            if (answer.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"127.0.0.1:{p}/healthcheck answered {(int)answer.StatusCode}; see {_work}/node/log");
            }
        }
    }

    /// <summary>Stops the server's processes by their ids: TERM, then KILL after 5 s.</summary>
    private static void StopProcesses(IReadOnlyList<int> ids) => FixtureProcess.Stop(ids, "TERM", TimeSpan.FromSeconds(5), entireProcessTree: false);
}

