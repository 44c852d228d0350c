using Harbor.Gc.Model;
using Harbor.Gc.Storage.Blobs;
using LiteDB;
using static Harbor.Gc.Storage.LiteDb.LiteDbDocuments;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// The embedded store (<c>litedb:PATH</c>): metadata in a LiteDB 5 database file, blob bytes content-addressed in a folder beside
/// it (<see cref="FileSystemBlobStore"/>) or in an S3 bucket (<see cref="LiteDbStoreOptions.S3Blobs"/>, <see cref="S3BlobStore"/>). Thread-safe; with <see cref="LiteDbConnectionMode.Shared"/> also safe to share
/// between processes (a registry and a separate <c>harbor-gc</c>).
/// </summary>
/// <remarks>
/// <para>Collections: <c>blobs</c> (by digest: size, media type, created/updated, status), <c>artifacts</c> (by
/// <c>repository@digest</c>, with the blob references and children embedded; indexed by repository, by referenced blob and by
/// listed child, multi-key), <c>tags</c> (by <c>repository:name</c>; indexed by repository and by artifact), <c>accessory_links</c>
/// (by accessory; indexed by subject), <c>layer_links</c> (by <c>repository@digest</c>), <c>meta</c> (schema and the artifact
/// version counter). Pull times live on the artifact and the tag.</para>
/// <para>Every write is one LiteDB transaction, taken under one lock per store (and, in shared mode, the cross-process lock,
/// <see cref="CrossProcessLock"/>, for the whole transaction), so a push's "check every blob, take back those marked for
/// deletion" and the sweep's compare-and-swap never interleave, in one process or in two. In direct mode reads (the snapshot,
/// "is this blob referenced") take no lock: LiteDB gives each a consistent snapshot; in shared mode each read holds the
/// cross-process lock, so it runs alone and sees every write committed before it. The sweep re-checks everything it deletes.</para>
/// <para>Crash safety: LiteDB's write-ahead log makes each transaction all-or-nothing; blob bytes are renamed into place before
/// their record is written and deleted only after the record says <see cref="BlobStatus.Deleting"/>, so a crash leaves at most an
/// unrecorded file (garbage, which GC lists as a stale upload and deletes once it is older than the time window), never a record
/// whose bytes are missing while an artifact needs them.</para>
/// </remarks>
public sealed partial class LiteDbRegistryStore : IWritableRegistryStore, IDisposable
{
    private readonly Lock _writeLock = new();
    private readonly CrossProcessLock? _shared;
    private readonly TimeProvider _time;
    private readonly LiteDatabase _db;
    private readonly IBlobContentStore _files;
    private readonly ILiteCollection<BsonDocument> _blobs;
    private readonly ILiteCollection<BsonDocument> _artifacts;
    private readonly ILiteCollection<BsonDocument> _tags;
    private readonly ILiteCollection<BsonDocument> _accessoryLinks;
    private readonly ILiteCollection<BsonDocument> _layerLinks;
    private readonly ILiteCollection<BsonDocument> _meta;
    private readonly bool _readOnly;
    private readonly FileStream? _folderLock;

    private LiteDbRegistryStore(LiteDatabase db, IBlobContentStore files, string databasePath, TimeProvider time, bool readOnly, FileStream? folderLock, CrossProcessLock? shared)
    {
        _db = db;
        _shared = shared;
        _files = files;
        _time = time;
        _readOnly = readOnly;
        _folderLock = folderLock;
        DatabasePath = databasePath;
        _blobs = db.GetCollection(LiteDbDocuments.Blobs);
        _artifacts = db.GetCollection(Artifacts);
        _tags = db.GetCollection(Tags);
        _accessoryLinks = db.GetCollection(AccessoryLinks);
        _layerLinks = db.GetCollection(LayerLinks);
        _meta = db.GetCollection(Meta);
    }

    /// <inheritdoc />
    public string Description => _files is S3BlobStore ? $"litedb:{DatabasePath}?blobs={_files.Root}" : $"litedb:{DatabasePath}";

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <summary>The folder of blob bytes, or <c>s3://BUCKET/PREFIX</c> when they are in S3.</summary>
    public string BlobsPath => _files.Root;

    /// <summary>Closes the database.</summary>
    public void Dispose()
    {
        _db.Dispose();
        _files.Dispose();
        _folderLock?.Dispose();
        _shared?.Dispose();
    }

    // ---- IWritableRegistryStore ----------------------------------------------------------------------------------

