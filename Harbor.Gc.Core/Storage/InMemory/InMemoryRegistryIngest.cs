using Harbor.Gc.Accessories;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.InMemory;

/// <summary>
/// Pushes blobs and manifests into an <see cref="InMemoryRegistryStore"/> the way a registry does: parsing the manifest,
/// recording its references, and detecting accessories by <c>subject</c> and by cosign's tag scheme.
/// </summary>
/// <param name="store">The store.</param>
/// <param name="classifier">The accessory classifier; <see cref="AccessoryClassifier.Default"/> when null.</param>
public sealed class InMemoryRegistryIngest(InMemoryRegistryStore store, AccessoryClassifier? classifier = null)
{
    private readonly AccessoryClassifier _classifier = classifier ?? AccessoryClassifier.Default;

    /// <summary>The store.</summary>
    public InMemoryRegistryStore Store => store;

    /// <summary>Uploads a blob.</summary>
    /// <param name="content">The bytes.</param>
    /// <param name="mediaType">The media type, if known.</param>
    /// <returns>The blob digest.</returns>
    public Digest PushBlob(byte[] content, string? mediaType = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        var digest = Digest.Sha256Of(content);
        store.PutBlob(digest, content.Length, mediaType, content);
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
    /// <returns>The stored artifact.</returns>
    /// <exception cref="MissingBlobException">A referenced blob was not pushed.</exception>
    public Artifact PushManifest(RepositoryName repository, byte[] content, string? mediaType = null, string? tag = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        var artifact = ArtifactReader.Read(repository, content, mediaType, DateTimeOffset.MinValue);
        store.PutBlob(artifact.Digest, content.Length, artifact.MediaType, content);
        var stored = store.PutArtifact(artifact);
        ParsedManifest? parsed = null;
        if (stored.Kind != ManifestKind.Unknown && stored.Subject is not null)
        {
            parsed = ManifestParser.Parse(content, mediaType);
        }

        if (_classifier.ClassifyBySubject(stored, parsed) is { } link)
        {
            store.PutAccessoryLink(link);
        }

        if (tag is not null)
        {
            Tag(repository, tag, stored.Digest);
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
    public void Tag(RepositoryName repository, string tag, Digest digest)
    {
        var (_, previous) = store.PutTag(repository, tag, digest);
        if (previous is { } old &&
            store.GetAccessoryLinks().FirstOrDefault(l => l.Repository == repository && l.Accessory == old && l.FromTagScheme) is { } oldLink &&
            AccessoryClassifier.TryParseTagScheme(tag, out var subject, out _) && oldLink.Subject == subject)
        {
            store.RemoveAccessoryLink(new ArtifactKey(repository, old));
        }

        if (store.GetArtifact(new ArtifactKey(repository, digest)) is { } artifact && AccessoryClassifier.ClassifyByTag(artifact, tag) is { } link)
        {
            store.PutAccessoryLink(link);
        }
    }
}
