using BenchmarkDotNet.Running;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Benchmarks;

internal static class Program
{
    public static async Task Main(string[] args)
    {
        if (args is ["retention-stopwatch", .. var rest])
        {
            await RetentionStopwatch.RunAsync(
                rest.Length > 0 ? int.Parse(rest[0], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000,
                rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 5);
            return;
        }

        if (args is ["measure-gc", ..])
        {
            await GcPhaseTimer.RunAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 8).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-litedb-push", ..] && (args.Length == 1 || int.TryParse(args[1], out _)))
        {
            await LiteDbPhaseTimer.PushAsync(args.Length == 1 ? 100_000 : int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-litedb", ..] && (args.Length == 1 || int.TryParse(args[1], out _)))
        {
            await LiteDbPhaseTimer.RunAsync(args.Length == 1 ? 100_000 : int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-litedb-shared-gc", ..])
        {
            await LiteDbSharedGcTimer.RunAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3,
                args.Length > 3 && args[3] == "gc-only").ConfigureAwait(false);
            return;
        }

        if (args is ["measure-postgres", ..])
        {
            await PostgresStopwatch.RunAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5,
                args.Length > 3 ? args[3] : "all",
                args.Length > 4 ? TimeSpan.FromSeconds(int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture)) : null).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-harbor-database", ..])
        {
            await HarborStopwatch.DatabaseAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-harbor", ..])
        {
            await HarborStopwatch.RunAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5).ConfigureAwait(false);
            return;
        }

        if (args is ["measure-s3", ..])
        {
            await S3Stopwatch.RunAsync(args[1..]).ConfigureAwait(false);
            return;
        }

        if (args is ["generate-distribution-tree"])
        {
            // the tree DistributionGcBenchmarks times, left in place to look at or to time other tools on by hand
            var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
            var stats = new DistributionTreeGenerator(tree, DistributionGcBenchmarks.Seed).Generate();
            Console.WriteLine($"{tree.Root}: {stats}");
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
