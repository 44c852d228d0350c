namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A clock a test sets to any time, backwards too (FakeTimeProvider only moves forward): graph builders push each record "at" its
/// chosen time through the stores' ordinary write API.
/// </summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    private long _ticks = now.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Set(DateTimeOffset at) => Interlocked.Exchange(ref _ticks, at.UtcTicks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
