using Harbor.Gc.Model;
using Harbor.Gc.Trust;

namespace Harbor.Gc.Registry;

public sealed partial class RegistryApi
{
    /// <summary>The content trust policy pulls are checked against (<see cref="ContentTrustPolicy.None"/> when none was given).</summary>
    public ContentTrustPolicy ContentTrust => _trust.Policy;

    /// <summary>Decides whether a pull is allowed by the content trust policy, without pulling (DESIGN.md §7).</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">A tag or a digest.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    /// <returns>The decision, with the reason.</returns>
    public ValueTask<ContentTrustDecision> CheckPullAsync(RepositoryName repository, string reference, CancellationToken cancellationToken = default) =>
        _trust.CheckPullAsync(repository, reference, cancellationToken);

    /// <summary>
    /// Serves a manifest pull by tag or by digest: checks content trust, reads the manifest bytes and records the pull (as
    /// <see cref="RecordPullAsync"/> does). A refused pull records nothing.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">A tag or a digest.</param>
    /// <param name="cancellationToken">Cancels the pull.</param>
    /// <returns>The manifest, or <see langword="null"/> when there is no such manifest (or its bytes are gone).</returns>
    /// <exception cref="ContentTrustException">The project requires a signature the artifact lacks; names the project, the missing kinds and the digest.</exception>
    public async ValueTask<PulledManifest?> PullManifestAsync(RepositoryName repository, string reference, CancellationToken cancellationToken = default)
    {
        var decision = await _trust.CheckPullAsync(repository, reference, cancellationToken).ConfigureAwait(false);
        if (decision.Outcome == ContentTrustOutcome.Refused)
        {
            throw Refused(new ContentTrustException(decision));
        }

        if (decision.Digest is not { } digest ||
            await store.GetArtifactAsync(new ArtifactKey(repository, digest), cancellationToken).ConfigureAwait(false) is not { } artifact)
        {
            return null;
        }

        byte[] content;
        var stream = await store.OpenBlobAsync(digest, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            content = buffer.ToArray();
        }

        var tag = Digest.TryParse(reference, out _) ? null : reference;
        await store.RecordPullAsync(artifact.Key, tag, cancellationToken).ConfigureAwait(false);
        return new PulledManifest(artifact, content);
    }
}
