using System.Runtime.InteropServices;

namespace Harbor.Gc.Runner;

/// <summary>
/// What a command runs under: a token the first stop signal cancels, and that signal's name for the report and the history (null
/// when the token was cancelled some other way, as tests do).
/// </summary>
/// <param name="Token">Cancelled when the run must stop after the item in hand.</param>
/// <param name="Signal">The name of the signal that cancelled <paramref name="Token"/>, once it has.</param>
internal sealed record StopRequest(CancellationToken Token, Func<string?> Signal)
{
    /// <summary>A request no signal cancels: only <paramref name="token"/>.</summary>
    public static StopRequest Of(CancellationToken token) => new(token, static () => null);
}

/// <summary>
/// The one signal mechanism of every command (the daemon's too): SIGTERM, SIGINT (Ctrl-C) and SIGQUIT are handled alike. The
/// first cancels <see cref="Request"/>'s token and keeps the process alive (its default action is cancelled), so the run
/// finishes the item in hand and writes its report and history. A second signal of any of the three is left to its default
/// action: the process ends at once (exit status 128 + the signal's number), for when stopping takes too long; the stores are
/// crash-safe, so that leaves them as a kill would.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly TextWriter _stderr;
    private string? _signal;
    private int _received;

    private StopSignals(TextWriter stderr) => _stderr = stderr;

    /// <summary>The token the first signal cancels, and its name.</summary>
    public StopRequest Request => new(_source.Token, () => Volatile.Read(ref _signal));

    /// <summary>Starts handling the three signals; says on <paramref name="stderr"/> when the first arrives.</summary>
    public static StopSignals Register(TextWriter stderr)
    {
        var signals = new StopSignals(stderr);
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            try
            {
                signals._registrations.Add(PosixSignalRegistration.Create(signal, signals.OnSignal));
            }
            catch (PlatformNotSupportedException)
            {
                // not a signal of this platform
            }
        }

        return signals;
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _source.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _received) > 1)
        {
            return; // the second signal: its default action ends the process now
        }

        context.Cancel = true;
        var name = context.Signal.ToString();
        Volatile.Write(ref _signal, name);
        _stderr.WriteLine($"harbor-gc: {name}: stopping after the item in hand, then writing the report (a second signal stops at once)");
        try
        {
            _source.Cancel();
        }
        catch (AggregateException e)
        {
            _stderr.WriteLine($"harbor-gc: while stopping: {e.InnerException?.Message ?? e.Message}");
        }
    }
}
