namespace Harbor.Gc.Collection;

/// <summary>The phases of a GC run, in order.</summary>
public enum GcPhase
{
    /// <summary>Reading the store's snapshot (blobs and artifacts read so far).</summary>
    ReadingStore,

    /// <summary>Marking what is live.</summary>
    Marking,

    /// <summary>Planning what to delete.</summary>
    Planning,

    /// <summary>Deleting the plan's items, each re-checked (a real run only).</summary>
    Sweeping,

    /// <summary>
    /// Settling a sweep whose deletions were first made invisible (the Distribution layout's quarantine): waiting out the grace
    /// period, re-reading the store, putting back what is needed and deleting the rest.
    /// </summary>
    Settling,
}

/// <summary>How far a GC run is: reported through <see cref="GcOptions.Progress"/>.</summary>
/// <param name="Phase">The phase.</param>
/// <param name="Done">Items done in the phase.</param>
/// <param name="Total">Items the phase has in all, when known (a store that cannot say how big its snapshot is gives none).</param>
public readonly record struct GcProgress(GcPhase Phase, long Done, long? Total);

/// <summary>The names of the phases.</summary>
public static class GcPhaseExtensions
{
    /// <summary>The phase as people read it: <c>reading the store</c>, <c>marking</c>, <c>planning</c>, <c>sweeping</c>, <c>settling</c>.</summary>
    /// <param name="phase">The phase.</param>
    /// <returns>The text.</returns>
    public static string Describe(this GcPhase phase) => phase switch
    {
        GcPhase.ReadingStore => "reading the store",
        GcPhase.Marking => "marking",
        GcPhase.Planning => "planning",
        GcPhase.Settling => "settling (waiting out the grace period, re-checking)",
        _ => "sweeping",
    };

    /// <summary>The phase as the JSON report writes it: <c>reading-store</c>, <c>marking</c>, <c>planning</c>, <c>sweeping</c>, <c>settling</c>.</summary>
    /// <param name="phase">The phase.</param>
    /// <returns>The name.</returns>
    public static string ToReportName(this GcPhase phase) => phase switch
    {
        GcPhase.ReadingStore => "reading-store",
        GcPhase.Marking => "marking",
        GcPhase.Planning => "planning",
        GcPhase.Settling => "settling",
        _ => "sweeping",
    };
}
