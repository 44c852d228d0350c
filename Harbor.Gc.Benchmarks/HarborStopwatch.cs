using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Tests.Integration;
using Npgsql;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-harbor [artifacts] [runs]</c>: makes the <see cref="HarborInstallation"/> (printing how long its tree, its read and the
/// database fill took), checks it as <see cref="HarborStoreBenchmarks"/> does, then times each of the benchmark's three operations
/// <paramref name="runs"/> times in turn in this process (wall time and bytes allocated per run, median, min and max). A quick look
/// without BenchmarkDotNet's child processes, each of which fills its own database.
/// </summary>
internal static class HarborStopwatch
{
    /// <summary><c>measure-harbor-database [artifacts] [runs]</c>: the database's queries alone, on a database filled from <see cref="RegistryGenerator"/>.</summary>
    public static async Task DatabaseAsync(int artifacts, int runs)
    {
        var watch = Stopwatch.StartNew();
        var installation = await HarborInstallation.CreateDatabaseOnlyAsync(artifacts).ConfigureAwait(false);
        Console.WriteLine($"database ready in {watch.Elapsed.TotalSeconds:F0} s: {installation.Summary}");
        try
        {
            await TimeAsync([("database queries alone", () => HarborStoreBenchmarks.QueryAsync(installation.ConnectionString))], runs).ConfigureAwait(false);
        }
        finally
        {
            PostgresCluster.StopShared();
        }
    }

    public static async Task RunAsync(int artifacts, int runs)
    {
        var watch = Stopwatch.StartNew();
        var installation = await HarborInstallation.CreateAsync(artifacts).ConfigureAwait(false);
        Console.WriteLine($"installation ready in {watch.Elapsed.TotalSeconds:F0} s: {installation.Summary}");
        try
        {
            watch.Restart();
            Console.WriteLine($"{await HarborStoreBenchmarks.CheckAsync(installation).ConfigureAwait(false)} (checked in {watch.Elapsed.TotalSeconds:F1} s)");
            var operations = new (string Name, Func<Task> Run)[]
            {
                ("harbor: snapshot + dry run", () => HarborStoreBenchmarks.PlanAsync(installation)),
                ("database queries alone", () => HarborStoreBenchmarks.QueryAsync(installation.ConnectionString)),
                ("storage read alone", async () => await new HarborStoreBenchmarks { Artifacts = artifacts }.StorageReadOf(installation).ConfigureAwait(false)),
            };
            await TimeAsync(operations, runs).ConfigureAwait(false);

            // the command itself, start-up included, with its peak memory (GNU time's %M)
            var harborGc = DistributionGcBenchmarks.FindHarborGc();
            var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-benchmark-{Environment.ProcessId}.json"); // not /dev/null: the report writer empties its file first (SetLength), which /dev/null refuses (EINVAL)
            var database = new NpgsqlConnectionStringBuilder(installation.ConnectionString);
            var spec = string.Create(CultureInfo.InvariantCulture,
                $"harbor:postgresql://{database.Username}@{database.Host}:{database.Port}/{database.Database}?storage={installation.StorageRoot}");
            for (var run = 0; run < runs; run++)
            {
                var info = new ProcessStartInfo("/usr/bin/time")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                    Environment = { ["HARBOR_GC_PGPASSWORD"] = database.Password },
                };
                foreach (var argument in new[]
                         {
                             "-f", "wall %e s, peak %M KB", "dotnet", harborGc, "gc", "--store", spec, "--dry-run", "--delete-untagged", "true", "--time-window", "0",
                             "--report-json", report, "--quiet",
                         })
                {
                    info.ArgumentList.Add(argument);
                }

                using var process = Process.Start(info)!;
                var output = process.StandardOutput.ReadToEndAsync();
                var errors = await process.StandardError.ReadToEndAsync().ConfigureAwait(false);
                await process.WaitForExitAsync().ConfigureAwait(false);
                var last = errors.TrimEnd().Split('\n')[^1];
                Console.WriteLine($"run {run + 1}: harbor-gc gc --dry-run (process): exit {process.ExitCode}, {last}{(process.ExitCode == 0 ? string.Empty : " " + errors)}");
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException($"harbor-gc gc --dry-run exited with {process.ExitCode}: {errors} {await output.ConfigureAwait(false)}");
                }

                Console.WriteLine($"  its JSON report: {new FileInfo(report).Length / 1e6:N1} MB");
                File.Delete(report);
            }
        }
        finally
        {
            PostgresCluster.StopShared();
        }
    }

    private static async Task TimeAsync((string Name, Func<Task> Run)[] operations, int runs)
    {
        var watch = new Stopwatch();
        var times = operations.Select(_ => new List<(double Ms, long Bytes)>()).ToArray();
        for (var run = 0; run < runs; run++)
        {
            for (var i = 0; i < operations.Length; i++)
            {
                GC.Collect();
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                watch.Restart();
                await operations[i].Run().ConfigureAwait(false);
                var ms = watch.Elapsed.TotalMilliseconds;
                times[i].Add((ms, GC.GetTotalAllocatedBytes(precise: true) - allocated));
                Console.WriteLine($"run {run + 1}: {operations[i].Name}: {ms:N0} ms, {times[i][^1].Bytes / 1e6:N0} MB allocated");
            }
        }

        for (var i = 0; i < operations.Length; i++)
        {
            var sorted = times[i].Select(t => t.Ms).Order().ToList();
            Console.WriteLine($"{operations[i].Name}: median {sorted[sorted.Count / 2]:N0} ms, min {sorted[0]:N0} ms, max {sorted[^1]:N0} ms, "
                + $"{times[i].Select(t => t.Bytes).Order().ElementAt(times[i].Count / 2) / 1e6:N0} MB allocated (median) over {runs} runs");
        }
    }
}
