using Harbor.Gc.Accessories;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// Pushes blobs and manifests into an <see cref="IWritableRegistryStore"/> the way a registry does: parsing the manifest,
/// recording its references, and detecting accessories by <c>subject</c> and by cosign's tag scheme. The registry-facing API
/// grows from this.
/// </summary>
/// <param name="store">The store.</param>
/// <param name="classifier">The accessory classifier; <see cref="AccessoryClassifier.Default"/> when null.</param>
public sealed class RegistryIngest(IWritableRegistryStore store, AccessoryClassifier? classifier = null)
{
    private readonly AccessoryClassifier _classifier = classifier ?? AccessoryClassifier.Default;

    /// <summary>The store.</summary>
    public IWritableRegistryStore Store => store;

    /// <summary>Uploads a blob.</summary>
    /// <param name="content">The bytes.</param>
    /// <param name="mediaType">The media type, if known.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <returns>The blob digest.</returns>
    /// <exception cref="BlobBeingDeletedException">A sweep is deleting this very blob; retry.</exception>
    public async ValueTask<Digest> PushBlobAsync(byte[] content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var digest = Digest.Sha256Of(content);
        using var stream = new MemoryStream(content, writable: false);
        await store.PutBlobAsync(digest, stream, mediaType, cancellationToken).ConfigureAwait(false);
        return digest;
    }

    /// <summary>
    /// Pushes a manifest (its bytes become the manifest blob), records an accessory link when it has a <c>subject</c> (the
    /// subject need not exist yet), and tags it when <paramref name="tag"/> is given.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="content">The manifest bytes.</param>
    /// <param name="mediaType">The Content-Type it was pushed with, if any.</param>
    /// <param name="tag">A tag to point at it, if any.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>The stored artifact.</returns>
    /// <exception cref="MissingBlobException">A referenced blob was not pushed.</exception>
    /// <exception cref="BlobBeingDeletedException">A referenced blob is being deleted by a sweep; retry.</exception>
    public async ValueTask<Artifact> PushManifestAsync(RepositoryName repository, byte[] content, string? mediaType = null, string? tag = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var artifact = ArtifactReader.Read(repository, content, mediaType, DateTimeOffset.MinValue);
        using (var stream = new MemoryStream(content, writable: false))
        {
            await store.PutBlobAsync(artifact.Digest, stream, artifact.MediaType, cancellationToken).ConfigureAwait(false);
        }

        var stored = await store.PutArtifactAsync(artifact, cancellationToken).ConfigureAwait(false);
        ParsedManifest? parsed = null;
        if (stored.Kind != ManifestKind.Unknown && stored.Subject is not null)
        {
            parsed = ManifestParser.Parse(content, mediaType);
        }

        if (_classifier.ClassifyBySubject(stored, parsed) is { } link)
        {
            await store.PutAccessoryLinkAsync(link, cancellationToken).ConfigureAwait(false);
        }

        if (tag is not null)
        {
            await TagAsync(repository, tag, stored.Digest, cancellationToken).ConfigureAwait(false);
        }

        return stored;
    }

    /// <summary>
    /// Points a tag at a manifest. A cosign tag-scheme tag on a cosign artifact records the accessory link; when such a tag moves
    /// to a new manifest (cosign re-signs by pushing a new one), the old manifest loses its tag-scheme link and becomes an
    /// ordinary untagged artifact.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="digest">The manifest.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the tag and links are written.</returns>
    public async ValueTask TagAsync(RepositoryName repository, string tag, Digest digest, CancellationToken cancellationToken = default)
    {
        var (_, previous) = await store.PutTagAsync(repository, tag, digest, cancellationToken).ConfigureAwait(false);
        if (previous is { } old &&
            await store.GetAccessoryLinkAsync(new ArtifactKey(repository, old), cancellationToken).ConfigureAwait(false) is { FromTagScheme: true } oldLink &&
            AccessoryClassifier.TryParseTagScheme(tag, out var subject, out _) && oldLink.Subject == subject)
        {
            await store.RemoveAccessoryLinkAsync(new ArtifactKey(repository, old), cancellationToken).ConfigureAwait(false);
        }

        if (await store.GetArtifactAsync(new ArtifactKey(repository, digest), cancellationToken).ConfigureAwait(false) is { } artifact &&
            AccessoryClassifier.ClassifyByTag(artifact, tag) is { } link)
        {
            await store.PutAccessoryLinkAsync(link, cancellationToken).ConfigureAwait(false);
        }
    }
}
