using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Runner;

/// <summary>The <c>harbor-gc</c> command (DESIGN.md §9). Exit codes: 0 done, 1 the run failed, 2 bad usage or bad input.</summary>
internal static class Program
{
    public const string Usage = $"""
        usage:
        {GcCommand.Usage}
        {RetentionCommand.Usage}
        {DaemonCommand.Usage}
        {HistoryCommand.Usage}
        {ExplainCommand.Usage}
        {StoreCommand.Usage}
        """;

    public static async Task<int> Main(string[] args)
    {
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // finish the item in hand, then exit
            stop.Cancel();
        };
        return await RunAsync(args, Console.Out, Console.Error, TimeProvider.System, stop.Token).ConfigureAwait(false);
    }

    /// <summary>Runs a command line; what <see cref="Main"/> does, with the console and clock given (for tests).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            return args switch
            {
                ["gc", .. var rest] => await GcCommand.RunAsync(rest, stdout, stderr, time, cancellationToken).ConfigureAwait(false),
                ["retention", .. var rest] => await RetentionCommand.RunAsync(rest, stdout, stderr, time, cancellationToken).ConfigureAwait(false),
                ["history", .. var rest] => await HistoryCommand.ListAsync(rest, stdout).ConfigureAwait(false),
                ["show", .. var rest] => await HistoryCommand.ShowAsync(rest, stdout).ConfigureAwait(false),
                ["daemon", .. var rest] => await DaemonCommand.RunAsync(rest, stderr, time, cancellationToken).ConfigureAwait(false),
                ["explain", .. var rest] => await ExplainCommand.RunAsync(rest, stdout, time, cancellationToken).ConfigureAwait(false),
                ["store", .. var rest] => await StoreCommand.RunAsync(rest, stdout).ConfigureAwait(false),
                [] or ["--help"] or ["-h"] or ["help"] => Help(stdout),
                [var command, ..] => throw new UsageException($"unknown command '{command}'.\n{Usage}"),
            };
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync($"harbor-gc: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync("harbor-gc: cancelled before the plan was made; nothing was deleted.").ConfigureAwait(false);
            return 1;
        }
#pragma warning disable CA1031 // the command's last line of defence: report and exit 1
        catch (Exception e)
#pragma warning restore CA1031
        {
            await stderr.WriteLineAsync($"harbor-gc: the run failed: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static int Help(TextWriter stdout)
    {
        stdout.WriteLine(Usage);
        return 0;
    }
}
