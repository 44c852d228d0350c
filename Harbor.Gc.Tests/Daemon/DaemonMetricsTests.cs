using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Runner;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>
/// Issue 14's metrics: the daemon exports the <c>Harbor.Gc</c> meter through OpenTelemetry, to a Prometheus scrape endpoint and
/// to an OTLP collector, as its configuration says; off unless configured.
/// </summary>
[NonParallelizable] // the meter is the process's: another test's runs would add to the counters
public class DaemonMetricsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private DaemonSample _sample = null!;

    // given a tree with a tagged image and an untagged one a real GC deletes
    [SetUp]
    public void SetUp() => _sample = new DaemonSample();

    [TearDown]
    public void TearDown() => _sample.Dispose();

    private void WriteConfig(string metrics) => File.WriteAllText(_sample.Config, $$"""
        { "history": "history.db", "metrics": {{metrics}}, "jobs": [
            { "name": "gc", "kind": "gc", "deleteUntagged": true, "store": "distribution:.", "schedule": "* * * * * *", "timeWindow": "0", "gracePeriod": "0" } ] }
        """);

    [Test]
    [CancelAfter(120_000)]
    public async Task Given_a_Prometheus_port_when_a_job_has_run_then_metrics_on_it_shows_the_GC_counters()
    {
        // given the daemon with a Prometheus endpoint on a free port of 127.0.0.1 and a GC job every second
        var port = FreePort();
        WriteConfig($$"""{ "prometheus": { "port": {{port}} } }""");
        using var stop = new CancellationTokenSource();
        var stderr = new StringWriter();
        var daemon = Task.Run(() => Program.RunAsync(["daemon", "--config", _sample.Config], new StringWriter(), stderr, TimeProvider.System, stop.Token));

        // when a run has deleted the untagged image
        await WaitForAsync(() => Runs().Any(r => r.Status == RunStatus.Succeeded && r.Artifacts == 1), daemon, stderr, "a run that deleted the untagged image");

        // then a scrape of /metrics over HTTP shows the deletions, by store kind, and the runs' durations
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = string.Empty;
        await WaitForAsync(async () => (text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"))).Contains("harbor_gc_artifacts_deleted", StringComparison.Ordinal), daemon, stderr, "the counters on /metrics");
        Counter(text, "harbor_gc_artifacts_deleted_total").Should().Be(1, text);
        Counter(text, "harbor_gc_blobs_deleted_total").Should().Be(3, "the manifest, its config and its own layer");
        Counter(text, "harbor_gc_bytes_freed_bytes_total").Should().BeGreaterThan(0);
        text.Should().MatchRegex(@"harbor_gc_run_duration_seconds_count\{[^}]*outcome=""completed""");

        await stop.CancelAsync();
        (await daemon.WaitAsync(TimeSpan.FromSeconds(30))).Should().Be(0, stderr.ToString());
        var closed = async () => await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        await closed.Should().ThrowAsync<HttpRequestException>("the endpoint closes with the daemon");
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task Given_an_OTLP_endpoint_when_a_job_has_run_then_the_collector_receives_the_GC_counters()
    {
        // given a stand-in collector taking OTLP over HTTP on a free port, and the daemon sending to it every hour (and when it stops)
        var port = FreePort();
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();
        var received = new List<(string Path, byte[] Body)>();
        var receiving = Task.Run(async () =>
        {
            while (collector.IsListening)
            {
                var context = await collector.GetContextAsync();
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                lock (received)
                {
                    received.Add((context.Request.Url!.AbsolutePath, body.ToArray()));
                }

                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });
        WriteConfig($$"""{ "otlp": { "endpoint": "http://127.0.0.1:{{port}}/v1/metrics", "protocol": "http/protobuf", "interval": "1h" } }""");
        using var stop = new CancellationTokenSource();
        var stderr = new StringWriter();
        var daemon = Task.Run(() => Program.RunAsync(["daemon", "--config", _sample.Config], new StringWriter(), stderr, TimeProvider.System, stop.Token));

        // when a run has deleted the untagged image
        await WaitForAsync(() => Runs().Any(r => r.Status == RunStatus.Succeeded && r.Artifacts == 1), daemon, stderr, "a run that deleted the untagged image");

        // when the daemon stops
        await stop.CancelAsync();
        (await daemon.WaitAsync(TimeSpan.FromSeconds(30))).Should().Be(0, stderr.ToString());

        // then its last export reached the collector at the endpoint, holding the GC's instruments
        bool Has(string name)
        {
            lock (received)
            {
                return received.Any(r => r.Path == "/v1/metrics" && Encoding.UTF8.GetString(r.Body).Contains(name, StringComparison.Ordinal));
            }
        }

        Has("harbor_gc.artifacts.deleted").Should().BeTrue(stderr.ToString());
        Has("harbor_gc.blobs.deleted").Should().BeTrue();
        Has("harbor-gc").Should().BeTrue("the service name is harbor-gc");
        collector.Stop();
        await receiving.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Test]
    public async Task Given_bad_metrics_settings_then_each_is_named_and_the_daemon_exits_2()
    {
        WriteConfig("""{ "prometheus": { "port": 70000, "path": "/m" }, "otlp": { "endpoint": "collector:4317", "protocol": "udp" }, "statsd": {} }""");

        var (code, _, errors) = await GcCommandTests.Run("daemon", "--config", _sample.Config);

        code.Should().Be(2);
        errors.Should().Contain($"{_sample.Config}: field 'metrics.statsd': unknown field")
            .And.Contain($"{_sample.Config}: field 'metrics.prometheus.path': unknown field")
            .And.Contain($"{_sample.Config}: field 'metrics.prometheus.port': 70000 is not a TCP port (1 to 65535)")
            .And.Contain($"{_sample.Config}: field 'metrics.otlp.endpoint': 'collector:4317' is not an http:// or https:// address")
            .And.Contain($"{_sample.Config}: field 'metrics.otlp.protocol': 'udp' is not grpc or http/protobuf");
        File.Exists(_sample.History).Should().BeFalse("nothing ran");
    }

    [Test]
    public async Task Given_a_Prometheus_port_in_use_then_the_daemon_exits_2_naming_it_before_any_run()
    {
        // given a port another program listens on
        using var other = new TcpListener(IPAddress.Loopback, 0);
        other.Start();
        var port = ((IPEndPoint)other.LocalEndpoint).Port;
        WriteConfig($$"""{ "prometheus": { "port": {{port}} } }""");

        var (code, _, errors) = await GcCommandTests.Run("daemon", "--config", _sample.Config);

        code.Should().Be(2, errors);
        errors.Should().Contain($"{_sample.Config}: field 'metrics.prometheus.port': cannot listen on http://127.0.0.1:{port}/metrics");
        Runs().Should().BeEmpty("nothing ran");
    }

    [Test]
    public void Given_metrics_settings_then_the_prometheus_host_is_127_0_0_1_unless_given_and_no_metrics_is_no_exporter()
    {
        WriteConfig("""{ "prometheus": { "port": 9464 }, "otlp": { "endpoint": "http://collector:4317" } }""");
        var config = DaemonConfigReader.Load(_sample.Config, TimeProvider.System);
        config.Metrics!.Prometheus.Should().Be(new PrometheusConfig("127.0.0.1", 9464));
        config.Metrics.Otlp.Should().Be(new OtlpConfig(new Uri("http://collector:4317"), HttpProtobuf: false, TimeSpan.FromSeconds(60)));

        WriteConfig("null");
        DaemonConfigReader.Load(_sample.Config, TimeProvider.System).Metrics.Should().BeNull();
    }

    private IReadOnlyList<RunRecord> Runs()
    {
        if (!File.Exists(_sample.History))
        {
            return [];
        }

        using var history = RunHistory.Open(_sample.History, create: false);
        return history.List(null, 100);
    }

    private static long Counter(string text, string name)
    {
        var match = Regex.Match(text, $@"(?m)^{name}\{{[^}}]*store_kind=""distribution""[^}}]*\}} (\d+)");
        match.Success.Should().BeTrue($"{name} is on /metrics:\n{text}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Task WaitForAsync(Func<bool> done, Task<int> daemon, StringWriter stderr, string what) =>
        WaitForAsync(() => Task.FromResult(done()), daemon, stderr, what);

    private static async Task WaitForAsync(Func<Task<bool>> done, Task<int> daemon, StringWriter stderr, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            daemon.IsCompleted.Should().BeFalse($"the daemon runs until stopped; its log:\n{Log(stderr)}");
            try
            {
                if (await done())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // the endpoint is not listening yet
            }

            stopwatch.Elapsed.Should().BeLessThan(Bound, $"waiting for {what}; the daemon's log:\n{Log(stderr)}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }
    }

    private static string Log(StringWriter stderr)
    {
        lock (stderr)
        {
            return stderr.ToString();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
