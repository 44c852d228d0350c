using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Harbor.Gc.Collection;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A GC dry run over a generated Distribution storage tree (about 10k manifests, 50k blobs, 300 repositories), by Harbor.Gc in
/// process and as a process, by Distribution's own <c>docker-registry garbage-collect --dry-run --delete-untagged</c>, and the
/// floor: reading every file of the tree once. Every benchmark runs with a warm page cache and a written-back tree: the setup
/// syncs the new tree to disk and reads it whole once before the first iteration, and each iteration reads it again.
/// </summary>
[MemoryDiagnoser] // of this process only: the process benchmarks' children are not measured
[GcConcurrent(false)] // as the harbor-gc command runs
[MedianColumn]
[MinColumn]
[MaxColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public partial class DistributionGcBenchmarks
{
    /// <summary>The generator's seed: every run times the same tree.</summary>
    public const int Seed = 42;

    private readonly GcOptions _options = new() { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero };
    private DistributionTree _tree = null!;
    private string _config = null!;
    private string _harborGc = null!;

    [GlobalSetup(Targets = new[] { nameof(HarborGcInProcess), nameof(HarborGcProcess), nameof(ReadEveryFile) })]
    public void Setup()
    {
        var watch = Stopwatch.StartNew();
        _tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var stats = new DistributionTreeGenerator(_tree, Seed).Generate();
        Console.WriteLine($"// generated in {watch.Elapsed.TotalSeconds:N1} s: {stats}");
        _config = _tree.Root + ".yml";
        File.WriteAllText(_config, $"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {_tree.Root}\n");
        _harborGc = FindHarborGc();

        // the kernel writes the new tree back for a while after it is written, slowing down whatever runs then: wait for it
        Run("sync", []);
        ReadEveryFile(); // the page cache holds the tree from here on
    }

    /// <summary>The setup, and once per run (here, where Distribution's collector runs anyway) a sanity check of both collectors.</summary>
    [GlobalSetup(Target = nameof(Distribution))]
    public void SetupAndCheck()
    {
        Setup();

        // sanity: both collectors run without error over the tree and pick a plausible amount (not the same: Distribution 2.8
        // deletes untagged index children and OCI 1.1 referrers, and keeps tagged cosign signatures of untagged images)
        var plan = HarborGcInProcess().GetAwaiter().GetResult();
        var (output, errors) = Run("docker-registry", ["garbage-collect", "--dry-run", "--delete-untagged", _config], captureOutput: true);
        var summary = DistributionSummary().Match(output);
        if (!summary.Success)
        {
            throw new InvalidOperationException($"docker-registry garbage-collect printed no summary line; its output ends with: {Tail(output)}");
        }

        Console.WriteLine($"// Harbor.Gc plans {plan.Artifacts.Count:N0} manifests and {plan.Blobs.Count:N0} blobs for deletion ({plan.Warnings.Count} warnings)");
        foreach (var warning in plan.Warnings.Take(5))
        {
            Console.WriteLine($"//   {warning}");
        }

        Console.WriteLine($"// Distribution: {summary.Groups["marked"].Value} blobs marked, {summary.Groups["blobs"].Value} blobs and " +
            $"{summary.Groups["manifests"].Value} manifests eligible for deletion; stderr: {(errors.Length == 0 ? "empty" : Tail(errors))}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tree.Dispose();
        File.Delete(_config);
    }

    /// <summary>What <c>harbor-gc gc --dry-run</c> does, in this process: <c>DistributionRegistryStore</c> and <c>PlanAsync</c>.</summary>
    [Benchmark(Description = "Harbor.Gc dry run, in process")]
    public async Task<CollectionPlan> HarborGcInProcess()
    {
        var collector = new GarbageCollector(new DistributionRegistryStore(_tree.Root, TimeProvider.System), TimeProvider.System);
        return await collector.PlanAsync(_options).ConfigureAwait(false);
    }

    /// <summary>The harbor-gc command as a process, startup included: the fair comparison with Distribution's.</summary>
    [Benchmark(Description = "harbor-gc gc --dry-run (process)")]
    public void HarborGcProcess() =>
        Run("dotnet", [_harborGc, "gc", "--delete-untagged", "true", "--store", $"distribution:{_tree.Root}", "--dry-run", "--time-window", "0", "--report-json", "/dev/null", "--quiet"]);

    /// <summary>Distribution 2.8's collector; it prints a line per manifest and blob, drained here.</summary>
    [Benchmark(Description = "docker-registry garbage-collect --dry-run --delete-untagged")]
    public void Distribution() => Run("docker-registry", ["garbage-collect", "--dry-run", "--delete-untagged", _config]);

    /// <summary>The floor: every file of the tree read once.</summary>
    [Benchmark(Baseline = true, Description = "floor: find | xargs cat")]
    public void ReadEveryFile() =>
        Run("bash", ["-c", "set -o pipefail; find \"$1\" -type f -print0 | xargs -0 cat > /dev/null", "floor", _tree.Root]);

    /// <summary>Runs a process to its end; throws when it exits non-zero, so a failing run is never timed as a fast one.</summary>
    private static (string Output, string Errors) Run(string file, string[] arguments, bool captureOutput = false)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var output = captureOutput ? process.StandardOutput.ReadToEndAsync() : process.StandardOutput.BaseStream.CopyToAsync(Stream.Null).ContinueWith(_ => string.Empty, TaskScheduler.Default);
        var errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {Tail(errors.Result)}");
        }

        return (output.Result, errors.Result);
    }

    private static string Tail(string text) => text.Length > 2000 ? "…" + text[^2000..] : text;

    /// <summary>The Release build of Harbor.Gc.Runner in this source tree (built with this project), or <c>HARBOR_GC_DLL</c>.</summary>
    internal static string FindHarborGc() =>
        Environment.GetEnvironmentVariable("HARBOR_GC_DLL") is { Length: > 0 } given
            ? File.Exists(given) ? given : throw new FileNotFoundException($"HARBOR_GC_DLL: '{given}' does not exist.")
            : FindReleaseBuild("Harbor.Gc.Runner", "harbor-gc.dll", "set HARBOR_GC_DLL to harbor-gc.dll");

    /// <summary><paramref name="dll"/> in the Release build of <paramref name="project"/> in the checkout this benchmark runs from.</summary>
    internal static string FindReleaseBuild(string project, string dll, string otherwise)
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Harbor.Gc.sln")))
            {
                var path = Path.Combine(folder.FullName, project, "bin", "Release", "net10.0", dll);
                return File.Exists(path) ? path : throw new FileNotFoundException($"'{path}' does not exist; build {project} in Release first.");
            }
        }

        throw new FileNotFoundException($"No Harbor.Gc.sln above '{AppContext.BaseDirectory}'; {otherwise}.");
    }

    [GeneratedRegex(@"(?<marked>\d+) blobs marked, (?<blobs>\d+) blobs and (?<manifests>\d+) manifests eligible for deletion", RegexOptions.CultureInvariant)]
    private static partial Regex DistributionSummary();
}