    /// <inheritdoc />
    public async ValueTask<Blob> PutBlobAsync(Digest digest, Stream content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        EnsureWritable();
        // fail early, before reading the bytes, when a sweep is deleting the blob; the write below checks again atomically
        if (Read(() => _blobs.FindById(digest.ToString())) is { } current)
        {
            EnsureNotDeleting(ToBlob(current));
        }

        using var staged = await _files.StageAsync(digest, content, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return Write(() =>
        {
            var now = _time.GetUtcNow();
            Blob blob;
            if (_blobs.FindById(digest.ToString()) is { } doc)
            {
                var existing = ToBlob(doc);
                EnsureNotDeleting(existing);
                blob = existing with { Size = staged.Size, MediaType = mediaType ?? existing.MediaType, UpdatedAt = now, Status = BlobStatus.None };
            }
            else
            {
                blob = new Blob(digest, staged.Size, mediaType, now, now);
            }

            staged.Commit(); // bytes first, then the record: a crash in between leaves an unrecorded file, never a record without bytes
            _blobs.Upsert(LiteDbDocuments.ToDocument(blob));
            return blob;
        });
    }

    /// <inheritdoc />
    public ValueTask<Blob?> MountBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write<Blob?>(() =>
        {
            if (_blobs.FindById(digest.ToString()) is not { } doc)
            {
                return null;
            }

            if (!_files.Exists(digest))
            {
                return null; // as the in-memory store: no bytes, nothing to mount (an upload of them meets the status check)
            }

            var blob = ToBlob(doc);
            EnsureNotDeleting(blob);
            blob = blob with { UpdatedAt = _time.GetUtcNow(), Status = BlobStatus.None };
            _blobs.Update(LiteDbDocuments.ToDocument(blob));
            return blob;
        }));
    }

    /// <inheritdoc />
    public ValueTask<bool> HasBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(_files.Exists(digest));

    /// <inheritdoc />
    public ValueTask<Stream?> OpenBlobAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(_files.OpenRead(digest));

    /// <inheritdoc />
    public ValueTask<Artifact> PutArtifactAsync(Artifact artifact, bool requireChildren = false, IReadOnlySet<Digest>? bytesSeen = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            if (requireChildren && artifact.Children.FirstOrDefault(c => _artifacts.FindById(Key(artifact.Repository, c)) is null) is { IsEmpty: false } missing)
            {
                throw new MissingChildException(artifact.Key, missing);
            }

            var now = _time.GetUtcNow();
            var blobs = new List<Blob>(artifact.References.Length);
            foreach (var reference in artifact.References)
            {
                if (reference.IsForeign)
                {
                    continue;
                }

                if (_blobs.FindById(reference.Digest.ToString()) is not { } doc)
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }

                var blob = ToBlob(doc);
                EnsureNotDeleting(blob);
                if (bytesSeen?.Contains(reference.Digest) != true && !_files.Exists(reference.Digest))
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }

                blobs.Add(blob);
            }

            foreach (var blob in blobs)
            {
                _blobs.Update(LiteDbDocuments.ToDocument(blob with { Status = BlobStatus.None, UpdatedAt = now }));
            }

            var version = ReadVersion();
            foreach (var child in artifact.Children.Distinct())
            {
                if (_artifacts.FindById(Key(artifact.Repository, child)) is { } childDoc)
                {
                    childDoc[LiteDbDocuments.Version] = ++version;
                    _artifacts.Update(childDoc);
                }
            }

            // A push of an artifact already there keeps its first push time (an artifact written before it was kept: its push time).
            // ...and its last pull, as Harbor's artifact row keeps pull_time.
            var existing = _artifacts.FindById(Key(artifact.Key));
            var firstPushedAt = existing is not null ? LiteDbDocuments.ToFirstPushedAt(existing) : now;
            var pulledAt = (existing is not null ? LiteDbDocuments.OptionalTime(existing[LiteDbDocuments.PulledAt]) : null) ?? artifact.PulledAt;
            var stored = artifact with { Version = ++version, PushedAt = now, FirstPushedAt = firstPushedAt, PulledAt = pulledAt };
            _artifacts.Upsert(LiteDbDocuments.ToDocument(stored));
            WriteVersion(version);
            return stored;
        }));
    }

    /// <inheritdoc />
    public ValueTask<Artifact?> GetArtifactAsync(ArtifactKey key, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(() => _artifacts.FindById(Key(key))) is { } doc ? ToArtifact(doc, new RepositoryNames()) : null);

    /// <inheritdoc />
    /// <remarks>An index seek on the multi-key index of children.</remarks>
    public ValueTask<IReadOnlyList<Artifact>> GetParentsAsync(ArtifactKey child, CancellationToken cancellationToken = default)
    {
        var names = new RepositoryNames();
        return ValueTask.FromResult<IReadOnlyList<Artifact>>(
            Read<List<Artifact>>(() => [.. _artifacts.Find(ChildrenQuery(child.Digest)).Where(d => d[RepositoryField].AsString == child.Repository.Value).Select(d => ToArtifact(d, names))]));
    }

    /// <inheritdoc />
    public ValueTask<TagPutResult> PutTagAsync(RepositoryName repository, string name, Digest digest, TagExpectation? expected = null, CancellationToken cancellationToken = default)
    {
        TagName.Parse(name);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            var key = new ArtifactKey(repository, digest);
            if (_artifacts.FindById(Key(key)) is not { } artifact)
            {
                throw new KeyNotFoundException($"Cannot tag {repository}:{name}: there is no manifest {key}.");
            }

            var old = _tags.FindById(TagKey(repository, name));
            Digest? current = old is not null ? Digest.Parse(old[DigestField].AsString) : null;
            if (expected is { } e && e.Digest != current)
            {
                throw new TagChangedException(repository, name, e.Digest, current);
            }

            var version = ReadVersion() + 1;
            artifact[LiteDbDocuments.Version] = version;
            _artifacts.Update(artifact);
            WriteVersion(version);
            Digest? previous = current != digest ? current : null;

            // Pointing a tag at the digest it already has is not a push (Harbor's tag controller Ensure returns it untouched).
            var tag = old is not null && current == digest ? ToTag(old, new RepositoryNames()) : new Tag(repository, name, digest, _time.GetUtcNow());
            _tags.Upsert(LiteDbDocuments.ToDocument(tag));
            return new TagPutResult(tag, previous);
        }));
    }

    /// <inheritdoc />
    public ValueTask<Tag?> GetTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(() => _tags.FindById(TagKey(repository, name))) is { } doc ? ToTag(doc, new RepositoryNames()) : null);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Tag>> ListTagsAsync(RepositoryName repository, CancellationToken cancellationToken = default)
    {
        var names = new RepositoryNames();
        return ValueTask.FromResult<IReadOnlyList<Tag>>(Read<List<Tag>>(() => [.. _tags.Find(Query.EQ(RepositoryField, repository.Value)).Select(d => ToTag(d, names))]));
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() => _tags.Delete(TagKey(repository, name))));
    }

    /// <inheritdoc />
    public ValueTask PutAccessoryLinkAsync(AccessoryLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        Write(() => _accessoryLinks.Upsert(LiteDbDocuments.ToDocument(link)));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<AccessoryLink?> GetAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(() => _accessoryLinks.FindById(Key(accessory))) is { } doc ? ToAccessoryLink(doc, new RepositoryNames()) : null);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AccessoryLink>> GetReferrersAsync(ArtifactKey subject, CancellationToken cancellationToken = default)
    {
        var names = new RepositoryNames();
        return ValueTask.FromResult<IReadOnlyList<AccessoryLink>>(Read<List<AccessoryLink>>(() => [.. _accessoryLinks.Find(Query.EQ(SubjectKeyField, Key(subject))).Select(d => ToAccessoryLink(d, names))]));
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() => _accessoryLinks.Delete(Key(accessory))));
    }

    /// <inheritdoc />
    public ValueTask PutLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        Write(() => _layerLinks.Upsert(LiteDbDocuments.ToDocument(link)));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> RecordPullAsync(ArtifactKey key, string? tag = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            if (_artifacts.FindById(Key(key)) is not { } artifact)
            {
                return false;
            }

            var now = Ticks(_time.GetUtcNow());
            artifact[PulledAt] = now;
            _artifacts.Update(artifact);
            if (tag is not null && _tags.FindById(TagKey(key.Repository, tag)) is { } t && t[DigestField].AsString == key.Digest.ToString())
            {
                t[PulledAt] = now;
                _tags.Update(t);
            }

            return true;
        }));
    }

    // ---- IRegistryStore ------------------------------------------------------------------------------------------

    /// <inheritdoc />
    /// <remarks>
    /// Streams each collection in turn straight from LiteDB's cursor: nothing is collected into lists. Each collection is read
    /// from its own consistent snapshot; a push landing between them is harmless (the sweep re-checks every item). Last come what
    /// interrupted blob writes leave, as uploads of no repository: temporary files (a push killed mid-write) and, when the sink
    /// wants blobs, blob files that have no record (a push killed between the rename and the record).
    /// </remarks>
    public ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        cancellationToken.ThrowIfCancellationRequested();
        sink.OnBegin(Read(() => new SnapshotSizeHint(_artifacts.Count(), _blobs.Count(), _tags.Count(), _accessoryLinks.Count(), 0)));
        var names = new RepositoryNames();

        // to find blob files without a record
        RecordedBlobPrefixes? recorded = sink.WantsBlobs ? new(Read(_blobs.Count)) : null;
        var n = recorded is null ? 0 : Deliver(_blobs, d =>
        {
            recorded.Add(RecordedBlobPrefixes.PrefixOf(d["_id"].AsString.AsSpan("sha256:".Length))); // either algorithm's id is "shaNNN:" and hex
            return ToBlob(d);
        }, sink.OnBlob, 0, cancellationToken);
        n = Deliver(_artifacts, d => ToArtifact(d, names), sink.OnArtifact, n, cancellationToken);
        n = Deliver(_tags, d => ToTag(d, names), sink.OnTag, n, cancellationToken);
        n = Deliver(_accessoryLinks, d => ToAccessoryLink(d, names), sink.OnAccessoryLink, n, cancellationToken);
        Deliver(_layerLinks, d => ToLayerLink(d, names), sink.OnLayerLink, n, cancellationToken);
        var mayBeRecorded = recorded is null ? null : new Func<string, string, bool>(recorded.MayBeRecorded);
        foreach (var upload in _files.Leftovers(mayBeRecorded, cancellationToken))
        {
            sink.OnUpload(upload);
        }

        return ValueTask.CompletedTask;

        // streams one collection from LiteDB's cursor into the sink (in shared mode holding the cross-process lock, as LiteDB holds
        // its mutex, until the cursor ends); returns the running record count. What LiteDB cannot read, or a record that does not
        // decode, is a damaged store (the sink's own errors pass through as they are).
        int Deliver<T>(ILiteCollection<BsonDocument> collection, Func<BsonDocument, T> read, Action<T> deliver, int n, CancellationToken cancellationToken) => Read(() =>
        {
            using var cursor = collection.FindAll().GetEnumerator();
            while (true)
            {
                T item;
                try
                {
                    if (!cursor.MoveNext())
                    {
                        return n;
                    }

                    item = read(cursor.Current);
                }
                catch (Exception e) when (IsDamage(e))
                {
                    throw LiteDbFile.Unreadable($"The LiteDB store '{DatabasePath}' (collection '{collection.Name}')", e);
                }

                if ((++n & 0xFFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                deliver(item);
            }
        });
    }

    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            var id = Key(key);
            if (_artifacts.FindById(id) is not { } doc)
            {
                return ArtifactDeleteOutcome.NotFound;
            }

            if (doc[LiteDbDocuments.Version].AsInt64 != expectedVersion)
            {
                return ArtifactDeleteOutcome.Changed;
            }

            _tags.DeleteMany(Query.EQ(ArtifactKeyField, id));
            _accessoryLinks.Delete(id);
            _accessoryLinks.DeleteMany(Query.And(Query.EQ(SubjectKeyField, id), Query.EQ("strength", (int)ReferenceStrength.Soft)));
            _artifacts.Delete(id);
            return ArtifactDeleteOutcome.Deleted;
        }));
    }

    /// <inheritdoc />
    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(() => _blobs.FindById(digest.ToString())) is { } doc ? ToBlob(doc) : null);

    /// <inheritdoc />
    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            if (_blobs.FindById(digest.ToString()) is not { } doc)
            {
                return false;
            }

            var blob = ToBlob(doc);
            if (!expected.Contains(blob.Status) || (lastTouchedAt is { } seen && blob.LastTouchedAt != seen))
            {
                return false;
            }

            doc[Status] = (int)next;
            return _blobs.Update(doc);
        }));
    }

    /// <inheritdoc />
    /// <remarks>An index seek on the multi-key index of referenced digests: it never scans the artifacts.</remarks>
    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(() => _artifacts.Exists(ReferencesQuery(digest))));

    /// <inheritdoc />
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EnsureWritable();
        _files.Delete(digest);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(() => _blobs.Delete(digest.ToString()));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Write(() =>
        {
            var id = Key(link.Repository, link.Digest);
            if (_layerLinks.FindById(id) is not { } doc)
            {
                return LayerLinkDeleteOutcome.NotFound;
            }

            var repository = link.Repository.Value;
            if (Time(doc["createdAt"]) != link.CreatedAt ||
                _artifacts.Find(ReferencesQuery(link.Digest)).Any(a => a[RepositoryField].AsString == repository))
            {
                return LayerLinkDeleteOutcome.Kept;
            }

            _layerLinks.Delete(id);
            return LayerLinkDeleteOutcome.Deleted;
        }));
    }

    /// <inheritdoc />
    /// <remarks>
    /// This store's uploads are what interrupted blob writes leave (of no repository): one is deleted only when it is unchanged
    /// since the plan and nobody has it open (a write in progress holds its temporary file open until it is renamed into place).
    /// A temporary file shares no state with the metadata and is deleted without a lock; an unrecorded blob file is deleted under
    /// the write lock, only while it still has no record.
    /// </remarks>
    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        cancellationToken.ThrowIfCancellationRequested();
        if (upload.Repository is not null)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.NotFound);
        }

        if (BlobLeftoverIds.UnrecordedDigest(upload.Id) is { } digest)
        {
            // under the write lock: a push renames its bytes into place and records them in one transaction, so it is wholly
            // before this check (recorded: kept) or wholly after the delete (its own bytes renamed in)
            return ValueTask.FromResult(Write(() => _blobs.FindById(digest.ToString()) is null ? _files.DeleteLeftover(upload) : UploadDeleteOutcome.Changed));
        }

        EnsureWritable();
        return ValueTask.FromResult(_files.DeleteLeftover(upload));
    }

    // ---- internals -----------------------------------------------------------------------------------------------

    /// <summary>The query plan LiteDB makes for "is this blob referenced" (for tests: it must use the index).</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>LiteDB's plan document.</returns>
    internal BsonDocument ExplainIsBlobReferenced(Digest digest) => Read(() => _artifacts.Query().Where(ReferencesQuery(digest)).GetPlan());

    /// <summary>The indexes of the database, as <c>collection.name</c> (for tests: every lookup has its index).</summary>
    /// <returns>The index names, the primary keys (<c>_id</c>) included.</returns>
    internal IReadOnlyList<string> Indexes() =>
        Read<List<string>>(() => [.. _db.GetCollection("$indexes").FindAll().Select(i => $"{i["collection"].AsString}.{i["name"].AsString}")]);

    /// <summary>The query plan LiteDB makes for "which indexes list this child" (for tests: it must use the index).</summary>
    /// <param name="digest">The child.</param>
    /// <returns>LiteDB's plan document.</returns>
    internal BsonDocument ExplainGetParents(Digest digest) => Read(() => _artifacts.Query().Where(ChildrenQuery(digest)).GetPlan());

    private static BsonExpression ChildrenQuery(Digest digest) => BsonExpression.Create($"{ChildrenExpression} ANY = @0", new BsonValue(digest.ToString()));

    private static BsonExpression ReferencesQuery(Digest digest) => BsonExpression.Create($"{ReferencesExpression} ANY = @0", new BsonValue(digest.ToString()));

    /// <summary>Whether an exception from reading a record means the file is damaged: LiteDB's own, or a record that does not decode.</summary>
    private static bool IsDamage(Exception e) =>
        e is LiteException or InvalidCastException or FormatException or ArgumentException or IndexOutOfRangeException or OverflowException or KeyNotFoundException or NullReferenceException;

    private void EnsureWritable()
    {
        if (_readOnly)
        {
            throw new InvalidOperationException($"The LiteDB store '{DatabasePath}' was opened read-only.");
        }
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

    private long ReadVersion() => _meta.FindById(VersionKey)[Value].AsInt64;

    private void WriteVersion(long version) => _meta.Update(new BsonDocument { ["_id"] = VersionKey, [Value] = version });

    /// <summary>
    /// Runs <paramref name="action"/> as one transaction, under the store's write lock and, in shared mode, the cross-process lock
    /// (from before the transaction begins to after it ends).
    /// </summary>
    private T Write<T>(Func<T> action)
    {
        EnsureWritable();
        lock (_writeLock)
        {
            return Read(() =>
            {
                _db.BeginTrans();
                try
                {
                    var result = action();
                    _db.Commit();
                    return result;
                }
                catch
                {
                    _db.Rollback();
                    throw;
                }
            });
        }
    }

    /// <summary>
    /// Runs LiteDB operations that are not a transaction (reads; the index set-up), in shared mode under the cross-process lock:
    /// LiteDB's own lock between processes is a named mutex that two processes with another <c>/tmp</c> or user do not share
    /// (<see cref="CrossProcessLock"/>). In direct mode the database is this process's alone, and LiteDB's reads need no lock.
    /// </summary>
    private T Read<T>(Func<T> action) => _shared is null ? action() : _shared.Run(action);
}
