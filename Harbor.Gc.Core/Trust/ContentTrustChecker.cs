using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Trust;

/// <summary>Decides whether a pull is allowed under a <see cref="ContentTrustPolicy"/> (DESIGN.md §7).</summary>
/// <remarks>
/// <para>"Signed" means a hard accessory of that kind exists on that very artifact: a cosign signature linked by
/// <c>subject</c> or by cosign's tag scheme (<c>sha256-&lt;hex&gt;.sig</c>), a notation signature linked by <c>subject</c>. An
/// accessory's own accessories do not sign the artifact (a signature of a signature signs the signature), and soft accessories
/// (ordinary artifacts that point at it) never count. Verifying signatures cryptographically is the client's job; Harbor's
/// middleware also only checks that the accessory exists.</para>
/// <para>A pull by tag resolves the tag first. A pull by digest of a child of an index is allowed when the index (or an index
/// above it) carries the kinds the child lacks: clients pull a signed multi-platform index, then the platform's child by digest
/// (Harbor: goharbor/harbor#23540, signature inheritance for index children). A pull of a signature itself is allowed: a
/// verifying client must fetch it, and Harbor exempts it too (it skips the check for an artifact that is a cosign signature;
/// here a notation signature is treated alike).</para>
/// </remarks>
/// <param name="store">The store.</param>
/// <param name="policy">The policy.</param>
public sealed class ContentTrustChecker(IWritableRegistryStore store, ContentTrustPolicy policy)
{
    /// <summary>The policy.</summary>
    public ContentTrustPolicy Policy => policy;

    /// <summary>Decides whether a pull of <paramref name="repository"/>:<paramref name="reference"/> is allowed.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">A tag or a digest.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    /// <returns>The decision, with the reason.</returns>
    public async ValueTask<ContentTrustDecision> CheckPullAsync(RepositoryName repository, string reference, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        var byDigest = Digest.TryParse(reference, out var digest);
        if (!byDigest)
        {
            if (await store.GetTagAsync(repository, reference, cancellationToken).ConfigureAwait(false) is not { } tag)
            {
                return NotFound(repository, reference);
            }

            digest = tag.Digest;
        }

        var key = new ArtifactKey(repository, digest);
        if (await store.GetArtifactAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return NotFound(repository, reference);
        }

        var required = policy.RequiredFor(repository.Project);
        if (required == SignatureKinds.None)
        {
            return new ContentTrustDecision(ContentTrustOutcome.NotRequired, repository, reference, digest, required, SignatureKinds.None, null,
                $"Project '{repository.Project}' requires no signature.");
        }

        if (await store.GetAccessoryLinkAsync(key, cancellationToken).ConfigureAwait(false) is { Strength: ReferenceStrength.Hard } own &&
            SignatureKindsExtensions.FromAccessoryType(own.Type) is var kind && kind != SignatureKinds.None)
        {
            return new ContentTrustDecision(ContentTrustOutcome.IsSignature, repository, reference, digest, required, SignatureKinds.None, null,
                $"{key} is a {kind.Describe()} signature of {own.Subject}; signatures are pulled to verify their subject.");
        }

        var present = await SignaturesOfAsync(key, cancellationToken).ConfigureAwait(false);
        var missing = required & ~present;
        if (missing == SignatureKinds.None)
        {
            return new ContentTrustDecision(ContentTrustOutcome.Signed, repository, reference, digest, required, SignatureKinds.None, null,
                $"{key} has a {required.Describe()} signature, as project '{repository.Project}' requires.");
        }

        if (byDigest && await FindSigningIndexAsync(key, missing, cancellationToken).ConfigureAwait(false) is { } index)
        {
            return new ContentTrustDecision(ContentTrustOutcome.SignedByIndex, repository, reference, digest, required, SignatureKinds.None, index,
                $"{key} is a child of {repository}@{index}, whose {missing.Describe()} signature covers it (pulled by digest).");
        }

        return new ContentTrustDecision(ContentTrustOutcome.Refused, repository, reference, digest, required, missing, null,
            $"Project '{repository.Project}' requires a {required.Describe()} signature: {key} has no {missing.Describe()} signature.");
    }

    /// <summary>The signature kinds of the hard accessories whose subject is <paramref name="key"/> and whose manifests exist.</summary>
    private async ValueTask<SignatureKinds> SignaturesOfAsync(ArtifactKey key, CancellationToken cancellationToken)
    {
        var kinds = SignatureKinds.None;
        foreach (var link in await store.GetReferrersAsync(key, cancellationToken).ConfigureAwait(false))
        {
            var kind = SignatureKindsExtensions.FromAccessoryType(link.Type);
            if (link.Strength == ReferenceStrength.Hard && (kinds & kind) != kind &&
                await store.GetArtifactAsync(new ArtifactKey(link.Repository, link.Accessory), cancellationToken).ConfigureAwait(false) is not null)
            {
                kinds |= kind;
            }
        }

        return kinds;
    }

    /// <summary>
    /// An index above <paramref name="child"/> (its parent, or a parent's parent) whose signatures, together with those of the
    /// indexes between, provide every kind in <paramref name="missing"/>; the first found breadth-first, by digest order.
    /// </summary>
    private async ValueTask<Digest?> FindSigningIndexAsync(ArtifactKey child, SignatureKinds missing, CancellationToken cancellationToken)
    {
        var seen = new HashSet<Digest> { child.Digest };
        var frontier = new Queue<(ArtifactKey Key, SignatureKinds Missing)>();
        frontier.Enqueue((child, missing));
        while (frontier.TryDequeue(out var current))
        {
            var parents = await store.GetParentsAsync(current.Key, cancellationToken).ConfigureAwait(false);
            foreach (var parent in parents.OrderBy(p => p.Digest))
            {
                if (!seen.Add(parent.Digest))
                {
                    continue;
                }

                var stillMissing = current.Missing & ~await SignaturesOfAsync(parent.Key, cancellationToken).ConfigureAwait(false);
                if (stillMissing == SignatureKinds.None)
                {
                    return parent.Digest;
                }

                frontier.Enqueue((parent.Key, stillMissing));
            }
        }

        return null;
    }

    private static ContentTrustDecision NotFound(RepositoryName repository, string reference) =>
        new(ContentTrustOutcome.NotFound, repository, reference, null, SignatureKinds.None, SignatureKinds.None, null,
            $"There is no manifest {repository}:{reference}.");
}
