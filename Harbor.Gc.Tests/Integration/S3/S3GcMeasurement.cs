using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Amazon.S3;
using Amazon.S3.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// Issue 17's benchmark, NUnit-free (the benchmarks' <c>measure-s3</c> runs it; a smoke test runs it on a tiny tree): a generated
/// Distribution tree (<see cref="DistributionTreeGenerator"/>) written into a bucket of a Swift s3api server of its own, then
/// Distribution's <c>docker-registry garbage-collect --dry-run --delete-untagged</c> and <c>harbor-gc gc --dry-run</c> (both as
/// processes) over the bucket, each through one <see cref="S3RequestCounter"/>: wall time and requests by S3 operation. Both
/// collectors also run once over the same tree on disk, so that each one's picks on the bucket can be checked against its picks on
/// the folder, and the two collectors' picks are compared with each other.
/// </summary>
internal static partial class S3GcMeasurement
{
    /// <summary>The registry's <c>rootdirectory</c> in the bucket.</summary>
    public const string RootDirectory = "reg";

    /// <summary>Runs the measurement; <paramref name="log"/> gets the progress and the figures.</summary>
    public static async Task<S3GcResult> RunAsync(S3GcOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        var watch = Stopwatch.StartNew();
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var stats = new DistributionTreeGenerator(tree, options.Seed) { Manifests = options.Manifests, Repositories = options.Repositories }.Generate(cancellationToken);
        var files = Directory.EnumerateFiles(tree.Root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(tree.Root, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        var shape = TreeShape.Of(files);
        log.WriteLine($"tree: {stats} (generated in {watch.Elapsed.TotalSeconds:N1} s); objects: {shape}");

        using var server = S3Server.Launch();
        var bucket = await server.CreateBucketAsync("bench").ConfigureAwait(false);
        watch.Restart();
        await FillAsync(server, bucket, tree.Root, files, options.FillParallelism, cancellationToken).ConfigureAwait(false);
        var fill = watch.Elapsed;
        log.WriteLine($"bucket {bucket}: {files.Count:N0} objects written by {options.FillParallelism} single-part PutObjects at once in {fill.TotalSeconds:N1} s ({files.Count / fill.TotalSeconds:N0}/s)");

        // Swift dates an object by the next whole second after its write: let the last ones be in the past for a window of 0
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);

        using var counter = new S3RequestCounter(server.Endpoint);
        var work = Path.Combine(Path.GetTempPath(), "harbor-gc-s3-bench-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            var s3Config = Path.Combine(work, "registry-s3.yml");
            await File.WriteAllTextAsync(s3Config, RegistryConfig(
                "  s3:",
                "    accesskey: " + S3Server.AccessKey,
                "    secretkey: " + server.Secret,
                "    region: " + S3Server.Region,
                "    regionendpoint: " + counter.Endpoint.ToString().TrimEnd('/'),
                "    bucket: " + bucket,
                "    secure: false",
                "    v4auth: true",
                "    encrypt: false",
                "    chunksize: 5242880",
                "    rootdirectory: /" + RootDirectory), cancellationToken).ConfigureAwait(false);
            var folderConfig = Path.Combine(work, "registry-folder.yml");
            await File.WriteAllTextAsync(folderConfig, RegistryConfig("  filesystem:", "    rootdirectory: " + tree.Root), cancellationToken).ConfigureAwait(false);
            var spec = $"distribution:s3://{bucket}/{RootDirectory}?endpoint={counter.Endpoint.ToString().TrimEnd('/')}&region={S3Server.Region}";
            if (options.Parallelism is { } parallelism)
            {
                spec += string.Create(CultureInfo.InvariantCulture, $"&parallelism={parallelism}");
            }

            if (options.ManifestCache)
            {
                // one cache for every run of harbor-gc: the first fills it, the later ones read the manifests from it
                spec += "&cache=" + Uri.EscapeDataString(Path.Combine(work, "manifest-cache"));
            }

            var runs = new List<S3GcRun>();
            Picks? distributionPicks = null, harborPicks = null;
            for (var run = 1; run <= options.Runs; run++)
            {
                if (options.Distribution)
                {
                    var (measured, output) = Measure("distribution", run, counter, log, () => RunProcess(options.RegistryBinary, ["garbage-collect", "--dry-run", "--delete-untagged", s3Config], cancellationToken));
                    runs.Add(measured);
                    distributionPicks ??= Picks.OfDistribution(output);
                }

                var report = Path.Combine(work, string.Create(CultureInfo.InvariantCulture, $"report-{run}.json"));
                var (ours, _) = Measure("harbor-gc", run, counter, log, () => RunProcess("dotnet",
                    [options.HarborGcDll, "gc", "--delete-untagged", "true", "--store", spec, "--dry-run", "--time-window", "0", "--report-json", report, "--quiet"], cancellationToken));
                runs.Add(ours);
                harborPicks ??= Picks.OfHarborGc(report);
            }

            string? check = null;
            if (options.CompareWithFolder)
            {
                var folderReport = Path.Combine(work, "report-folder.json");
                RunProcess("dotnet", [options.HarborGcDll, "gc", "--delete-untagged", "true", "--store", "distribution:" + tree.Root, "--dry-run", "--time-window", "0", "--report-json", folderReport, "--quiet"], cancellationToken);
                var harborOnFolder = Picks.OfHarborGc(folderReport);
                var lines = new List<string> { Compare("harbor-gc: bucket vs folder", harborPicks!, harborOnFolder) };
                if (distributionPicks is not null)
                {
                    var distributionOnFolder = Picks.OfDistribution(RunProcess(options.RegistryBinary, ["garbage-collect", "--dry-run", "--delete-untagged", folderConfig], cancellationToken));
                    lines.Add(Compare("distribution: bucket vs folder", distributionPicks, distributionOnFolder));
                }

                check = string.Join('\n', lines);
                log.WriteLine(check);
            }

            var versus = distributionPicks is null ? null : Compare("harbor-gc vs distribution (bucket)", harborPicks!, distributionPicks);
            if (versus is not null)
            {
                // the manifests only we collect: Distribution 2.8 keeps every manifest a tag names, so a tag-scheme cosign signature
                // (tag sha256-HEX.sig) of an untagged image stays there, and we collect it with its subject
                var tagged = TaggedManifests(tree.Root, files);
                var oursOnly = harborPicks!.Manifests.Except(distributionPicks!.Manifests).ToList();
                var signatures = oursOnly.Count(m => tagged.TryGetValue(m, out var tags) && tags.All(t => CosignTag().IsMatch(t)));
                versus += string.Create(CultureInfo.InvariantCulture,
                    $"; of the {oursOnly.Count:N0} manifests only harbor-gc picks, {signatures:N0} are named only by cosign tags (sha256-HEX.sig/.att/.sbom) and {oursOnly.Count(m => !tagged.ContainsKey(m)):N0} by no tag");
                log.WriteLine(versus);
            }

            if (counter.Failures > 0)
            {
                throw new InvalidOperationException($"the counting proxy could not parse {counter.Failures} connections' requests: the counts are incomplete");
            }

            return new S3GcResult(stats, shape, fill, runs, distributionPicks, harborPicks!, check, versus);
        }
        finally
        {
            FixtureProcess.RemoveFolder(work);
        }
    }

    /// <summary>Every file of the tree as an object <c>reg/PATH</c>, a few PutObjects at once (the registry writes its small files so).</summary>
    private static async Task FillAsync(S3Server server, string bucket, string root, List<string> files, int parallelism, CancellationToken cancellationToken)
    {
        using var client = server.CreateClient();
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (file, token) =>
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(root, file), token).ConfigureAwait(false);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using var body = new MemoryStream(bytes);
                    // Swift's s3api does not take the SDK's aws-chunked uploads
                    await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = RootDirectory + "/" + file, InputStream = body, UseChunkEncoding = false }, token).ConfigureAwait(false);
                    return;
                }
                catch (AmazonS3Exception e) when ((int)e.StatusCode >= 500 && attempt < 5)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), token).ConfigureAwait(false);
                }
            }
        }).ConfigureAwait(false);
    }

    /// <summary>The tags whose current link names each manifest digest.</summary>
    private static Dictionary<string, List<string>> TaggedManifests(string root, List<string> files)
    {
        var tagged = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var file in files.Where(f => f.Contains("/_manifests/tags/", StringComparison.Ordinal) && f.EndsWith("/current/link", StringComparison.Ordinal)))
        {
            var tag = file[..^"/current/link".Length];
            tag = tag[(tag.LastIndexOf('/') + 1)..];
            var digest = File.ReadAllText(Path.Combine(root, file)).Trim();
            if (!tagged.TryGetValue(digest, out var tags))
            {
                tagged[digest] = tags = [];
            }

            tags.Add(tag);
        }

        return tagged;
    }

    [GeneratedRegex(@"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")]
    private static partial Regex CosignTag();

    private static string RegistryConfig(params string[] storage) =>
        string.Join('\n', ["version: 0.1", "log:", "  level: error", "storage:", .. storage, "  delete:", "    enabled: true",
            "  maintenance:", "    uploadpurging:", "      enabled: false", ""]);

    private static (S3GcRun Run, string Output) Measure(string tool, int run, S3RequestCounter counter, TextWriter log, Func<string> body)
    {
        var load = LoadAverage();
        counter.Reset();
        var watch = Stopwatch.StartNew();
        var output = body();
        var elapsed = watch.Elapsed;
        var measured = new S3GcRun(tool, run, elapsed, load, counter.Snapshot());
        log.WriteLine(measured);
        return (measured, output);
    }

    /// <summary>The 1-minute load average (from <c>/proc/loadavg</c>), or NaN where there is none.</summary>
    public static double LoadAverage() =>
        File.Exists("/proc/loadavg") ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture) : double.NaN;

    /// <summary>Runs a process to its end (without <c>AWS_CA_BUNDLE</c>, which makes docker-registry panic); its output, or an exception when it fails.</summary>
    private static string RunProcess(string file, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment.Remove("AWS_CA_BUNDLE");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        using var kill = cancellationToken.Register(() => process.Kill(entireProcessTree: true));
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        process.WaitForExit();
        cancellationToken.ThrowIfCancellationRequested();
        if (process.ExitCode != 0)
        {
            var tail = errors.Result + output.Result;
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {(tail.Length > 3000 ? "…" + tail[^3000..] : tail)}");
        }

        return output.Result + errors.Result;
    }

    private static string Compare(string what, Picks a, Picks b)
    {
        static string Sets(string kind, HashSet<string> x, HashSet<string> y) =>
            string.Create(CultureInfo.InvariantCulture, $"{kind} {x.Count:N0} / {y.Count:N0}, in both {x.Intersect(y).Count():N0}, only left {x.Except(y).Count():N0}, only right {y.Except(x).Count():N0}");
        return $"{what}: {Sets("blobs", a.Blobs, b.Blobs)}; {Sets("manifests", a.Manifests, b.Manifests)}";
    }

    [GeneratedRegex(@"^blob eligible for deletion: (sha256:[0-9a-f]{64})\s*$", RegexOptions.Multiline)]
    private static partial Regex BlobLine();

    [GeneratedRegex(@"^manifest eligible for deletion: (sha256:[0-9a-f]{64})\s*$", RegexOptions.Multiline)]
    private static partial Regex ManifestLine();

    /// <summary>What a collector picks for deletion: blob digests and manifest digests (Distribution names no repository).</summary>
    internal sealed record Picks(HashSet<string> Blobs, HashSet<string> Manifests)
    {
        public static Picks OfDistribution(string output) => new(
            BlobLine().Matches(output).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal),
            ManifestLine().Matches(output).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal));

        public static Picks OfHarborGc(string reportFile)
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(reportFile));
            var root = json.RootElement;
            return new(
                root.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString()!).ToHashSet(StringComparer.Ordinal),
                root.GetProperty("artifacts").EnumerateArray().Select(a => a.GetProperty("digest").GetString()!).ToHashSet(StringComparer.Ordinal));
        }
    }
}

