using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Runner;

/// <summary>
/// The <c>harbor-gc</c> command (DESIGN.md §9). Exit codes (<see cref="ExitCodes"/>): 0 done, 1 the run failed, 2 bad usage or
/// bad input, 3 stopped before the end (a signal or the maximum duration).
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var signals = StopSignals.Register(Console.Error);
        return await RunAsync(args, Console.Out, Console.Error, TimeProvider.System, signals.Request).ConfigureAwait(false);
    }

    /// <summary>Runs a command line; what <see cref="Main"/> does, with the console and clock given (for tests).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(args, stdout, stderr, time, StopRequest.Of(cancellationToken));

    /// <summary>Runs a command line under <paramref name="stop"/>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, StopRequest stop)
    {
        var cancellationToken = stop.Token;
        try
        {
            return await Cli.InvokeAsync(args, new CommandContext(stdout, stderr, time, stop)).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync($"harbor-gc: {e.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // a run returns its own stopped result; what throws here stopped before any run began deleting
            await stderr.WriteLineAsync($"harbor-gc: stopped ({stop.Signal() ?? "cancelled"}) before the end; nothing was deleted.").ConfigureAwait(false);
            return ExitCodes.Stopped;
        }
#pragma warning disable CA1031 // the command's last line of defence: report and exit 1
        catch (Exception e)
#pragma warning restore CA1031
        {
            await stderr.WriteLineAsync($"harbor-gc: the run failed: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }

    /// <summary>The version of the tool and its package (Directory.Build.props' Version; the informational version carries no commit).</summary>
    public static string ToolVersion { get; } =
        typeof(Program).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
}
