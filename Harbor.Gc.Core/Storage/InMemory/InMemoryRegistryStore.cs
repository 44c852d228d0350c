using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.InMemory;

/// <summary>
/// A registry store held in memory: blobs (with or without bytes), artifacts, tags, accessory and layer links. Thread-safe.
/// </summary>
/// <remarks>
/// <para>It behaves as a registry's metadata does under GC: a push that references a blob marked for deletion takes it back
/// (status reset to <see cref="BlobStatus.None"/>, touched), a push that needs a blob being deleted fails with
/// <see cref="BlobBeingDeletedException"/>, and tagging an artifact or listing it in a new index bumps its
/// <see cref="Artifact.Version"/> so that a sweep planned earlier skips it.</para>
/// <para>Used by the tests and the benchmarks, and by registries that want GC semantics without persistence.</para>
/// </remarks>
public sealed class InMemoryRegistryStore : IWritableRegistryStore
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly Dictionary<Digest, BlobEntry> _blobs = [];
    private readonly Dictionary<ArtifactKey, ArtifactEntry> _artifacts = [];
    private readonly Dictionary<Digest, int> _keys = []; // IKeyedSnapshotSink keys: one per digest ever stored, never reused
    private readonly Dictionary<(RepositoryName Repository, string Name), Tag> _tags = [];
    private readonly Dictionary<ArtifactKey, AccessoryLink> _accessoryLinks = [];
    private readonly Dictionary<(RepositoryName Repository, Digest Digest), LayerLink> _layerLinks = [];
    private readonly Dictionary<Digest, int> _referenceCounts = [];
    private long _blobReferences;
    private long _nextVersion = 1;

    /// <summary>Creates an empty store.</summary>
    /// <param name="timeProvider">The clock for push and touch times; <see cref="TimeProvider.System"/> when null.</param>
    public InMemoryRegistryStore(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <inheritdoc />
    public string Description => "memory";

    /// <summary>The number of blob records.</summary>
    public int BlobCount
    {
        get
        {
            lock (_lock)
            {
                return _blobs.Count;
            }
        }
    }

    /// <summary>The number of artifacts.</summary>
    public int ArtifactCount
    {
        get
        {
            lock (_lock)
            {
                return _artifacts.Count;
            }
        }
    }

    // ---- registry-side writes ------------------------------------------------------------------------------------

    /// <summary>
    /// Stores a blob, or touches it when it exists (an upload or mount of existing content). A blob marked for deletion is
    /// taken back; one being deleted makes the call fail.
    /// </summary>
    /// <param name="digest">The digest.</param>
    /// <param name="size">The size in bytes.</param>
    /// <param name="mediaType">The media type, if known.</param>
    /// <param name="content">The bytes; optional (benchmarks keep none). When given, they must hash to <paramref name="digest"/>.</param>
    /// <returns>The blob record.</returns>
    /// <exception cref="BlobBeingDeletedException">A sweep is deleting this blob; retry.</exception>
    /// <exception cref="ArgumentException">The content does not match the digest.</exception>
    public Blob PutBlob(Digest digest, long size, string? mediaType = null, byte[]? content = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (digest.IsEmpty)
        {
            throw new ArgumentException("The digest is empty.", nameof(digest));
        }

        if (content is not null && digest.Algorithm == DigestAlgorithm.Sha256 && Digest.Sha256Of(content) is var actual && actual != digest)
        {
            throw new BlobDigestMismatchException(digest, actual, content.Length);
        }

        return PutBlobCore(digest, size, mediaType, content);
    }

    private Blob PutBlobCore(Digest digest, long size, string? mediaType, byte[]? content)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_blobs.TryGetValue(digest, out var entry))
            {
                EnsureNotDeleting(entry.Record);
                entry.Record = entry.Record with { UpdatedAt = now, Status = BlobStatus.None, Size = size, MediaType = mediaType ?? entry.Record.MediaType };
                entry.HasContent = true;
                entry.Content = content ?? entry.Content;
                return entry.Record;
            }

            var blob = new Blob(digest, size, mediaType, now, now);
            _blobs.Add(digest, new BlobEntry(blob, KeyOf(digest)) { HasContent = true, Content = content });
            return blob;
        }
    }

    /// <summary>Stores a blob record exactly as given (for building test and benchmark graphs with chosen times and states).</summary>
    /// <param name="blob">The record.</param>
    /// <param name="hasContent">Whether the bytes are present.</param>
    public void RestoreBlob(Blob blob, bool hasContent = true)
    {
        ArgumentNullException.ThrowIfNull(blob);
        lock (_lock)
        {
            if (_blobs.TryGetValue(blob.Digest, out var entry))
            {
                entry.Record = blob;
                entry.HasContent = hasContent;
            }
            else
            {
                _blobs[blob.Digest] = new BlobEntry(blob, KeyOf(blob.Digest)) { HasContent = hasContent };
            }
        }
    }

    /// <summary>
    /// Stores a manifest as an artifact. Every non-foreign blob it references must exist (its own manifest blob included);
    /// each is touched and taken back from a pending deletion. Listed children that exist are touched (their version bumped).
    /// Pushing an existing artifact again updates its push time ("last touched") and version, not its first push time.
    /// </summary>
    /// <param name="artifact">The artifact; its <see cref="Artifact.Version"/> is assigned by the store.</param>
    /// <param name="keepPushTime">Keep <see cref="Artifact.PushedAt"/> as given instead of the clock's now (for building graphs).</param>
    /// <param name="requireChildren">Refuse the artifact when a child it lists is not in its repository (checked under the lock).</param>
    /// <returns>The stored artifact.</returns>
    /// <exception cref="MissingBlobException">A referenced blob is not in the store.</exception>
    /// <exception cref="MissingChildException">With <paramref name="requireChildren"/>, a listed child is not in the repository.</exception>
    /// <exception cref="BlobBeingDeletedException">A referenced blob is being deleted; retry.</exception>
    public Artifact PutArtifact(Artifact artifact, bool keepPushTime = false, bool requireChildren = false)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (requireChildren && artifact.Children.FirstOrDefault(c => !_artifacts.ContainsKey(new ArtifactKey(artifact.Repository, c))) is { IsEmpty: false } missing)
            {
                throw new MissingChildException(artifact.Key, missing);
            }

            foreach (var reference in artifact.References)
            {
                if (reference.IsForeign)
                {
                    continue;
                }

                // the record, its status, then the bytes, in the order of the other stores (a blob being deleted is refused retryably)
                if (!_blobs.TryGetValue(reference.Digest, out var entry))
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }

                EnsureNotDeleting(entry.Record);
                if (!entry.HasContent)
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }
            }

            foreach (var reference in artifact.References)
            {
                if (!reference.IsForeign && _blobs.TryGetValue(reference.Digest, out var entry))
                {
                    entry.Record = entry.Record with { Status = BlobStatus.None, UpdatedAt = keepPushTime ? entry.Record.UpdatedAt : now };
                }
            }

            foreach (var child in artifact.Children)
            {
                var childKey = new ArtifactKey(artifact.Repository, child);
                if (_artifacts.TryGetValue(childKey, out var existingChild))
                {
                    existingChild.Artifact = existingChild.Artifact with { Version = _nextVersion++ };
                }
            }

            _artifacts.TryGetValue(artifact.Key, out var previous);
            var firstPushedAt = previous is { Artifact: var p } ? p.FirstPushedAt ?? p.PushedAt : keepPushTime ? artifact.FirstPushedAt : now;
            // a push of an artifact already there keeps its last pull, as Harbor's artifact row keeps pull_time
            var pulledAt = previous is { Artifact: var q } && !keepPushTime ? q.PulledAt ?? artifact.PulledAt : artifact.PulledAt;
            var stored = artifact with { Version = _nextVersion++, PushedAt = keepPushTime ? artifact.PushedAt : now, FirstPushedAt = firstPushedAt, PulledAt = pulledAt };
            if (previous is not null)
            {
                AddReferences(previous.Artifact, -1);
            }

            _artifacts[artifact.Key] = new ArtifactEntry(stored, [.. stored.References.Select(r => r.IsForeign ? -1 : KeyOf(r.Digest))],
                [.. stored.References.Select(r => r.Kind)]);
            AddReferences(stored, +1);
            return stored;
        }
    }

    /// <summary>
    /// Points a tag at an artifact (creating or moving it), and bumps the artifact's version; a tag already on the artifact keeps
    /// its push and pull times.
    /// </summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag.</param>
    /// <param name="digest">The artifact it points at, which must exist.</param>
    /// <param name="pushedAt">The tag's push time; the clock's now when null.</param>
    /// <param name="expected">When given, write only if the tag points there (or, for a null digest, does not exist).</param>
    /// <returns>The tag, and the digest it pointed at before if it moved.</returns>
    /// <exception cref="KeyNotFoundException">There is no such artifact.</exception>
    /// <exception cref="TagChangedException">The tag is not as <paramref name="expected"/>.</exception>
    public (Tag Tag, Digest? PreviousDigest) PutTag(RepositoryName repository, string name, Digest digest, DateTimeOffset? pushedAt = null, TagExpectation? expected = null)
    {
        TagName.Parse(name);
        lock (_lock)
        {
            var key = new ArtifactKey(repository, digest);
            if (!_artifacts.TryGetValue(key, out var artifact))
            {
                throw new KeyNotFoundException($"Cannot tag {repository}:{name}: there is no manifest {key}.");
            }

            Digest? current = _tags.TryGetValue((repository, name), out var existing) ? existing.Digest : null;
            if (expected is { } e && e.Digest != current)
            {
                throw new TagChangedException(repository, name, e.Digest, current);
            }

            artifact.Artifact = artifact.Artifact with { Version = _nextVersion++ };
            Digest? previous = _tags.TryGetValue((repository, name), out var old) && old.Digest != digest ? old.Digest : null;

            // Pointing a tag at the digest it already has is not a push (Harbor's tag controller Ensure returns it untouched).
            var tag = old is not null && old.Digest == digest && pushedAt is null ? old : new Tag(repository, name, digest, pushedAt ?? _time.GetUtcNow());
            _tags[(repository, name)] = tag;
            return (tag, previous);
        }
    }

    /// <summary>Deletes a tag; the artifact stays.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="name">The tag.</param>
    /// <returns>Whether there was such a tag.</returns>
    public bool DeleteTag(RepositoryName repository, string name)
    {
        lock (_lock)
        {
            return _tags.Remove((repository, name));
        }
    }

    /// <summary>Records an accessory link (replacing the accessory's previous link).</summary>
    /// <param name="link">The link.</param>
    public void PutAccessoryLink(AccessoryLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        lock (_lock)
        {
            _accessoryLinks[new ArtifactKey(link.Repository, link.Accessory)] = link;
        }
    }

    /// <summary>Removes the link of an accessory.</summary>
    /// <param name="accessory">The accessory.</param>
    /// <returns>Whether there was a link.</returns>
    public bool RemoveAccessoryLink(ArtifactKey accessory)
    {
        lock (_lock)
        {
            return _accessoryLinks.Remove(accessory);
        }
    }

    /// <summary>Records a repository's link to a blob (as the Distribution layout keeps them).</summary>
    /// <param name="link">The link.</param>
    public void PutLayerLink(LayerLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        lock (_lock)
        {
            _layerLinks[(link.Repository, link.Digest)] = link;
        }
    }

    /// <summary>Records a pull of an artifact (and of the tag it was pulled by).</summary>
    /// <param name="key">The artifact.</param>
    /// <param name="tag">The tag it was pulled by, if any.</param>
    /// <returns>Whether the artifact exists.</returns>
    public bool RecordPull(ArtifactKey key, string? tag = null)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_artifacts.TryGetValue(key, out var artifact))
            {
                return false;
            }

            artifact.Artifact = artifact.Artifact with { PulledAt = now };
            if (tag is not null && _tags.TryGetValue((key.Repository, tag), out var t) && t.Digest == key.Digest)
            {
                _tags[(key.Repository, tag)] = t with { PulledAt = now };
            }

            return true;
        }
    }

    // ---- reads for callers and tests -----------------------------------------------------------------------------

    /// <summary>Gets an artifact.</summary>
    /// <param name="key">The key.</param>
    /// <returns>The artifact, or <see langword="null"/>.</returns>
    public Artifact? GetArtifact(ArtifactKey key)
    {
        lock (_lock)
        {
            return _artifacts.GetValueOrDefault(key)?.Artifact;
        }
    }

    /// <summary>Whether the blob's bytes are present.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>Whether the bytes are there.</returns>
    public bool HasBlobContent(Digest digest)
    {
        lock (_lock)
        {
            return _blobs.TryGetValue(digest, out var entry) && entry.HasContent;
        }
    }

    /// <summary>Gets a blob record.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    public Blob? GetBlob(Digest digest)
    {
        lock (_lock)
        {
            return _blobs.TryGetValue(digest, out var entry) ? entry.Record : null;
        }
    }

    /// <summary>A copy of every artifact.</summary>
    /// <returns>The artifacts.</returns>
    public IReadOnlyList<Artifact> GetArtifacts()
    {
        lock (_lock)
        {
            return [.. _artifacts.Values.Select(e => e.Artifact)];
        }
    }

    /// <summary>A copy of every blob record.</summary>
    /// <returns>The blobs.</returns>
    public IReadOnlyList<Blob> GetBlobs()
    {
        lock (_lock)
        {
            return [.. _blobs.Values.Select(e => e.Record)];
        }
    }

    /// <summary>A copy of every tag.</summary>
    /// <returns>The tags.</returns>
    public IReadOnlyList<Tag> GetTags()
    {
        lock (_lock)
        {
            return [.. _tags.Values];
        }
    }

    /// <summary>A copy of every accessory link.</summary>
    /// <returns>The links.</returns>
    public IReadOnlyList<AccessoryLink> GetAccessoryLinks()
    {
        lock (_lock)
        {
            return [.. _accessoryLinks.Values];
        }
    }

    /// <summary>A copy of every layer link.</summary>
    /// <returns>The links.</returns>
    public IReadOnlyList<LayerLink> GetLayerLinks()
    {
        lock (_lock)
        {
            return [.. _layerLinks.Values];
        }
    }

    // ---- IWritableRegistryStore ----------------------------------------------------------------------------------

    /// <inheritdoc />
    public async ValueTask<Blob> PutBlobAsync(Digest digest, Stream content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var buffer = new MemoryStream();
        var size = await BlobContent.CopyVerifiedAsync(digest, content, buffer, cancellationToken).ConfigureAwait(false);
        return PutBlobCore(digest, size, mediaType, buffer.ToArray());
    }

    /// <inheritdoc />
    public ValueTask<Blob?> MountBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_blobs.TryGetValue(digest, out var entry) || !entry.HasContent)
            {
                return ValueTask.FromResult<Blob?>(null);
            }

            EnsureNotDeleting(entry.Record);
            entry.Record = entry.Record with { UpdatedAt = now, Status = BlobStatus.None };
            return ValueTask.FromResult<Blob?>(entry.Record);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> HasBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(HasBlobContent(digest));

    /// <inheritdoc />
    public ValueTask<Stream?> OpenBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<Stream?>(_blobs.TryGetValue(digest, out var entry) && entry is { HasContent: true, Content: { } bytes }
                ? new MemoryStream(bytes, writable: false)
                : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<Artifact> PutArtifactAsync(Artifact artifact, bool requireChildren = false, IReadOnlySet<Digest>? bytesSeen = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(PutArtifact(artifact, requireChildren: requireChildren));
    }

    /// <inheritdoc />
    public ValueTask<Artifact?> GetArtifactAsync(ArtifactKey key, CancellationToken cancellationToken = default) => ValueTask.FromResult(GetArtifact(key));

    /// <inheritdoc />
    /// <remarks>A scan of the artifacts: deleting an artifact is rare, and the in-memory store serves tests and small registries.</remarks>
    public ValueTask<IReadOnlyList<Artifact>> GetParentsAsync(ArtifactKey child, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<Artifact>>(
                [.. _artifacts.Values.Select(e => e.Artifact).Where(a => a.Repository == child.Repository && a.Children.Contains(child.Digest))]);
        }
    }

    /// <inheritdoc />
    public ValueTask<TagPutResult> PutTagAsync(RepositoryName repository, string name, Digest digest, TagExpectation? expected = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (tag, previous) = PutTag(repository, name, digest, expected: expected);
        return ValueTask.FromResult(new TagPutResult(tag, previous));
    }

    /// <inheritdoc />
    public ValueTask<Tag?> GetTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_tags.GetValueOrDefault((repository, name)));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Tag>> ListTagsAsync(RepositoryName repository, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<Tag>>([.. _tags.Values.Where(t => t.Repository == repository)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(DeleteTag(repository, name));
    }

    /// <inheritdoc />
    public ValueTask PutAccessoryLinkAsync(AccessoryLink link, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PutAccessoryLink(link);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<AccessoryLink?> GetAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_accessoryLinks.GetValueOrDefault(accessory));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AccessoryLink>> GetReferrersAsync(ArtifactKey subject, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<AccessoryLink>>([.. _accessoryLinks.Values.Where(l => l.Repository == subject.Repository && l.Subject == subject.Digest)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(RemoveAccessoryLink(accessory));
    }

    /// <inheritdoc />
    public ValueTask PutLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PutLayerLink(link);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> RecordPullAsync(ArtifactKey key, string? tag = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(RecordPull(key, tag));
    }

    // ---- IRegistryStore ------------------------------------------------------------------------------------------

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (_lock)
        {
            sink.OnBegin(new SnapshotSizeHint(_artifacts.Count, _blobs.Count, _tags.Count, _accessoryLinks.Count, _blobReferences));
            var keyed = sink as IKeyedSnapshotSink;
            var n = 0;
            if (sink.WantsBlobs)
            {
                var blobs = new BlobEntry[TouchGroup];
                var filled = 0;
                foreach (var entry in _blobs.Values)
                {
                    blobs[filled++] = entry;
                    if (filled == TouchGroup)
                    {
                        if ((++n & 0xFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                        SendBlobs(blobs.AsSpan(0, filled), sink, keyed);
                        filled = 0;
                    }
                }

                SendBlobs(blobs.AsSpan(0, filled), sink, keyed);
            }

            var artifacts = new ArtifactEntry[TouchGroup];
            var count = 0;
            foreach (var entry in _artifacts.Values)
            {
                artifacts[count++] = entry;
                if (count == TouchGroup)
                {
                    if ((++n & 0xFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                    SendArtifacts(artifacts.AsSpan(0, count), sink, keyed);
                    count = 0;
                }
            }

            SendArtifacts(artifacts.AsSpan(0, count), sink, keyed);

            foreach (var tag in _tags.Values)
            {
                sink.OnTag(tag);
            }

            foreach (var link in _accessoryLinks.Values)
            {
                sink.OnAccessoryLink(link);
            }

            foreach (var link in _layerLinks.Values)
            {
                sink.OnLayerLink(link);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (!_artifacts.TryGetValue(key, out var entry))
            {
                return ValueTask.FromResult(ArtifactDeleteOutcome.NotFound);
            }

            var artifact = entry.Artifact;

            if (artifact.Version != expectedVersion)
            {
                return ValueTask.FromResult(ArtifactDeleteOutcome.Changed);
            }

            foreach (var tagKey in _tags.Where(t => t.Key.Repository == key.Repository && t.Value.Digest == key.Digest).Select(t => t.Key).ToList())
            {
                _tags.Remove(tagKey);
            }

            _accessoryLinks.Remove(key);
            foreach (var soft in _accessoryLinks.Values.Where(l => l.Repository == key.Repository && l.Subject == key.Digest && l.Strength == ReferenceStrength.Soft).ToList())
            {
                _accessoryLinks.Remove(new ArtifactKey(soft.Repository, soft.Accessory));
            }

            _artifacts.Remove(key);
            AddReferences(artifact, -1);
            return ValueTask.FromResult(ArtifactDeleteOutcome.Deleted);
        }
    }

    /// <inheritdoc />
    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(GetBlob(digest));

    /// <inheritdoc />
    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (!_blobs.TryGetValue(digest, out var entry) || !expected.Contains(entry.Record.Status) ||
                (lastTouchedAt is { } seen && entry.Record.LastTouchedAt != seen))
            {
                return ValueTask.FromResult(false);
            }

            entry.Record = entry.Record with { Status = next };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_referenceCounts.GetValueOrDefault(digest) > 0);
        }
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_blobs.TryGetValue(digest, out var entry))
            {
                entry.HasContent = false;
                entry.Content = null;
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            _blobs.Remove(digest);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (!_layerLinks.TryGetValue((link.Repository, link.Digest), out var current))
            {
                return ValueTask.FromResult(LayerLinkDeleteOutcome.NotFound);
            }

            if (current.CreatedAt != link.CreatedAt ||
                _artifacts.Values.Any(e => e.Artifact.Repository == link.Repository && e.Artifact.References.Any(r => r.Digest == link.Digest)))
            {
                return ValueTask.FromResult(LayerLinkDeleteOutcome.Kept);
            }

            _layerLinks.Remove((link.Repository, link.Digest));
            return ValueTask.FromResult(LayerLinkDeleteOutcome.Deleted);
        }
    }

    private void AddReferences(Artifact artifact, int delta)
    {
        foreach (var reference in artifact.References)
        {
            ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_referenceCounts, reference.Digest, out _);
            count += delta;
            if (count <= 0)
            {
                _referenceCounts.Remove(reference.Digest);
            }
        }

        _blobReferences += delta * artifact.References.Length;
    }

    /// <summary>
    /// Refuses a blob a run has committed to deleting (its bytes may be going or gone): <c>deleting</c>, <c>deleted</c>, and
    /// <c>deleteFailed</c>, which the next run finishes without a re-check.
    /// </summary>
    private static void EnsureNotDeleting(Blob blob)
    {
        if (blob.Status is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed)
        {
            throw new BlobBeingDeletedException(blob.Digest);
        }
    }

    private int KeyOf(Digest digest)
    {
        ref var key = ref CollectionsMarshal.GetValueRefOrAddDefault(_keys, digest, out var exists);
        if (!exists)
        {
            key = _keys.Count - 1;
        }

        return key;
    }

    // The snapshot reads entries in groups: a first pass loads each entry's record (independent loads, so the processor
    // overlaps their cache misses), and the sink then finds them in cache.
    private const int TouchGroup = 64;
    private long _touched; // the first passes' loads go somewhere, so they are not optimised away

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private void SendBlobs(ReadOnlySpan<BlobEntry> entries, ISnapshotSink sink, IKeyedSnapshotSink? keyed)
    {
        long touch = 0;
        foreach (var entry in entries)
        {
            touch += entry.Record.Size;
        }

        _touched += touch;
        foreach (var entry in entries)
        {
            if (keyed is not null)
            {
                keyed.OnBlob(entry.Record, entry.Key);
            }
            else
            {
                sink.OnBlob(entry.Record);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private void SendArtifacts(ReadOnlySpan<ArtifactEntry> entries, ISnapshotSink sink, IKeyedSnapshotSink? keyed)
    {
        long touch = 0;
        foreach (var entry in entries)
        {
            touch += entry.Artifact.Size + entry.ReferenceKeys.Length;
        }

        _touched += touch;
        foreach (var entry in entries)
        {
            if (keyed is not null)
            {
                keyed.OnArtifact(entry.Artifact, entry.ReferenceKeys, entry.ReferenceKinds);
            }
            else
            {
                sink.OnArtifact(entry.Artifact);
            }
        }
    }

    private sealed class ArtifactEntry(Artifact artifact, int[] referenceKeys, BlobReferenceKind[] referenceKinds)
    {
        public Artifact Artifact { get; set; } = artifact;

        /// <summary>The key of each reference's digest (-1 for a foreign layer), for <see cref="IKeyedSnapshotSink"/>.</summary>
        public int[] ReferenceKeys { get; } = referenceKeys;

        /// <summary>The kind of each reference, for <see cref="IKeyedSnapshotSink"/>.</summary>
        public BlobReferenceKind[] ReferenceKinds { get; } = referenceKinds;
    }

    private sealed class BlobEntry(Blob record, int key)
    {
        /// <summary>A dense key, fixed for the life of the entry, handed to <see cref="IKeyedSnapshotSink"/>.</summary>
        public int Key { get; } = key;

        public Blob Record { get; set; } = record;

        public bool HasContent { get; set; }

        public byte[]? Content { get; set; }
    }
}
