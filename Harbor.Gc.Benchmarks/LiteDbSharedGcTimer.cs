using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support.Pusher;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>measure-litedb-shared-gc [deadImages] [runs]</c>: the store of the cross-process push test (<c>LiteDbSharedPushTests</c>:
/// <see cref="PushLoad"/>'s dead and live images), and on fresh copies of it, for <c>--workers</c> 1 and 4: a real
/// <c>harbor-gc gc --time-window 0</c> alone; the same run while the test's pusher (the test assembly run as
/// <c>Harbor.Gc.Tests.dll push</c>: four clients, shared mode) pushes; and the pusher alone for as long as that run took. Prints
/// each run and the medians. With <c>gc-only</c>, the runs alone only; with <c>HARBOR_GC_COMPARE_DLL</c> set too, each run times
/// that harbor-gc as well, in turns (say, the build before a change: both see the same load). First, the cost of the store's
/// cross-process lock against one shared-mode read.
/// </summary>
internal static class LiteDbSharedGcTimer
{
    private const int LiveImages = 150;

    public static async Task RunAsync(int deadImages, int runs, bool gcOnly)
    {
        var root = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "harbor-gc-shared-gc-" + Guid.NewGuid().ToString("N")[..8]);
        var template = Path.Combine(root, "template");
        Directory.CreateDirectory(template);
        try
        {
            var setup = Stopwatch.StartNew();
            using (var store = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = Path.Combine(template, "harbor-gc.db"), CreateIfMissing = true, Connection = LiteDbConnectionMode.Direct }))
            {
                await PushLoad.FillAsync(new RegistryApi(store), deadImages, LiveImages).ConfigureAwait(false);
            }

            Console.WriteLine($"store: {deadImages} dead images (4 blobs each), {LiveImages} live ones, written in {setup.ElapsedMilliseconds} ms; in {root}");
            await TimeTheLockAsync(Copy(template, root), deadImages).ConfigureAwait(false);
            var harborGc = DistributionGcBenchmarks.FindHarborGc();
            var compare = Environment.GetEnvironmentVariable("HARBOR_GC_COMPARE_DLL") is { Length: > 0 } other && gcOnly ? other : null;
            foreach (var workers in new[] { 1, 4 })
            {
                var alone = new List<double>();
                var aloneCompared = new List<double>();
                var together = new List<double>();
                var duringRun = new List<double>();
                var pusherAlone = new List<double>();
                for (var run = 1; run <= runs; run++)
                {
                    if (compare is not null && run % 2 == 0)
                    {
                        aloneCompared.Add((await GcAsync(harborGc: compare, Copy(template, root), workers, null).ConfigureAwait(false)).Seconds);
                    }

                    var gcAlone = await GcAsync(harborGc, Copy(template, root), workers, null).ConfigureAwait(false);
                    if (compare is not null && run % 2 == 1)
                    {
                        aloneCompared.Add((await GcAsync(harborGc: compare, Copy(template, root), workers, null).ConfigureAwait(false)).Seconds);
                    }

                    if (gcOnly)
                    {
                        alone.Add(gcAlone.Seconds);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"workers {workers}, run {run}: gc alone {gcAlone.Seconds:F1} s{(compare is null ? "" : $"; {compare}: {aloneCompared[^1]:F1} s")}"));
                        continue;
                    }

                    var withPusher = await GcAsync(harborGc, Copy(template, root), workers, deadImages).ConfigureAwait(false);
                    var pushes = await PushAloneAsync(Copy(template, root), deadImages, TimeSpan.FromSeconds(withPusher.Seconds)).ConfigureAwait(false);
                    alone.Add(gcAlone.Seconds);
                    together.Add(withPusher.Seconds);
                    duringRun.Add(withPusher.PushesPerSecond);
                    pusherAlone.Add(pushes);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"workers {workers}, run {run}: gc alone {gcAlone.Seconds:F1} s; gc with the pusher {withPusher.Seconds:F1} s ({withPusher.Pushes} pushes accepted during it, {withPusher.PushesPerSecond:F1}/s); pusher alone {pushes:F1}/s"));
                }

                Console.WriteLine(gcOnly ? string.Create(CultureInfo.InvariantCulture,
                    $"workers {workers}, median of {runs}: gc alone {Median(alone):F1} s{(compare is null ? "" : $"; {compare}: {Median(aloneCompared):F1} s")}") : string.Create(CultureInfo.InvariantCulture,
                    $"workers {workers}, medians of {runs}: gc alone {Median(alone):F1} s, gc with the pusher {Median(together):F1} s; pushes/s during the run {Median(duringRun):F1}, alone {Median(pusherAlone):F1}"));
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// A real run on <paramref name="folder"/> (deleted afterwards), with the pusher pushing meanwhile when given the number of dead
    /// images; its wall time and the pushes accepted during it.
    /// </summary>
    private static async Task<(double Seconds, int Pushes, double PushesPerSecond)> GcAsync(string harborGc, string folder, int workers, int? pusherDeadImages)
    {
        using var cleanup = new Cleanup(folder);
        var database = Path.Combine(folder, "harbor-gc.db");
        var records = Path.Combine(folder, "pushes.jsonl");
        using var client = pusherDeadImages is { } dead ? await StartPusherAsync(database, records, dead).ConfigureAwait(false) : null;
        var started = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var watch = Stopwatch.StartNew();
        using (var gc = Start(harborGc, ["gc", "--delete-untagged", "true", "--store", $"litedb:{database}", "--time-window", "0", "--workers", $"{workers}", "--quiet"], folder))
        {
            var errors = gc.StandardError.ReadToEndAsync();
            await gc.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
            await gc.WaitForExitAsync().ConfigureAwait(false);
            if (gc.ExitCode != 0)
            {
                throw new InvalidOperationException($"harbor-gc gc exited with {gc.ExitCode}: {await errors.ConfigureAwait(false)}");
            }
        }

        var seconds = watch.Elapsed.TotalSeconds;
        var finished = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        if (client is null)
        {
            return (seconds, 0, 0);
        }

        await StopAsync(client).ConfigureAwait(false);
        var during = File.ReadLines(records).Select(l => JsonSerializer.Deserialize<AcceptedPush>(l, PushSummary.Json)!)
            .Count(p => p.AcceptedAtMs >= started && p.AcceptedAtMs <= finished);
        return (seconds, during, during / seconds);
    }

    /// <summary>
    /// What the cross-process lock costs against what it guards: 5,000 rounds of the lock alone (its mutex and file lock, taken and
    /// released), and 5,000 shared-mode reads of a blob record (each holds the lock, then LiteDB's mutex, opens the file, reads, closes).
    /// </summary>
    private static async Task TimeTheLockAsync(string folder, int deadImages)
    {
        using var cleanup = new Cleanup(folder);
        const int Rounds = 5_000;
        var database = Path.Combine(folder, "harbor-gc.db");
        using var store = LiteDbRegistryStore.Open(new LiteDbStoreOptions { DatabasePath = database, Connection = LiteDbConnectionMode.Shared });
        var digest = PushLoad.Dead(deadImages / 2).Config.Digest;
        using var alone = new CrossProcessLock(database);
        for (var round = 1; round <= 2; round++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < Rounds; i++)
            {
                alone.Run(() => 0);
            }

            var lockMicroseconds = watch.Elapsed.TotalMicroseconds / Rounds;
            watch.Restart();
            for (var i = 0; i < Rounds; i++)
            {
                _ = await store.GetBlobAsync(digest).ConfigureAwait(false) ?? throw new InvalidOperationException("the blob is missing");
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: the cross-process lock alone {lockMicroseconds:F1} µs; a shared-mode blob read (with the lock) {watch.Elapsed.TotalMicroseconds / Rounds:F1} µs"));
        }
    }

    /// <summary>The pusher alone on <paramref name="folder"/> for <paramref name="duration"/>: accepted pushes per second.</summary>
    private static async Task<double> PushAloneAsync(string folder, int deadImages, TimeSpan duration)
    {
        using var cleanup = new Cleanup(folder);
        using var client = await StartPusherAsync(Path.Combine(folder, "harbor-gc.db"), Path.Combine(folder, "pushes.jsonl"), deadImages).ConfigureAwait(false);
        await Task.Delay(duration, TimeProvider.System).ConfigureAwait(false);
        var summary = await StopAsync(client).ConfigureAwait(false);
        return summary.Accepted * 1000.0 / summary.ElapsedMs;
    }

    private static async Task<Process> StartPusherAsync(string database, string records, int deadImages)
    {
        var pusher = Start(DistributionGcBenchmarks.FindReleaseBuild("Harbor.Gc.Tests", "Harbor.Gc.Tests.dll", "run it from a checkout"),
            ["push", "--store", database, "--records", records, "--dead", $"{deadImages}", "--clients", "4"], Path.GetDirectoryName(database)!);
        if (await pusher.StandardOutput.ReadLineAsync().ConfigureAwait(false) != "ready")
        {
            throw new InvalidOperationException($"the pusher (Harbor.Gc.Tests.dll push) did not start: {await pusher.StandardError.ReadToEndAsync().ConfigureAwait(false)}");
        }

        return pusher;
    }

    private static async Task<PushSummary> StopAsync(Process pusher)
    {
        pusher.StandardInput.Close();
        var output = await pusher.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await pusher.WaitForExitAsync().ConfigureAwait(false);
        var summary = JsonSerializer.Deserialize<PushSummary>(output.Trim().Split('\n')[^1], PushSummary.Json)!;
        return summary.Unexpected.Count == 0 ? summary : throw new InvalidOperationException("the pusher failed: " + string.Join("; ", summary.Unexpected.Take(5)));
    }

    private static Process Start(string dll, string[] arguments, string folder)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"{dll} did not start.");
    }

    private static string Copy(string template, string root)
    {
        var folder = Path.Combine(root, Guid.NewGuid().ToString("N")[..8]);
        foreach (var file in Directory.EnumerateFiles(template, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(folder, Path.GetRelativePath(template, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return folder;
    }

    /// <summary>Deletes a run's copy of the store.</summary>
    private sealed class Cleanup(string folder) : IDisposable
    {
        public void Dispose() => Directory.Delete(folder, recursive: true);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