/// <summary>What to measure.</summary>
/// <param name="HarborGcDll">The Release build's <c>harbor-gc.dll</c>.</param>
/// <param name="RegistryBinary">Distribution's <c>docker-registry</c>.</param>
/// <param name="Manifests">The generator's manifest count.</param>
/// <param name="Repositories">The generator's repository count.</param>
/// <param name="Runs">Runs of each collector.</param>
internal sealed record S3GcOptions(string HarborGcDll, string RegistryBinary, int Manifests, int Repositories, int Runs)
{
    /// <summary>The generator's seed.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>PutObjects at once while the bucket is filled.</summary>
    public int FillParallelism { get; init; } = 16;

    /// <summary>Whether Distribution's collector runs (it is the slow one).</summary>
    public bool Distribution { get; init; } = true;

    /// <summary>Whether both collectors also run once over the tree on disk, to check their picks on the bucket.</summary>
    public bool CompareWithFolder { get; init; } = true;

    /// <summary>The store address's <c>parallelism</c>; the store's default when null.</summary>
    public int? Parallelism { get; init; }

    /// <summary>Whether harbor-gc's runs share a manifest cache (<c>cache=</c>, a folder of the measurement's work folder).</summary>
    public bool ManifestCache { get; init; }
}

/// <summary>The measurement: the tree, the fill, each run, each collector's picks and the checks.</summary>
internal sealed record S3GcResult(DistributionTreeStats Tree, TreeShape Shape, TimeSpan Fill, List<S3GcRun> Runs, S3GcMeasurement.Picks? Distribution,
    S3GcMeasurement.Picks HarborGc, string? FolderCheck, string? Versus);

