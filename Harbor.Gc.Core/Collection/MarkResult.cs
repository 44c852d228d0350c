using Harbor.Gc.Graph;

namespace Harbor.Gc.Collection;

/// <summary>The outcome of marking: what is live, and for each live node what made it live (for <c>explain</c>).</summary>
internal sealed class MarkResult
{
    /// <summary>Marks an artifact that is a root.</summary>
    public const int Root = -1;

    /// <summary>Marks an artifact or digest that nothing keeps.</summary>
    public const int Unmarked = -2;

    public required BitSet LiveArtifacts { get; init; }

    public required BitSet LiveDigests { get; init; }

    /// <summary>
    /// Digests a repository linked within the time window (a layer link written at or after <see cref="Cutoff"/>: an upload or a
    /// cross-repository mount whose manifest may not be pushed yet): their blobs are touched, so kept, whatever their data's time.
    /// </summary>
    public required BitSet LinkedWithinWindow { get; init; }

    /// <summary>Per artifact: <see cref="Root"/>, <see cref="Unmarked"/>, or the live artifact (index or subject) that kept it.</summary>
    public required int[] ArtifactKeptBy { get; init; }

    /// <summary>Per digest: <see cref="Unmarked"/> or the first live artifact that references it.</summary>
    public required int[] DigestKeptBy { get; init; }

    public required RootKind[] RootKinds { get; init; }

    public required long Cutoff { get; init; }
}

/// <summary>Why an artifact is a root.</summary>
internal enum RootKind : byte
{
    NotRoot = 0,
    Tagged,
    Fresh,
    Unknown,
    KeepUntagged,
}
