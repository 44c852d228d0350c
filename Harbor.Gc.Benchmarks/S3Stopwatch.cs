using System.Globalization;
using Harbor.Gc.Tests.Integration.S3;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-s3 [MANIFESTS] [RUNS] [REPOSITORIES] [harbor-only] [cache]</c>: issue 17's benchmark (<see cref="S3GcMeasurement"/>). A generated
/// Distribution tree of MANIFESTS manifests (10,000 by default) in REPOSITORIES repositories (3 per 100 manifests by default, the
/// shape of <see cref="DistributionGcBenchmarks"/>' tree: 300 at 10k) is written into a bucket of a Swift s3api server started for
/// the run; then RUNS times (1 by default) Distribution's <c>docker-registry garbage-collect --dry-run --delete-untagged</c> and
/// <c>harbor-gc gc --dry-run</c> over the bucket, through one counting proxy: wall time, load average and requests by S3 operation.
/// <c>harbor-only</c> skips Distribution's collector (minutes at 10k); <c>cache</c> gives harbor-gc's runs one manifest cache
/// (<c>cache=DIR</c>), so the first run fills it and the later ones send no manifest GET. Needs the Release build of Harbor.Gc.Runner (or
/// <c>HARBOR_GC_DLL</c>), Debian's <c>docker-registry</c> and Swift (see <c>Harbor.Gc.Tests/Integration/S3/S3Server.cs</c>).
/// </summary>
internal static class S3Stopwatch
{
    public static async Task RunAsync(string[] args)
    {
        var harborOnly = args.Contains("harbor-only");
        var manifestCache = args.Contains("cache");
        var numbers = args.Where(a => a is not ("harbor-only" or "cache")).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToList();
        var manifests = numbers.Count > 0 ? numbers[0] : 10_000;
        var runs = numbers.Count > 1 ? numbers[1] : 1;
        var repositories = numbers.Count > 2 ? numbers[2] : Math.Max(3, manifests * 3 / 100);
        var registry = harborOnly ? "docker-registry" : FindOnPath("docker-registry");
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.WriteLine($"measure-s3: {manifests:N0} manifests, {repositories:N0} repositories, {runs} run(s){(manifestCache ? ", with a manifest cache" : string.Empty)}; {Environment.ProcessorCount} cores; " +
            $"load average {S3GcMeasurement.LoadAverage():0.00}; {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
        var result = await S3GcMeasurement.RunAsync(
            new S3GcOptions(DistributionGcBenchmarks.FindHarborGc(), registry, manifests, repositories, runs) { Distribution = !harborOnly, ManifestCache = manifestCache },
            Console.Out, stop.Token).ConfigureAwait(false);

        foreach (var tool in result.Runs.Select(r => r.Tool).Distinct())
        {
            var times = result.Runs.Where(r => r.Tool == tool).Select(r => r.Elapsed.TotalSeconds).Order().ToList();
            var median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
            var requests = result.Runs.Where(r => r.Tool == tool).Select(r => r.Total).Distinct();
            Console.WriteLine($"{tool}: median {median:N2} s over {times.Count} run(s) (min {times[0]:N2}, max {times[^1]:N2}); requests per run: {string.Join(", ", requests.Select(n => n.ToString("N0", CultureInfo.InvariantCulture)))}");
        }

        if (!harborOnly)
        {
            var theirs = result.Runs.Where(r => r.Tool == "distribution").ToList();
            var ours = result.Runs.Where(r => r.Tool == "harbor-gc").ToList();
            Console.WriteLine($"ratio: {theirs.Average(r => r.Total) / ours.Average(r => r.Total):N1}x fewer requests, " +
                $"{theirs.Average(r => r.Elapsed.TotalSeconds) / ours.Average(r => r.Elapsed.TotalSeconds):N1}x less time (means)");
        }
    }

    private static string FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException($"{name} is not on PATH (apt-get install -y docker-registry), or run measure-s3 with harbor-only");
}
