namespace Harbor.Gc.Collection;

/// <summary>
/// What stops one run: the caller's cancellation, or the maximum duration counted from the run's start (DESIGN.md §9). Reading
/// the store, planning and the sweep all watch <see cref="Token"/>; between phases <see cref="CheckDeadline"/> also reads the
/// clock, so a deadline passed during a phase is seen before the next one even if the timer has not fired yet.
/// </summary>
internal sealed class RunStop : IDisposable
{
    private readonly CancellationToken _caller;
    private readonly CancellationTokenSource? _deadline;
    private readonly CancellationTokenSource _linked;
    private readonly DateTimeOffset? _deadlineAt;
    private readonly TimeProvider _time;

    public RunStop(TimeSpan? maxDuration, DateTimeOffset startedAt, TimeProvider time, CancellationToken caller)
    {
        (_caller, _time) = (caller, time);
        if (maxDuration is { } max)
        {
            _deadlineAt = startedAt + max;
            var left = _deadlineAt.Value - time.GetUtcNow();
            _deadline = left > TimeSpan.Zero ? new CancellationTokenSource(left, time) : new CancellationTokenSource();
            if (left <= TimeSpan.Zero)
            {
                _deadline.Cancel();
            }
        }

        _linked = _deadline is null
            ? CancellationTokenSource.CreateLinkedTokenSource(caller)
            : CancellationTokenSource.CreateLinkedTokenSource(caller, _deadline.Token);
    }

    /// <summary>Cancelled by the caller or at the deadline.</summary>
    public CancellationToken Token => _linked.Token;

    /// <summary>Whether the run must stop.</summary>
    public bool IsStopped => _linked.IsCancellationRequested;

    /// <summary>Why it stopped: the caller's cancellation wins over the deadline.</summary>
    public GcStopReason Reason => _caller.IsCancellationRequested ? GcStopReason.Cancelled : GcStopReason.MaxDuration;

    /// <summary>Stops the run when its deadline has passed by the clock (the timer may lag behind).</summary>
    public void CheckDeadline()
    {
        if (_deadlineAt is { } at && !_deadline!.IsCancellationRequested && _time.GetUtcNow() >= at)
        {
            _deadline.Cancel();
        }
    }

    /// <summary><see cref="CheckDeadline"/>, then throws when the run must stop.</summary>
    /// <exception cref="OperationCanceledException">The run must stop.</exception>
    public void ThrowIfStopped()
    {
        CheckDeadline();
        _linked.Token.ThrowIfCancellationRequested();
    }

    public void Dispose()
    {
        _linked.Dispose();
        _deadline?.Dispose();
    }
}
