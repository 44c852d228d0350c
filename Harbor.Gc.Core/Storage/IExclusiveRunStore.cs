namespace Harbor.Gc.Storage;

/// <summary>
/// A store several processes share whose real runs (GC, plan application and retention) take a lock of the store's own, so two real
/// runs never overlap on it, whichever process or machine they run in (the <c>postgres:</c> store until several collectors are
/// supported; the Distribution layout's lock is its sweep's, <see cref="IDeferredSweepStore.BeginSweep"/>).
/// </summary>
internal interface IExclusiveRunStore
{
    /// <summary>Takes the store's run lock for a real run; disposing the result releases it.</summary>
    /// <exception cref="InvalidDataException">Another real run holds it; nothing was changed.</exception>
    IDisposable TakeRunLock();
}
