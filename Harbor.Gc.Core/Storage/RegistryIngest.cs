using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;

namespace Harbor.Gc.Storage;

/// <summary>
/// A byte-array shorthand over <see cref="RegistryApi"/> for tests and tools that fill a store the way a registry does: it hashes
/// the bytes it uploads, and pushes a manifest by digest or by tag. All push logic lives in <see cref="RegistryApi"/>.
/// </summary>
/// <param name="store">The store.</param>
/// <param name="classifier">The accessory classifier; <see cref="AccessoryClassifier.Default"/> when null.</param>
public sealed class RegistryIngest(IWritableRegistryStore store, AccessoryClassifier? classifier = null)
{
    private readonly RegistryApi _api = new(store, classifier: classifier);

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
        await _api.PushBlobAsync(digest, stream, mediaType, cancellationToken).ConfigureAwait(false);
        return digest;
    }

    /// <summary>Pushes a manifest by tag when <paramref name="tag"/> is given, else by digest (<see cref="RegistryApi.PushManifestAsync"/>).</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="content">The manifest bytes.</param>
    /// <param name="mediaType">The Content-Type it was pushed with, if any.</param>
    /// <param name="tag">A tag to point at it, if any.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>The stored artifact.</returns>
    /// <exception cref="ManifestReferencesMissingException">A referenced blob or child manifest was not pushed.</exception>
    /// <exception cref="BlobBeingDeletedException">A referenced blob is being deleted by a sweep; retry.</exception>
    public ValueTask<Artifact> PushManifestAsync(RepositoryName repository, byte[] content, string? mediaType = null, string? tag = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        return _api.PushManifestAsync(repository, tag ?? Digest.Sha256Of(content).ToString(), content, mediaType, cancellationToken);
    }

    /// <summary>Points a tag at a manifest (<see cref="RegistryApi.TagAsync"/>).</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="digest">The manifest.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the tag and links are written.</returns>
    public async ValueTask TagAsync(RepositoryName repository, string tag, Digest digest, CancellationToken cancellationToken = default) =>
        await _api.TagAsync(repository, tag, digest, cancellationToken).ConfigureAwait(false);
}
