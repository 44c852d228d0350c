namespace Harbor.Gc.Model;

/// <summary>The deletion state of a blob: the two-phase protocol that keeps a sweep safe under concurrent pushes.</summary>
/// <remarks>
/// <para>A sweep moves a blob <see cref="None"/> → <see cref="Delete"/> by compare-and-swap, re-checks that nothing
/// references it, moves it <see cref="Delete"/> → <see cref="Deleting"/>, deletes the bytes, then the record.
/// A push that references or uploads a blob in <see cref="Delete"/> resets it to <see cref="None"/> (and touches it),
/// so the sweep's second compare-and-swap fails and the blob is kept. A push that meets <see cref="Deleting"/> fails
/// with a retryable error: the bytes may already be gone.</para>
/// <para>A run killed between the steps leaves <see cref="Delete"/> or <see cref="Deleting"/>; the next run
/// re-checks and finishes such blobs. A run that fails to delete the bytes leaves <see cref="DeleteFailed"/>, which is as
/// committed as <see cref="Deleting"/>: no push takes it back.</para>
/// </remarks>
public enum BlobStatus : byte
{
    /// <summary>In use or unknown; the normal state.</summary>
    None = 0,

    /// <summary>Marked by a sweep; a push may still take it back.</summary>
    Delete = 1,

    /// <summary>Being deleted; pushes that need it must fail and retry.</summary>
    Deleting = 2,

    /// <summary>Bytes deleted; only the record remains.</summary>
    Deleted = 3,

    /// <summary>
    /// The last attempt to delete the bytes failed; the next run tries again, with no re-check (the run had committed). Pushes that
    /// need it fail and retry, as for <see cref="Deleting"/>.
    /// </summary>
    DeleteFailed = 4,
}
