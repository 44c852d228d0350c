using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A store any number of collectors sweep at once, from any process or machine (the <c>postgres:</c> store): each real run claims a
/// blob before it deletes it, so two collectors never work on the same blob, and a claim ends with the run that holds it, so what a
/// killed collector left half done (a blob in <see cref="BlobStatus.Delete"/> or <see cref="BlobStatus.Deleting"/>) is finished by the
/// next collector that plans it. Artifacts, layer links and uploads need no claim: each of their deletions is one compare-and-swap.
/// </summary>
internal interface ISharedSweepStore
{
    /// <summary>Begins a real run's sweep: claims are made on a session of its own, ended (and every claim with it) when disposed.</summary>
    ValueTask<ISweepClaims> BeginClaimsAsync(CancellationToken cancellationToken);
}

/// <summary>A real run's claims on a <see cref="ISharedSweepStore"/>.</summary>
internal interface ISweepClaims : IAsyncDisposable
{
    /// <summary>Claims <paramref name="digest"/> for this run until the result is disposed (a store may send the release with its next claim).</summary>
    /// <returns>The claim, or null when another collector holds it (it is deleting that blob now).</returns>
    ValueTask<IAsyncDisposable?> TryClaimBlobAsync(Digest digest, CancellationToken cancellationToken);
}
