using System.Collections.Immutable;
using Harbor.Gc.Accessories;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Trust;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Harbor.Gc.Registry;

/// <summary>
/// The API an embedding registry calls on push, tag, pull, delete and referrers (DESIGN.md §3, §4, §7). Every write goes through
/// the <see cref="IWritableRegistryStore"/>, whose writes are atomic with respect to a running GC sweep: a push that needs a blob
/// the sweep is about to delete takes it back, and a push that needs a blob being deleted fails with the retryable
/// <see cref="BlobBeingDeletedException"/>.
/// </summary>
/// <remarks>
/// <para>Tag immutability (§7) is enforced here: moving an immutable tag to another digest, deleting it, deleting an artifact that
/// carries one, or deleting a hard accessory of such an artifact, is refused with <see cref="ImmutableTagException"/>. Only user
/// tags count: a cosign tag-scheme tag that names an accessory (<c>sha256-&lt;hex&gt;.sig</c>) is never matched.</para>
/// <para>Content trust (§7) is checked on <see cref="PullManifestAsync"/>: a pull of an artifact that lacks a signature its project
/// requires is refused with <see cref="ContentTrustException"/> (see <see cref="ContentTrustChecker"/>).</para>
/// </remarks>
/// <param name="store">The store.</param>
/// <param name="immutability">The immutable-tag rules; none when null.</param>
/// <param name="classifier">The accessory classifier; <see cref="AccessoryClassifier.Default"/> when null.</param>
/// <param name="contentTrust">The content trust policy pulls are checked against (§7); none when null.</param>
/// <param name="logger">
/// Logs refusals (immutability and content trust as warnings; missing references, an artifact in use and a blob being deleted as
/// information), deletions with their cascade, and pushes (debug); nothing when null.
/// </param>
public sealed partial class RegistryApi(
    IWritableRegistryStore store,
    ITagImmutability? immutability = null,
    AccessoryClassifier? classifier = null,
    ContentTrustPolicy? contentTrust = null,
    ILogger<RegistryApi>? logger = null)
{
    /// <summary>How often a tag write is checked and tried again when other writes keep moving the tag in between.</summary>
    private const int TagAttempts = 8;

    private readonly AccessoryClassifier _classifier = classifier ?? AccessoryClassifier.Default;
    private readonly ContentTrustChecker _trust = new(store, contentTrust ?? ContentTrustPolicy.None);
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>The store.</summary>
    public IWritableRegistryStore Store => store;

    /// <summary>Uploads a blob; the store verifies that the bytes hash to <paramref name="digest"/>.</summary>
    /// <param name="digest">The digest the client claims.</param>
    /// <param name="content">The bytes, read to the end.</param>
    /// <param name="mediaType">The media type, if known.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <returns>The blob record.</returns>
    /// <exception cref="BlobDigestMismatchException">The bytes do not hash to <paramref name="digest"/>; nothing is stored.</exception>
    /// <exception cref="BlobBeingDeletedException">A sweep is deleting this very blob; retry.</exception>
    public async ValueTask<Blob> PushBlobAsync(Digest digest, Stream content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        try
        {
            return await store.PutBlobAsync(digest, content, mediaType, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobBeingDeletedException e) when (Refusing(e, LogLevel.Information, $"the upload of blob {digest}"))
        {
            throw; // never reached: Refusing logs and returns false
        }
    }

    /// <summary>
    /// Pushes a manifest by tag or by digest: parses it, refuses it when blobs or children it references are missing, stores its
    /// bytes as the manifest blob and the artifact with its references and children, records an accessory link when it has a
    /// <c>subject</c> (the subject need not exist yet), and points the tag at it when pushed by tag.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">A tag, or the manifest's digest.</param>
    /// <param name="content">The manifest bytes.</param>
    /// <param name="mediaType">The Content-Type it was pushed with, if any.</param>
    /// <param name="cancellationToken">Cancels the push.</param>
    /// <returns>The stored artifact.</returns>
    /// <exception cref="BlobDigestMismatchException">Pushed by digest, and the bytes do not hash to it; nothing is stored.</exception>
    /// <exception cref="InvalidNameException">The tag is not a valid tag name.</exception>
    /// <exception cref="ManifestReferencesMissingException">Blobs (config, layers) or child manifests are missing (a child deleted while the push ran included); nothing is stored.</exception>
    /// <exception cref="MissingBlobException">A blob went missing while the push ran; nothing is stored.</exception>
    /// <exception cref="BlobBeingDeletedException">A referenced blob is being deleted by a sweep; nothing is stored; retry.</exception>
    /// <exception cref="ImmutableTagException">The tag is immutable and points at another digest; nothing is stored.</exception>
    /// <exception cref="TagChangedException">Pushed by tag, and other writes kept moving the tag; the manifest is stored, the tag not; retry.</exception>
    public async ValueTask<Artifact> PushManifestAsync(RepositoryName repository, string reference, byte[] content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrEmpty(reference);
        try
        {
            return await PushManifestCoreAsync(repository, reference, content, mediaType, cancellationToken).ConfigureAwait(false);
        }
        catch (ManifestReferencesMissingException e) when (Refusing(e, LogLevel.Information))
        {
            throw; // never reached: Refusing logs and returns false
        }
        catch (BlobBeingDeletedException e) when (Refusing(e, LogLevel.Information, $"the push of a manifest to {repository} as {reference}"))
        {
            throw; // never reached
        }
    }

    private async ValueTask<Artifact> PushManifestCoreAsync(RepositoryName repository, string reference, byte[] content, string? mediaType, CancellationToken cancellationToken)
    {
        string? tag = null;
        if (Digest.TryParse(reference, out var digest))
        {
            if (digest.Algorithm == DigestAlgorithm.Sha256 && Digest.Sha256Of(content) is var actual && actual != digest)
            {
                throw new BlobDigestMismatchException(digest, actual, content.Length);
            }
        }
        else
        {
            tag = TagName.Parse(reference);
            digest = Digest.Sha256Of(content);
            await EnsureTagMayPointAtAsync(repository, tag, digest, cancellationToken).ConfigureAwait(false);
        }

        var artifact = ArtifactReader.Read(repository, digest, content, mediaType, DateTimeOffset.MinValue);
        // the blobs whose bytes were found here, and the manifest's own once written: the store does not look for them again
        var bytesSeen = await EnsureReferencesPresentAsync(artifact, cancellationToken).ConfigureAwait(false);
        using (var stream = new MemoryStream(content, writable: false))
        {
            await store.PutBlobAsync(artifact.Digest, stream, artifact.MediaType, cancellationToken).ConfigureAwait(false);
        }

        bytesSeen.Add(artifact.Digest);

        Artifact stored;
        try
        {
            // the store checks the children again in the write itself: one deleted since the check above is refused, not lost
            stored = await store.PutArtifactAsync(artifact, requireChildren: true, bytesSeen, cancellationToken).ConfigureAwait(false);
        }
        catch (MissingChildException e)
        {
            throw new ManifestReferencesMissingException(artifact.Key, [], [e.Child]);
        }

        var parsed = stored.Kind != ManifestKind.Unknown && stored.Subject is not null ? ManifestParser.Parse(content, mediaType) : null;
        if (_classifier.ClassifyBySubject(stored, parsed) is { } link)
        {
            await store.PutAccessoryLinkAsync(link, cancellationToken).ConfigureAwait(false);
        }

        if (tag is not null)
        {
            await TagAsync(repository, tag, stored.Digest, cancellationToken).ConfigureAwait(false);
        }

        Log.ManifestPushed(_logger, stored.Key, stored.Kind, tag ?? "-");
        return stored;
    }

    /// <summary>
    /// Points a tag at a manifest (creating or moving it). A cosign tag-scheme tag on a cosign artifact records the accessory link;
    /// when such a tag moves to a new manifest (cosign re-signs by pushing a new one), the old manifest loses its tag-scheme link
    /// and becomes an ordinary untagged artifact.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="digest">The manifest, which must exist.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The tag as stored.</returns>
    /// <exception cref="InvalidNameException">The tag is not a valid tag name.</exception>
    /// <exception cref="KeyNotFoundException">There is no such manifest.</exception>
    /// <exception cref="ImmutableTagException">The tag is immutable and points at another digest; nothing is changed.</exception>
    /// <exception cref="TagChangedException">Other writes moved the tag between every check and write; nothing is changed; retry.</exception>
    public async ValueTask<Tag> TagAsync(RepositoryName repository, string tag, Digest digest, CancellationToken cancellationToken = default)
    {
        TagName.Parse(tag);
        TagPutResult written;
        for (var attempt = 1; ; attempt++)
        {
            // the check and the write are one compare-and-swap: the write happens only if the tag is still as the check read it
            var expected = await EnsureTagMayPointAtAsync(repository, tag, digest, cancellationToken).ConfigureAwait(false);
            try
            {
                written = await store.PutTagAsync(repository, tag, digest, expected, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (TagChangedException) when (attempt < TagAttempts)
            {
                // moved by another write since the check: check the new state
            }
        }

        var (stored, previous) = written;
        if (previous is { } old)
        {
            await RemoveTagSchemeLinkAsync(repository, tag, old, cancellationToken).ConfigureAwait(false);
        }

        // only a tag-scheme tag can record a link: another tag needs no read of the artifact
        if (AccessoryClassifier.TryParseTagScheme(tag, out _, out _) &&
            await store.GetArtifactAsync(new ArtifactKey(repository, digest), cancellationToken).ConfigureAwait(false) is { } artifact &&
            AccessoryClassifier.ClassifyByTag(artifact, tag) is { } link)
        {
            await store.PutAccessoryLinkAsync(link, cancellationToken).ConfigureAwait(false);
        }

        return stored;
    }

    /// <summary>
    /// Deletes a tag; the artifact stays. Deleting the cosign tag-scheme tag of an accessory also removes its tag-scheme link (it
    /// becomes an ordinary untagged artifact), which is refused when its subject is immutable.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>Whether there was such a tag.</returns>
    /// <exception cref="ImmutableTagException">The tag is immutable, or names an accessory of an immutable artifact; nothing is changed.</exception>
    public async ValueTask<bool> DeleteTagAsync(RepositoryName repository, string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        if (await store.GetTagAsync(repository, tag, cancellationToken).ConfigureAwait(false) is not { } existing)
        {
            return false;
        }

        var operation = $"delete tag {repository}:{tag}";
        if (await TagSchemeLinkAsync(existing, cancellationToken).ConfigureAwait(false) is { } link)
        {
            await EnsureMutableAsync(new ArtifactKey(repository, link.Subject), operation, cancellationToken).ConfigureAwait(false);
        }
        else if (immutability?.FindRule(repository, tag) is { } rule)
        {
            throw Refused(new ImmutableTagException(operation, repository, tag, rule));
        }

        var deleted = await store.DeleteTagAsync(repository, tag, cancellationToken).ConfigureAwait(false);
        await RemoveTagSchemeLinkAsync(repository, tag, existing.Digest, cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>Records a pull by tag or by digest (the pull times retention's "pulled" rules read).</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="reference">The tag or digest the client pulled.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>Whether the manifest exists (when it does not, nothing is recorded).</returns>
    public async ValueTask<bool> RecordPullAsync(RepositoryName repository, string reference, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reference);
        if (Digest.TryParse(reference, out var digest))
        {
            return await store.RecordPullAsync(new ArtifactKey(repository, digest), null, cancellationToken).ConfigureAwait(false);
        }

        return await store.GetTagAsync(repository, reference, cancellationToken).ConfigureAwait(false) is { } tag &&
            await store.RecordPullAsync(new ArtifactKey(repository, tag.Digest), tag.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The referrers of a manifest (its accessories whose manifests exist), optionally only those of one artifact type.</summary>
    /// <param name="subject">The subject, which need not exist (referrers may be pushed first).</param>
    /// <param name="artifactType">Only referrers of this <c>artifactType</c>, when given.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The referrers as an OCI image index (<see cref="ReferrersIndex.ToJson"/>).</returns>
    public async ValueTask<ReferrersIndex> GetReferrersAsync(ArtifactKey subject, string? artifactType = null, CancellationToken cancellationToken = default)
    {
        var found = new List<ReferrerDescriptor>();
        foreach (var link in await store.GetReferrersAsync(subject, cancellationToken).ConfigureAwait(false))
        {
            if (await store.GetArtifactAsync(new ArtifactKey(link.Repository, link.Accessory), cancellationToken).ConfigureAwait(false) is { } a &&
                (artifactType is null || a.ArtifactType == artifactType))
            {
                found.Add(new ReferrerDescriptor(a.MediaType, a.Digest, a.Size, a.ArtifactType));
            }
        }

        return new ReferrersIndex([.. found.OrderBy(d => d.Digest.ToString(), StringComparer.Ordinal)], string.IsNullOrEmpty(artifactType) ? null : artifactType);
    }

    /// <summary>Refuses the artifact when a blob or child it needs is missing, naming each; the blobs whose bytes it found.</summary>
    private async ValueTask<HashSet<Digest>> EnsureReferencesPresentAsync(Artifact artifact, CancellationToken cancellationToken)
    {
        var blobs = ImmutableArray.CreateBuilder<Digest>();
        var present = new HashSet<Digest>();
        foreach (var reference in artifact.References)
        {
            if (reference.IsForeign || reference.Kind == BlobReferenceKind.Manifest || blobs.Contains(reference.Digest) || present.Contains(reference.Digest))
            {
                continue;
            }

            if (await store.HasBlobContentAsync(reference.Digest, cancellationToken).ConfigureAwait(false))
            {
                present.Add(reference.Digest);
            }
            else
            {
                blobs.Add(reference.Digest);
            }
        }

        var children = ImmutableArray.CreateBuilder<Digest>();
        foreach (var child in artifact.Children.Distinct())
        {
            if (await store.GetArtifactAsync(new ArtifactKey(artifact.Repository, child), cancellationToken).ConfigureAwait(false) is null)
            {
                children.Add(child);
            }
        }

        if (blobs.Count > 0 || children.Count > 0)
        {
            throw new ManifestReferencesMissingException(artifact.Key, blobs.ToImmutable(), children.ToImmutable());
        }

        return present;
    }

    /// <summary>
    /// Refuses moving an immutable tag to <paramref name="digest"/>; returns what the tag write must expect for the check to hold (the
    /// tag as read), or null when no rule can make the tag immutable: then nothing can be refused, nothing is read and the write need
    /// not compare.
    /// </summary>
    private async ValueTask<TagExpectation?> EnsureTagMayPointAtAsync(RepositoryName repository, string tag, Digest digest, CancellationToken cancellationToken)
    {
        // the rules depend on the repository and the tag's name alone: a tag that is not a tag-scheme name (which could name an
        // accessory, whose immutability comes from its subject, so is read first) and that no rule matches is never refused
        if (immutability is null || (!AccessoryClassifier.TryParseTagScheme(tag, out _, out _) && immutability.FindRule(repository, tag) is null))
        {
            return null;
        }

        var existing = await store.GetTagAsync(repository, tag, cancellationToken).ConfigureAwait(false);
        if (existing is not null && existing.Digest != digest &&
            await TagSchemeLinkAsync(existing, cancellationToken).ConfigureAwait(false) is null &&
            immutability.FindRule(repository, tag) is { } rule)
        {
            throw Refused(new ImmutableTagException($"move tag {repository}:{tag} from {existing.Digest} to {digest}", repository, tag, rule));
        }

        return new TagExpectation(existing?.Digest);
    }

    /// <summary>The tag-scheme link a tag names (the tag is then an accessory's name, not a user tag), or null.</summary>
    private async ValueTask<AccessoryLink?> TagSchemeLinkAsync(Tag tag, CancellationToken cancellationToken) =>
        AccessoryClassifier.TryParseTagScheme(tag.Name, out var subject, out _) &&
        await store.GetAccessoryLinkAsync(new ArtifactKey(tag.Repository, tag.Digest), cancellationToken).ConfigureAwait(false) is { FromTagScheme: true } link &&
        link.Subject == subject ? link : null;

    private async ValueTask RemoveTagSchemeLinkAsync(RepositoryName repository, string tag, Digest from, CancellationToken cancellationToken)
    {
        if (await TagSchemeLinkAsync(new Tag(repository, tag, from, default), cancellationToken).ConfigureAwait(false) is not null)
        {
            await store.RemoveAccessoryLinkAsync(new ArtifactKey(repository, from), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Logs a refusal whose message says what was refused; a warning by default (a rule refused it: immutability, content trust).
    /// Returns the exception to throw.
    /// </summary>
    private TException Refused<TException>(TException exception, LogLevel level = LogLevel.Warning)
        where TException : Exception
    {
        Log.RegistryRefused(_logger, level, exception.Message);
        return exception;
    }

    /// <summary>
    /// Logs a refusal at <paramref name="level"/>: the exception's message, after "Refused <paramref name="operation"/>: " when
    /// the message does not say what was refused itself. Returns false, for an exception filter.
    /// </summary>
    private bool Refusing(Exception exception, LogLevel level, string? operation = null)
    {
        Log.RegistryRefused(_logger, level, operation is null ? exception.Message : $"Refused {operation}: {exception.Message}");
        return false;
    }
}