/// <summary>One collector's run: wall time, the load average when it started, requests by S3 operation.</summary>
internal sealed record S3GcRun(string Tool, int Run, TimeSpan Elapsed, double Load, IReadOnlyDictionary<string, long> Requests)
{
    public long Total => Requests.Values.Sum();

    /// <summary>Requests by kind (LIST, GET, HEAD, PUT, DELETE).</summary>
    public SortedDictionary<string, long> ByKind()
    {
        var kinds = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (operation, count) in Requests)
        {
            var kind = S3RequestCounter.Kind(operation);
            kinds[kind] = kinds.GetValueOrDefault(kind) + count;
        }

        return kinds;
    }

    public override string ToString()
    {
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"{Tool} run {Run}: {Elapsed.TotalSeconds:N2} s (load {Load:0.00}), {Total:N0} requests:"));
        foreach (var (kind, count) in ByKind())
        {
            text.Append(CultureInfo.InvariantCulture, $" {kind} {count:N0}");
        }

        text.Append(" (");
        text.AppendJoin(", ", Requests.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:N0}")));
        return text.Append(')').ToString();
    }
}

/// <summary>The tree's objects by kind, for the cost model.</summary>
/// <param name="RevisionsTimesTags">The sum over repositories of revisions × tags (what Distribution's untagged check reads).</param>
internal sealed record TreeShape(int Objects, int BlobData, int RevisionLinks, int TagCurrentLinks, int TagIndexLinks, int LayerLinks, int Other,
    int Repositories, long RevisionsTimesTags)
{
    public static TreeShape Of(IEnumerable<string> paths)
    {
        int objects = 0, blobs = 0, revisions = 0, current = 0, index = 0, layers = 0, other = 0;
        var perRepository = new Dictionary<string, (long Revisions, long Tags)>(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            var manifests = p.IndexOf("/_manifests/", StringComparison.Ordinal);
            var repositories = p.IndexOf("/repositories/", StringComparison.Ordinal);
            var repository = manifests > 0 && repositories >= 0 ? p[(repositories + "/repositories/".Length)..manifests] : null;

            objects++;
            if (p.Contains("/blobs/", StringComparison.Ordinal) && p.EndsWith("/data", StringComparison.Ordinal))
            {
                blobs++;
            }
            else if (p.Contains("/_manifests/revisions/", StringComparison.Ordinal))
            {
                revisions++;
                var (r, t) = perRepository.GetValueOrDefault(repository!);
                perRepository[repository!] = (r + 1, t);
            }
            else if (p.Contains("/_manifests/tags/", StringComparison.Ordinal) && p.EndsWith("/current/link", StringComparison.Ordinal))
            {
                current++;
                var (r, t) = perRepository.GetValueOrDefault(repository!);
                perRepository[repository!] = (r, t + 1);
            }
            else if (p.Contains("/_manifests/tags/", StringComparison.Ordinal) && p.Contains("/index/", StringComparison.Ordinal))
            {
                index++;
            }
            else if (p.Contains("/_layers/", StringComparison.Ordinal))
            {
                layers++;
            }
            else
            {
                other++;
            }
        }

        return new TreeShape(objects, blobs, revisions, current, index, layers, other, perRepository.Count, perRepository.Values.Sum(v => v.Revisions * v.Tags));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Objects:N0} (blob data {BlobData:N0}, revision links {RevisionLinks:N0}, tag current links {TagCurrentLinks:N0}, tag index links {TagIndexLinks:N0}, layer links {LayerLinks:N0}, other {Other:N0}); {Repositories:N0} repositories with manifests, sum of revisions × tags {RevisionsTimesTags:N0}");
}
