using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A push needed a blob that a GC sweep is deleting right now (<see cref="BlobStatus.Deleting"/>). The push must fail rather than
/// succeed with bytes that may be gone; it is safe to retry once the sweep has finished with the blob (upload it again).
/// </summary>
public sealed class BlobBeingDeletedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="digest">The blob.</param>
    public BlobBeingDeletedException(Digest digest)
        : base($"Blob {digest} is being deleted by garbage collection; upload it again and retry the push.") => Digest = digest;

    /// <summary>The blob.</summary>
    public Digest Digest { get; }

    /// <summary>Always true: the caller may retry.</summary>
    public static bool IsRetryable => true;
}
