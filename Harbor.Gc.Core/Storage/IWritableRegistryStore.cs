using Harbor.Gc.Model;

namespace Harbor.Gc.Storage;

/// <summary>
/// A registry's own store: what the registry writes on push, tag, pull and delete, and reads to serve them, on top of what GC
/// needs (<see cref="IRegistryStore"/>). Implemented by the in-memory store and the LiteDB + filesystem store; the registry-facing
/// API and <see cref="RegistryIngest"/> write through it.
/// </summary>
/// <remarks>
/// <para>Every write that needs a blob is atomic with respect to the sweep's compare-and-swap
/// (<see cref="IRegistryStore.TryUpdateBlobStatusAsync"/>): a blob in <see cref="BlobStatus.Delete"/> is taken back (status reset to
/// <see cref="BlobStatus.None"/> and touched, so the sweep's next compare-and-swap fails and the blob is kept); a blob in
/// <see cref="BlobStatus.Deleting"/> or <see cref="BlobStatus.Deleted"/> makes the write fail with
/// <see cref="BlobBeingDeletedException"/>, which the client may retry (upload the blob again, then push).</para>
/// <para>Every write is idempotent: doing it twice leaves the store as doing it once (a second push of the same manifest only
/// bumps its version and push time). Times come from the store's <see cref="TimeProvider"/>.</para>
/// </remarks>
public interface IWritableRegistryStore : IRegistryStore
{
    /// <summary>
    /// Stores a blob's bytes, verifying that they hash to <paramref name="digest"/>, and records the blob (or touches its record
    /// when it exists: an upload of content the store already has).
    /// </summary>
    /// <param name="digest">The digest the client claims.</param>
    /// <param name="content">The bytes, read to the end.</param>
    /// <param name="mediaType">The media type, if known.</param>
    /// <param name="cancellationToken">Cancels the upload; nothing is recorded then.</param>
    /// <returns>The blob record.</returns>
    /// <exception cref="BlobDigestMismatchException">The bytes do not hash to <paramref name="digest"/>; nothing is stored.</exception>
    /// <exception cref="BlobBeingDeletedException">A sweep is deleting this blob; retry.</exception>
    ValueTask<Blob> PutBlobAsync(Digest digest, Stream content, string? mediaType = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Touches a blob whose bytes the store already has (a cross-repository mount, or an upload the client skipped because the
    /// blob exists), taking it back from a pending deletion.
    /// </summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the update.</param>
    /// <returns>The touched record, or <see langword="null"/> when the store has no bytes for it (the client must upload them).</returns>
    /// <exception cref="BlobBeingDeletedException">A sweep is deleting this blob; upload it again.</exception>
    ValueTask<Blob?> MountBlobAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Whether the blob's bytes are present.</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>Whether the bytes are there.</returns>
    ValueTask<bool> HasBlobContentAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>Opens a blob's bytes for reading.</summary>
    /// <param name="digest">The blob.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>A stream the caller disposes, or <see langword="null"/> when the bytes are not there.</returns>
    ValueTask<Stream?> OpenBlobAsync(Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a manifest as an artifact. Every non-foreign blob it references (its own manifest blob included) must be in the store
    /// with its bytes; each is touched and taken back from a pending deletion, in the same atomic step. Children it lists that exist
    /// get a new version (a sweep planned before skips them). Pushing an existing artifact again replaces it.
    /// </summary>
    /// <param name="artifact">The artifact; <see cref="Artifact.Version"/> and <see cref="Artifact.PushedAt"/> are set by the store.</param>
    /// <param name="requireChildren">
    /// Refuse the artifact when a child it lists is not in its repository, checked in the same atomic step as the write (the registry
    /// API's push: a child deleted after the API's own check never leaves an index without it). Off for importing existing data,
    /// where an index may list a child the registry lost.
    /// </param>
    /// <param name="bytesSeen">
    /// Blobs whose bytes the caller found in this store (or wrote to it) before this call: the registry API's push, which checks every
    /// blob first to name each missing one, then writes the manifest's own bytes. The store need not look for their bytes again (on
    /// an S3 bucket a HEAD each; the in-memory store, whose look costs nothing, still looks). That is as safe as its own look: a
    /// blob's bytes are deleted only once its record says it is being deleted (or while it has no record), and the write checks the
    /// record in the same atomic step, so bytes present at any time before that check are present at it. Null: the store looks for
    /// every blob's bytes.
    /// </param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>The stored artifact.</returns>
    /// <exception cref="MissingBlobException">A referenced blob is not in the store; nothing is written.</exception>
    /// <exception cref="MissingChildException">With <paramref name="requireChildren"/>, a listed child is not in the repository; nothing is written.</exception>
    /// <exception cref="BlobBeingDeletedException">A referenced blob is being deleted; nothing is written; retry.</exception>
    ValueTask<Artifact> PutArtifactAsync(Artifact artifact, bool requireChildren = false, IReadOnlySet<Digest>? bytesSeen = null, CancellationToken cancellationToken = default);

    /// <summary>Reads an artifact.</summary>
    /// <param name="key">The artifact.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The artifact, or <see langword="null"/>.</returns>
    ValueTask<Artifact?> GetArtifactAsync(ArtifactKey key, CancellationToken cancellationToken = default);

    /// <summary>The artifacts of the same repository whose index lists <paramref name="child"/> among its children.</summary>
    /// <param name="child">The child manifest.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The parents, in no particular order; empty when nothing lists it.</returns>
    ValueTask<IReadOnlyList<Artifact>> GetParentsAsync(ArtifactKey child, CancellationToken cancellationToken = default);

    /// <summary>Points a tag at an artifact (creating or moving it), and gives the artifact a new version.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag (<see cref="TagName"/> rules).</param>
    /// <param name="digest">The artifact it points at, which must exist.</param>
    /// <param name="expected">
    /// When given, the write is a compare-and-swap: it happens only if the tag still points where the caller read it (or still does
    /// not exist), in the same atomic step (the registry API's immutability check, which must not be raced by another tag write).
    /// </param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>The tag, and the digest it pointed at before when it moved.</returns>
    /// <exception cref="KeyNotFoundException">There is no such artifact.</exception>
    /// <exception cref="InvalidNameException">The tag name is not valid.</exception>
    /// <exception cref="TagChangedException">The tag is not as <paramref name="expected"/>; nothing is written.</exception>
    ValueTask<TagPutResult> PutTagAsync(RepositoryName repository, string name, Digest digest, TagExpectation? expected = null, CancellationToken cancellationToken = default);

    /// <summary>Reads a tag.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The tag, or <see langword="null"/>.</returns>
    ValueTask<Tag?> GetTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default);

    /// <summary>The tags of a repository.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The tags, in no particular order.</returns>
    ValueTask<IReadOnlyList<Tag>> ListTagsAsync(RepositoryName repository, CancellationToken cancellationToken = default);

    /// <summary>Deletes a tag; the artifact stays.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag.</param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>Whether there was such a tag.</returns>
    ValueTask<bool> DeleteTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default);

    /// <summary>Records an accessory link, replacing the accessory's previous link.</summary>
    /// <param name="link">The link.</param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>A task that completes when the link is stored.</returns>
    ValueTask PutAccessoryLinkAsync(AccessoryLink link, CancellationToken cancellationToken = default);

    /// <summary>Reads the link of an accessory.</summary>
    /// <param name="accessory">The accessory.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The link, or <see langword="null"/>.</returns>
    ValueTask<AccessoryLink?> GetAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default);

