namespace Harbor.Gc.Collection;

/// <summary>How a run ended.</summary>
public enum GcOutcome
{
    /// <summary>Every item of the plan was handled (deleted, already gone, or kept after a re-check).</summary>
    Completed,

    /// <summary>Stopped before the end (cancelled, or past the maximum duration); the next run carries on.</summary>
    Stopped,
}

/// <summary>Why a run stopped.</summary>
public enum GcStopReason
{
    /// <summary>It did not stop.</summary>
    None,

    /// <summary>Cancellation was requested.</summary>
    Cancelled,

    /// <summary>It ran past <see cref="GcOptions.MaxDuration"/>.</summary>
    MaxDuration,
}