    /// <summary>The accessory links whose subject is <paramref name="subject"/> (its referrers), whether or not the subject exists.</summary>
    /// <param name="subject">The subject.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The links, in no particular order.</returns>
    ValueTask<IReadOnlyList<AccessoryLink>> GetReferrersAsync(ArtifactKey subject, CancellationToken cancellationToken = default);

    /// <summary>Removes the link of an accessory.</summary>
    /// <param name="accessory">The accessory.</param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>Whether there was a link.</returns>
    ValueTask<bool> RemoveAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default);

    /// <summary>Records a repository's link to a blob (replacing an older one: a rewrite dates it anew).</summary>
    /// <param name="link">The link.</param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>A task that completes when the link is stored.</returns>
    ValueTask PutLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default);

    /// <summary>Records a pull of an artifact, and of the tag it was pulled by (pull times are what retention's "pulled" rules read).</summary>
    /// <param name="key">The artifact.</param>
    /// <param name="tag">The tag it was pulled by, if any; ignored when it does not point at <paramref name="key"/>.</param>
    /// <param name="cancellationToken">Cancels before the write.</param>
    /// <returns>Whether the artifact exists.</returns>
    ValueTask<bool> RecordPullAsync(ArtifactKey key, string? tag = null, CancellationToken cancellationToken = default);
}

/// <summary>What a conditional <see cref="IWritableRegistryStore.PutTagAsync"/> expects the tag to point at: what the caller read.</summary>
/// <param name="Digest">The digest the tag must point at, or <see langword="null"/> when the tag must not exist.</param>
public readonly record struct TagExpectation(Digest? Digest);

/// <summary>What <see cref="IWritableRegistryStore.PutTagAsync"/> did.</summary>
/// <param name="Tag">The tag as stored.</param>
/// <param name="PreviousDigest">The digest the tag pointed at before, when it moved; <see langword="null"/> when it is new or did not move.</param>
public readonly record struct TagPutResult(Tag Tag, Digest? PreviousDigest);
