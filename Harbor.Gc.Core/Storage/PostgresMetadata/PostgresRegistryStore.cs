using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Data;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Blobs;
using Harbor.Gc.Storage.LiteDb;
using Npgsql;
using NpgsqlTypes;
using RepositoryNames = Harbor.Gc.Storage.LiteDb.LiteDbDocuments.RepositoryNames;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// The shared store (<c>postgres:postgresql://USER@HOST[:PORT]/DB?blobs=DIR</c>): metadata in a PostgreSQL database that every
/// registry process and collector shares, blob bytes content-addressed in a folder (<see cref="FileSystemBlobStore"/>, as the LiteDB
/// store keeps them). Thread-safe, and safe to share between processes: every guard is in the database, none in the process.
/// </summary>
/// <remarks>
/// <para>Tables (schema version 1, <c>Migrations/0001_initial.sql</c>; version 2 turns the GIN indexes' fast update off):
/// <c>blobs</c> (by digest), <c>artifacts</c> (by repository and digest, references and children as arrays with GIN indexes), <c>tags</c> (by repository and name; index by artifact),
/// <c>accessory_links</c> (by repository and accessory; index by subject), <c>layer_links</c>, <c>harbor_gc_store</c> (the id) and
/// <c>harbor_gc_schema</c> (the applied migrations). Digests are their raw hash (<c>bytea</c>); times UTC ticks.</para>
/// <para>Every write is one transaction at read committed (a write of one statement is its own transaction, without a separate
/// <c>COMMIT</c>; the statements of a write that need no answer in between go in one batch, one round trip, and the last batch of a
/// push's writes carries the <c>COMMIT</c>), and every check a write makes is made on rows it has locked. The registry API's artifact
/// and tag writes are one batch each, their checks asserted in SQL on the rows the batch has locked (a failed assertion aborts the
/// batch before anything is written, and the write is made again step by step, reading what it checks, to say what is wrong). A push locks
/// the blob rows it needs (<c>FOR UPDATE</c>, in digest order), checks and takes them back in the same transaction, and writes the
/// artifact; the sweep's compare-and-swap is one <c>UPDATE … WHERE status = ANY(expected)</c> whose row count is the answer, so it
/// waits for a push holding the row and then sees what it committed. A blob upload renames its bytes into place and records them
/// under a transaction-level advisory lock on the digest, which the deletion of an unrecorded blob file takes too. A tag write
/// takes an advisory lock on the tag, so its compare-and-swap (<see cref="TagExpectation"/>) also holds for a tag that does not exist
/// yet. The snapshot is one repeatable-read transaction: consistent as a whole.</para>
/// </remarks>
public sealed partial class PostgresRegistryStore : IWritableRegistryStore, IDisposable, IAsyncDisposable
{
    // what is read of an artifact (media types as ids, references packed: schema version 3); a write adds ref_digests, the column of
    // the GIN index that answers "is this blob referenced", which no read needs
    private const string ArtifactColumns =
        "repository, digest, media_type, kind, artifact_type, size, pushed_at, first_pushed_at, pulled_at, labels, refs, children, subject, parse_problem, version";

    // what a collection's snapshot reads of an artifact, its references as blob row ids (ref_keys)
    private const string ArtifactSnapshotColumns = "repository, digest, media_type, kind, size, pushed_at, ref_keys, children, parse_problem, version";

    private const string BlobColumns = "digest, size, media_type, created_at, updated_at, status";
    private const string TagColumns = "repository, name, digest, pushed_at, pulled_at";
    private const string LinkColumns = "repository, accessory, subject, type, strength, tag_scheme";

    private readonly NpgsqlDataSource _dataSource;
    private readonly IBlobContentStore _files;
    private readonly TimeProvider _time;
    private readonly bool _readOnly;
    private readonly PostgresMediaTypes _mediaTypes = new();

    [ThreadStatic]
    private static byte[]? t_hash;

    private PostgresRegistryStore(NpgsqlDataSource dataSource, IBlobContentStore files, string where, TimeProvider time, bool readOnly)
    {
        _dataSource = dataSource;
        _files = files;
        _time = time;
        _readOnly = readOnly;
        Where = where;
    }

    /// <inheritdoc />
    /// <remarks>Never holds the password.</remarks>
    public string Description => $"postgres:{Where}?blobs={_files.Root}";

    /// <summary>The database, as <c>postgresql://USER@HOST:PORT/DATABASE</c> (no password).</summary>
    public string Where { get; }

    /// <summary>The folder of blob bytes.</summary>
    public string BlobsPath => _files.Root;

    /// <summary>Closes the store's connections.</summary>
    public void Dispose()
    {
        _files.Dispose();
        _dataSource.Dispose();
    }

    /// <summary>Closes the store's connections.</summary>
    /// <returns>A task that completes when they are closed.</returns>
    public ValueTask DisposeAsync()
    {
        _files.Dispose();
        return _dataSource.DisposeAsync();
    }

    // ---- IWritableRegistryStore ----------------------------------------------------------------------------------

    /// <inheritdoc />
    public async ValueTask<Blob> PutBlobAsync(Digest digest, Stream content, string? mediaType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        EnsureWritable();

        // the bytes are staged first, and a blob a sweep is deleting is refused once, on its locked row below (no read before the
        // bytes: it saved only the staging of an upload the refusal throws away, for a round trip every upload paid)
        using var staged = await _files.StageAsync(digest, content, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return await WriteCommittingAsync(async connection =>
        {
            // the digest's lock (the deletion of an unrecorded blob file takes it too, so the rename and the record below are one step
            // for it), then the blob's row, locked: one round trip; the record and the commit: the second
            Blob? existing;
            await using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(BatchCommand("SELECT pg_advisory_xact_lock(@key)", DigestLockKey(digest)));
                batch.BatchCommands.Add(BatchCommand($"SELECT {BlobColumns} FROM blobs WHERE digest = @digest FOR UPDATE", DigestParameter("digest", digest)));
                await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await reader.NextResultAsync().ConfigureAwait(false);
                existing = await reader.ReadAsync().ConfigureAwait(false) ? ReadBlob(reader) : null;
            }

            var now = _time.GetUtcNow();
            Blob blob;
            if (existing is not null)
            {
                EnsureNotDeleting(existing);
                blob = existing with { Size = staged.Size, MediaType = mediaType ?? existing.MediaType, UpdatedAt = now, Status = BlobStatus.None };
            }
            else
            {
                blob = new Blob(digest, staged.Size, mediaType, now, now);
            }

            staged.Commit(); // bytes first, then the record: a crash in between leaves an unrecorded file, never a record without bytes
            await using var upsert = new NpgsqlBatch(connection);
            var record = new NpgsqlBatchCommand(
                $"INSERT INTO blobs ({BlobColumns}) VALUES (@digest, @size, @media_type, @created_at, @updated_at, @status) "
                + "ON CONFLICT (digest) DO UPDATE SET size = EXCLUDED.size, media_type = EXCLUDED.media_type, updated_at = EXCLUDED.updated_at, status = EXCLUDED.status");
            AddBlob(record.Parameters, blob);
            upsert.BatchCommands.Add(record);
            return await CommitAsync(upsert, _ => Task.FromResult(blob)).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<Blob?> MountBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return WriteAsync<Blob?>(async connection =>
        {
            if (await ReadBlobAsync(connection, digest, forUpdate: true).ConfigureAwait(false) is not { } blob || !_files.Exists(digest))
            {
                return null; // as the other stores: no bytes, nothing to mount (an upload of them meets the status check)
            }

            EnsureNotDeleting(blob);
            blob = blob with { UpdatedAt = _time.GetUtcNow(), Status = BlobStatus.None };
            await TouchBlobAsync(connection, digest, blob.UpdatedAt).ConfigureAwait(false);
            return blob;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> HasBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(_files.Exists(digest));

    /// <inheritdoc />
    public ValueTask<Stream?> OpenBlobAsync(Digest digest, CancellationToken cancellationToken = default) => ValueTask.FromResult(_files.OpenRead(digest));

    /// <inheritdoc />
    public async ValueTask<Artifact> PutArtifactAsync(Artifact artifact, bool requireChildren = false, IReadOnlySet<Digest>? bytesSeen = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        cancellationToken.ThrowIfCancellationRequested();
        EnsureWritable();
        // the ids of its media types, before the write's transaction (nothing to do once this process has seen them)
        await _mediaTypes.EnsureAsync(_dataSource, [artifact.MediaType, artifact.ArtifactType, .. artifact.References.Select(r => r.MediaType)], cancellationToken).ConfigureAwait(false);
        var repository = artifact.Repository.Value;
        var children = artifact.Children.Distinct().Order().ToList();
        var needed = artifact.References.Where(r => !r.IsForeign).Select(r => r.Digest).Distinct().Order().ToList();
        // a blob's bytes: seen by the caller before this call (IWritableRegistryStore.PutArtifactAsync says why that is enough), or looked for
        bool HasBytes(Digest digest) => bytesSeen?.Contains(digest) == true || _files.Exists(digest);

        // In one round trip when the children must all be there (the registry API's pushes) and every blob file is: a file present
        // now is still present when its row, locked below, is not being deleted (a sweep deletes a file only once its row says
        // deleting, which stays until the row is deleted; an unrecorded file only while there is no row, under the lock an upload
        // holds until its row is committed). Otherwise, or when an assertion fails, the careful write says what is wrong.
        var oneRoundTrip = (requireChildren || children.Count == 0) && needed.All(HasBytes);
        return await WriteAsync(!oneRoundTrip ? null : async connection =>
        {
            // the statements of the careful write below, in its order, its checks asserted in SQL on the rows locked: every child
            // locked and there; every blob locked in digest order, there and not being deleted; the writes; the commit
            var now = _time.GetUtcNow();
            await using var batch = new NpgsqlBatch(connection);
            if (children.Count > 0)
            {
                batch.BatchCommands.Add(Refuse(
                    "WITH locked AS MATERIALIZED (SELECT digest FROM artifacts WHERE repository = @repository AND digest = ANY(@children) ORDER BY digest FOR UPDATE)",
                    "(SELECT count(*) FROM locked) <> @count",
                    Text("repository", repository), Digests("children", children), new NpgsqlParameter("count", NpgsqlDbType.Bigint) { Value = (long)children.Count }));
            }

            // the blobs are locked, checked and their ids packed into the artifact's row by its INSERT (AddArtifactWrites)
            AddArtifactWrites(batch, artifact, now, needed, children);
            return await CommitAsync(batch, async written =>
            {
                if (children.Count > 0)
                {
                    await written.NextResultAsync().ConfigureAwait(false); // past the assertion
                }

                await written.ReadAsync().ConfigureAwait(false);
                return artifact with { PushedAt = now, FirstPushedAt = Time(written.GetInt64(0)), PulledAt = OptionalTime(written, 1), Version = written.GetInt64(2) };
            }).ConfigureAwait(false);
        }, careful: async connection =>
        {
            // the listed children that exist, locked: a deletion of one waits for this push, then finds its version changed
            var present = new HashSet<Digest>();
            if (children.Count > 0)
            {
                await using var lockChildren = Command(connection, "SELECT digest FROM artifacts WHERE repository = @repository AND digest = ANY(@children) ORDER BY digest FOR UPDATE");
                lockChildren.Parameters.Add(Text("repository", repository));
                lockChildren.Parameters.Add(Digests("children", children));
                await using var reader = await lockChildren.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    present.Add(ToDigest(reader, 0));
                }
            }

            if (requireChildren && artifact.Children.FirstOrDefault(c => !present.Contains(c)) is { IsEmpty: false } missing)
            {
                throw new MissingChildException(artifact.Key, missing);
            }

            // every blob it needs, locked in digest order: a sweep's compare-and-swap on one waits for this push and then fails
            var found = new Dictionary<Digest, Blob>();
            if (needed.Count > 0)
            {
                await using var lockBlobs = Command(connection, $"SELECT {BlobColumns} FROM blobs WHERE digest = ANY(@digests) ORDER BY digest FOR UPDATE");
                lockBlobs.Parameters.Add(Digests("digests", needed));
                await using var reader = await lockBlobs.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    var blob = ReadBlob(reader);
                    found[blob.Digest] = blob;
                }
            }

            foreach (var reference in artifact.References)
            {
                if (reference.IsForeign)
                {
                    continue;
                }

                if (!found.TryGetValue(reference.Digest, out var blob))
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }

                EnsureNotDeleting(blob);
                if (!HasBytes(reference.Digest))
                {
                    throw new MissingBlobException(artifact.Key, reference.Digest);
                }
            }

            // the writes, one round trip: the artifact, then the blobs taken back and the children's new versions (rows this
            // transaction has locked already, so the order takes no lock the old order did not)
            var now = _time.GetUtcNow();
            await using var batch = new NpgsqlBatch(connection);
            AddArtifactWrites(batch, artifact, now, needed, present);
            await using var written = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            await written.ReadAsync().ConfigureAwait(false);
            var stored = artifact with { PushedAt = now, FirstPushedAt = Time(written.GetInt64(0)), PulledAt = OptionalTime(written, 1), Version = written.GetInt64(2) };
            while (await written.NextResultAsync().ConfigureAwait(false))
            {
                // the updates: nothing to read, but an error of one is thrown here
            }

            return stored;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A push's writes, after its locks: the artifact (a push of an artifact already there keeps its first push time and its last pull,
    /// as Harbor's artifact row keeps pull_time; it returns them with its new version), then the blobs taken back, then the new versions
    /// of the children, which the push has locked.
    /// </summary>
    private void AddArtifactWrites(NpgsqlBatch batch, Artifact artifact, DateTimeOffset now, IReadOnlyCollection<Digest> needed, IReadOnlyCollection<Digest> children)
    {
        // harbor_gc_push_ref_keys (migration 5) locks the blobs the artifact needs in digest order (rows the careful write has locked
        // already), fails as the fast write's assertions do (division by zero, WriteAsync) when one is missing or being deleted, and
        // packs the references as ref_keys, each non-foreign one as the id of the row it locked (PackedReferenceKeys)
        var upsert = new NpgsqlBatchCommand(
            $"INSERT INTO artifacts ({ArtifactColumns}, ref_digests, ref_keys) VALUES (@repository, @digest, @media_type, @kind, @artifact_type, @size, @now, @now, @pulled_at, "
            + "@labels, @refs, @children, @subject, @parse_problem, nextval('artifact_version'), @ref_digests, "
            + "harbor_gc_push_ref_keys(@digests, @refused, @ref_digests, @ref_kinds, @ref_foreign)) "
            + "ON CONFLICT (repository, digest) DO UPDATE SET media_type = EXCLUDED.media_type, kind = EXCLUDED.kind, artifact_type = EXCLUDED.artifact_type, "
            + "size = EXCLUDED.size, pushed_at = EXCLUDED.pushed_at, pulled_at = COALESCE(artifacts.pulled_at, EXCLUDED.pulled_at), labels = EXCLUDED.labels, "
            + "refs = EXCLUDED.refs, ref_digests = EXCLUDED.ref_digests, ref_keys = EXCLUDED.ref_keys, children = EXCLUDED.children, subject = EXCLUDED.subject, "
            + "parse_problem = EXCLUDED.parse_problem, version = EXCLUDED.version RETURNING first_pushed_at, pulled_at, version");
        AddArtifact(upsert.Parameters, artifact, now, _mediaTypes);
        upsert.Parameters.Add(Digests("digests", needed));
        upsert.Parameters.Add(new NpgsqlParameter("refused", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = RefusedStatuses });
        batch.BatchCommands.Add(upsert);
        if (needed.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand("UPDATE blobs SET status = 0, updated_at = @now WHERE digest = ANY(@digests)", Ticks("now", now), Digests("digests", needed)));
        }

        if (children.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand("UPDATE artifacts SET version = nextval('artifact_version') WHERE repository = @repository AND digest = ANY(@children)",
                Text("repository", artifact.Repository.Value), Digests("children", children)));
        }
    }

    /// <inheritdoc />
    public async ValueTask<Artifact?> GetArtifactAsync(ArtifactKey key, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadArtifactsAsync(connection, async () =>
        {
            await using var command = Command(connection, $"SELECT {ArtifactColumns} FROM artifacts WHERE repository = @repository AND digest = @digest");
            command.Parameters.Add(Text("repository", key.Repository.Value));
            command.Parameters.Add(DigestParameter("digest", key.Digest));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadArtifact(reader, new RepositoryNames(), _mediaTypes) : null;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>A lookup in the GIN index of children.</remarks>
    public async ValueTask<IReadOnlyList<Artifact>> GetParentsAsync(ArtifactKey child, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadArtifactsAsync(connection, async () =>
        {
            await using var command = Command(connection, ParentsQuery);
            command.Parameters.Add(Text("repository", child.Repository.Value));
            command.Parameters.Add(Digests("child", [child.Digest]));
            return await ReadAllAsync(command, r => ReadArtifact(r, new RepositoryNames(), _mediaTypes), cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<TagPutResult> PutTagAsync(RepositoryName repository, string name, Digest digest, TagExpectation? expected = null, CancellationToken cancellationToken = default)
    {
        TagName.Parse(name);
        cancellationToken.ThrowIfCancellationRequested();
        return WriteAsync(async connection =>
        {
            // one round trip, the statements of the careful write below in the same order, and the decisions it makes in C# made in SQL:
            // the tag's lock; the artifact's new version, refused when there is no artifact; the tag, locked; the compare-and-swap,
            // refused when the tag is not as expected; the tag's write, unless it already points at the digest; the commit. Between the
            // tag's read and its write, its row is locked, or, when there is none, no other writer can create it (they all take the
            // tag's lock first), so the write's condition decides as the read below does.
            var now = _time.GetUtcNow();
            await using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(BatchCommand("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", Text("key", $"tag {repository}:{name}")));
            batch.BatchCommands.Add(BatchCommand(
                "WITH bumped AS (UPDATE artifacts SET version = nextval('artifact_version') WHERE repository = @repository AND digest = @digest RETURNING 1) "
                + "SELECT 1 / (SELECT count(*)::integer FROM bumped)",
                Text("repository", repository.Value), DigestParameter("digest", digest)));
            batch.BatchCommands.Add(BatchCommand($"SELECT {TagColumns} FROM tags WHERE repository = @repository AND name = @name FOR UPDATE",
                Text("repository", repository.Value), Text("name", name)));
            if (expected is { } e)
            {
                batch.BatchCommands.Add(Refuse(null, "(SELECT digest FROM tags WHERE repository = @repository AND name = @name) IS DISTINCT FROM @expected",
                    Text("repository", repository.Value), Text("name", name), DigestParameter("expected", e.Digest)));
            }

            batch.BatchCommands.Add(BatchCommand(
                $"INSERT INTO tags ({TagColumns}) VALUES (@repository, @name, @digest, @pushed_at, NULL) "
                + "ON CONFLICT (repository, name) DO UPDATE SET digest = EXCLUDED.digest, pushed_at = EXCLUDED.pushed_at, pulled_at = NULL WHERE tags.digest <> EXCLUDED.digest",
                Text("repository", repository.Value), Text("name", name), DigestParameter("digest", digest), Ticks("pushed_at", now)));
            return await CommitAsync(batch, async reader =>
            {
                await reader.NextResultAsync().ConfigureAwait(false); // past the lock
                await reader.NextResultAsync().ConfigureAwait(false); // past the artifact's version
                var old = await reader.ReadAsync().ConfigureAwait(false) ? ReadTag(reader, new RepositoryNames()) : null;
                Digest? current = old?.Digest;
                Digest? previous = current != digest ? current : null;
                return old is not null && current == digest ? new TagPutResult(old, previous) : new TagPutResult(new Tag(repository, name, digest, now), previous);
            }).ConfigureAwait(false);
        }, careful: async connection =>
        {
            // the tag's lock (two writes of one tag, the first creating it, never both pass a compare-and-swap); the artifact's new
            // version (a sweep planned before skips it, and the row lock makes a deletion of it wait); the tag, locked
            Tag? old;
            await using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(BatchCommand("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", Text("key", $"tag {repository}:{name}")));
                batch.BatchCommands.Add(BatchCommand("UPDATE artifacts SET version = nextval('artifact_version') WHERE repository = @repository AND digest = @digest RETURNING 1",
                    Text("repository", repository.Value), DigestParameter("digest", digest)));
                batch.BatchCommands.Add(BatchCommand($"SELECT {TagColumns} FROM tags WHERE repository = @repository AND name = @name FOR UPDATE",
                    Text("repository", repository.Value), Text("name", name)));
                await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await reader.NextResultAsync().ConfigureAwait(false); // the lock
                if (!await reader.ReadAsync().ConfigureAwait(false))
                {
                    throw new KeyNotFoundException($"Cannot tag {repository}:{name}: there is no manifest {new ArtifactKey(repository, digest)}.");
                }

                await reader.NextResultAsync().ConfigureAwait(false);
                old = await reader.ReadAsync().ConfigureAwait(false) ? ReadTag(reader, new RepositoryNames()) : null;
            }

            Digest? current = old?.Digest;
            if (expected is { } e && e.Digest != current)
            {
                throw new TagChangedException(repository, name, e.Digest, current);
            }

            Digest? previous = current != digest ? current : null;

            // pointing a tag at the digest it already has is not a push (Harbor's tag controller Ensure returns it untouched)
            if (old is not null && current == digest)
            {
                return new TagPutResult(old, previous);
            }

            var tag = new Tag(repository, name, digest, _time.GetUtcNow());
            await using var upsert = Command(connection,
                $"INSERT INTO tags ({TagColumns}) VALUES (@repository, @name, @digest, @pushed_at, NULL) "
                + "ON CONFLICT (repository, name) DO UPDATE SET digest = EXCLUDED.digest, pushed_at = EXCLUDED.pushed_at, pulled_at = NULL");
            upsert.Parameters.Add(Text("repository", repository.Value));
            upsert.Parameters.Add(Text("name", name));
            upsert.Parameters.Add(DigestParameter("digest", digest));
            upsert.Parameters.Add(Ticks("pushed_at", tag.PushedAt));
            await upsert.ExecuteNonQueryAsync().ConfigureAwait(false);
            return new TagPutResult(tag, previous);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<Tag?> GetTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadTagAsync(connection, repository, name, forUpdate: false).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Tag>> ListTagsAsync(RepositoryName repository, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, $"SELECT {TagColumns} FROM tags WHERE repository = @repository");
        command.Parameters.Add(Text("repository", repository.Value));
        var names = new RepositoryNames();
        return await ReadAllAsync(command, r => ReadTag(r, names), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteTagAsync(RepositoryName repository, string name, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return WriteOneAsync(async connection =>
        {
            await using var command = Command(connection, "DELETE FROM tags WHERE repository = @repository AND name = @name");
            command.Parameters.Add(Text("repository", repository.Value));
            command.Parameters.Add(Text("name", name));
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask PutAccessoryLinkAsync(AccessoryLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        await WriteOneAsync(async connection =>
        {
            await using var command = Command(connection,
                $"INSERT INTO accessory_links ({LinkColumns}) VALUES (@repository, @accessory, @subject, @type, @strength, @tag_scheme) "
                + "ON CONFLICT (repository, accessory) DO UPDATE SET subject = EXCLUDED.subject, type = EXCLUDED.type, strength = EXCLUDED.strength, tag_scheme = EXCLUDED.tag_scheme");
            command.Parameters.Add(Text("repository", link.Repository.Value));
            command.Parameters.Add(DigestParameter("accessory", link.Accessory));
            command.Parameters.Add(DigestParameter("subject", link.Subject));
            command.Parameters.Add(Text("type", link.Type));
            command.Parameters.Add(Small("strength", (short)link.Strength));
            command.Parameters.Add(new NpgsqlParameter("tag_scheme", NpgsqlDbType.Boolean) { Value = link.FromTagScheme });
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<AccessoryLink?> GetAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, $"SELECT {LinkColumns} FROM accessory_links WHERE repository = @repository AND accessory = @accessory");
        command.Parameters.Add(Text("repository", accessory.Repository.Value));
        command.Parameters.Add(DigestParameter("accessory", accessory.Digest));
        var links = await ReadAllAsync(command, r => ReadLink(r, new RepositoryNames()), cancellationToken).ConfigureAwait(false);
        return links.Count == 0 ? null : links[0];
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AccessoryLink>> GetReferrersAsync(ArtifactKey subject, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, $"SELECT {LinkColumns} FROM accessory_links WHERE repository = @repository AND subject = @subject");
        command.Parameters.Add(Text("repository", subject.Repository.Value));
        command.Parameters.Add(DigestParameter("subject", subject.Digest));
        var names = new RepositoryNames();
        return await ReadAllAsync(command, r => ReadLink(r, names), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveAccessoryLinkAsync(ArtifactKey accessory, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return WriteOneAsync(async connection =>
        {
            await using var command = Command(connection, "DELETE FROM accessory_links WHERE repository = @repository AND accessory = @accessory");
            command.Parameters.Add(Text("repository", accessory.Repository.Value));
            command.Parameters.Add(DigestParameter("accessory", accessory.Digest));
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask PutLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        await WriteOneAsync(async connection =>
        {
            await using var command = Command(connection,
                "INSERT INTO layer_links (repository, digest, created_at) VALUES (@repository, @digest, @created_at) "
                + "ON CONFLICT (repository, digest) DO UPDATE SET created_at = EXCLUDED.created_at");
            command.Parameters.Add(Text("repository", link.Repository.Value));
            command.Parameters.Add(DigestParameter("digest", link.Digest));
            command.Parameters.Add(Ticks("created_at", link.CreatedAt));
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> RecordPullAsync(ArtifactKey key, string? tag = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return WriteAsync(async connection =>
        {
            var now = _time.GetUtcNow();
            await using (var artifact = Command(connection, "UPDATE artifacts SET pulled_at = @now WHERE repository = @repository AND digest = @digest"))
            {
                artifact.Parameters.Add(Ticks("now", now));
                artifact.Parameters.Add(Text("repository", key.Repository.Value));
                artifact.Parameters.Add(DigestParameter("digest", key.Digest));
                if (await artifact.ExecuteNonQueryAsync().ConfigureAwait(false) == 0)
                {
                    return false;
                }
            }

            if (tag is not null)
            {
                await using var pulled = Command(connection, "UPDATE tags SET pulled_at = @now WHERE repository = @repository AND name = @name AND digest = @digest");
                pulled.Parameters.Add(Ticks("now", now));
                pulled.Parameters.Add(Text("repository", key.Repository.Value));
                pulled.Parameters.Add(Text("name", tag));
                pulled.Parameters.Add(DigestParameter("digest", key.Digest));
                await pulled.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            return true;
        }, cancellationToken);
    }

    // ---- IRegistryStore ------------------------------------------------------------------------------------------

    /// <inheritdoc />
    /// <remarks>
    /// One repeatable-read, read-only transaction streams each table from the server's cursor: the snapshot is consistent as a whole.
    /// Last come what interrupted blob writes leave in the blob folder, as uploads of no repository: temporary files and, when the
    /// sink wants blobs, blob files that have no record.
    /// </remarks>
    public async ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        cancellationToken.ThrowIfCancellationRequested();
        RecordedBlobPrefixes? recorded = null;
        BlobRowOrdinals? ordinals = null;
        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            await using (var readOnly = Command(connection, "SET TRANSACTION READ ONLY"))
            {
                await readOnly.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // every media type id a row of this snapshot holds was committed before it
            await _mediaTypes.RefreshAsync(connection, cancellationToken).ConfigureAwait(false);
            // the sizes from the planner's statistics (as of the last vacuum or analyze; -1 when never analyzed): a hint for sizing the
            // sink's arrays, which grow when it is short; counting the rows would scan every table once more (0.5-0.9 s at 1M artifacts)
            var estimated = new long[5];
            await using (var counts = Command(connection,
                             "SELECT relname, reltuples FROM pg_class WHERE oid IN ('artifacts'::regclass, 'blobs'::regclass, 'tags'::regclass, 'accessory_links'::regclass); "
                             + "SELECT avg_width FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'artifacts' AND attname = 'ref_keys'"))
            await using (var reader = await counts.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    estimated[reader.GetString(0) switch { "artifacts" => 0, "blobs" => 1, "tags" => 2, _ => 3 }] = Padded(reader.GetFloat(1));
                }

                // the references: the artifacts times the packed reference keys' average width over the smallest entry (a 4-byte id's)
                if (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false) && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    estimated[4] = estimated[0] * reader.GetInt32(0) / PackedReferenceKeys.SmallestEntry;
                }
            }

            var hint = new SnapshotSizeHint((int)estimated[0], (int)estimated[1], (int)estimated[2], (int)estimated[3], estimated[4]);
            sink.OnBegin(hint);

            // an estimate is as likely a little under the count as over it, and an array one row short of the count doubles: a 32nd more
            static long Padded(float estimate) => estimate < 1 ? 0 : Math.Min(int.MaxValue, (long)estimate + ((long)estimate / 32) + 64);

            // one connection, in order: the server sends while this thread decodes and the sink's digest interner (a thread of its
            // own) works. Reading the blobs on a second connection in an exported snapshot was tried: on 2 cores it cost the client
            // 1 s more CPU at 1M (3M blobs held until the artifacts were done live long enough for the collector to promote them)
            // and saved no time (Harbor.Gc.Benchmarks/README.md)
            // each table as a binary COPY whose rows are decoded from the buffer (BinaryCopyReader): at 1M artifacts this costs the
            // client a third of what a data reader's row by row reading did (Harbor.Gc.Benchmarks/README.md)
            var names = new Utf8Interner<RepositoryName>(RepositoryName.Parse);
            var n = 0;
            // a collection's graph builder takes the columns it reads straight from the buffer (IColumnSnapshotSink): no Blob, Artifact
            // or BlobReference per row (at 1M artifacts 2.9M blobs and 8.9M references), and the server sends fewer columns
            // (only with the blobs: an artifact's references name them by their ordinals among the blobs sent)
            var columns = sink is IColumnSnapshotSink { TakesColumns: true, WantsBlobs: true } c ? c : null;
            if (sink.WantsBlobs)
            {
                // to find blob files without a record
                recorded = new RecordedBlobPrefixes(hint.Blobs);
                if (columns is not null)
                {
                    // one field a blob, packed by the server on each write (schema version 4): a field costs the server a send call;
                    // a generated column, so a query's COPY (a table's COPY cannot name it)
                    // the blob's row id too (schema version 5): the artifacts' references name their blobs by it
                    ordinals = new BlobRowOrdinals(hint.Blobs);
                    var ordinal = 0;
                    var blobRows = await BinaryCopyReader.StartAsync(connection, "SELECT snapshot FROM blobs", "blobs", 1, cancellationToken).ConfigureAwait(false);
                    n = await ForEachRowAsync(blobRows, r =>
                    {
                        var digest = UnpackBlobSnapshot(r.Bytes(0), out var id, out var size, out var lastTouched, out var status);
                        recorded.Add(digest.Prefix);
                        ordinals.Add(id, ordinal++, digest);
                        columns.OnBlobColumns(digest, size, lastTouched, status);
                    }, n).ConfigureAwait(false);
                }
                else
                {
                    var blobMediaTypes = new Utf8Interner<string>(t => t, capacity: 4096);
                    n = await DeliverAsync("blobs", BlobColumns, r =>
                    {
                        var blob = new Blob(r.Digest(0), r.Int64(1), r.IsNull(2) ? null : blobMediaTypes.Get(r.Bytes(2)), Time(r.Int64(3)), Time(r.Int64(4)), (BlobStatus)r.Int16(5));
                        recorded.Add(blob.Digest.Prefix);
                        return blob;
                    }, sink.OnBlob, n).ConfigureAwait(false);
                }
            }

            if (columns is not null)
            {
                // the references as blob row ids (schema version 5): an id is the ordinal of the blob the sink was given above; a
                // reference without one (a foreign layer, a blob without a row) comes as its digest
                var ids = new long[64];
                var references = new Digest[64];
                var kinds = new BlobReferenceKind[64];
                var blobs = new int[64];
                var children = new Digest[16];
                var artifactRows = await BinaryCopyReader.StartTableAsync(connection, "artifacts", ArtifactSnapshotColumns,
                    cancellationToken).ConfigureAwait(false);
                n = await ForEachRowAsync(artifactRows, r =>
                {
                    var artifact = ReadArtifactColumns(r, names);
                    var referenceCount = PackedReferenceKeys.Unpack(r.Bytes(6), ref ids, ref references, ref kinds);
                    if (blobs.Length < ids.Length)
                    {
                        blobs = new int[ids.Length];
                    }

                    for (var i = 0; i < referenceCount; i++)
                    {
                        var id = ids[i];
                        blobs[i] = id < 0 ? -1 : ordinals!.OrdinalOf(id) is var o and >= 0 ? o
                            : throw new InvalidDataException(
                                $"artifacts.ref_keys of {artifact.Repository}@{artifact.Digest} names blob row id {id}, and the store has no blob row of that id: a blob row was "
                                + "deleted while an artifact referenced it (by hand, or by something other than Harbor.Gc). Nothing was deleted; restore the "
                                + "row or the database from a backup.");
                    }

                    var childCount = r.Digests(7, ref children);
                    columns.OnArtifactColumns(artifact, blobs.AsSpan(0, referenceCount), references.AsSpan(0, referenceCount), kinds.AsSpan(0, referenceCount),
                        children.AsSpan(0, childCount));
                }, n).ConfigureAwait(false);
            }
            else
            {
                n = await DeliverAsync("artifacts", ArtifactColumns, r => ReadArtifact(r, names, _mediaTypes), sink.OnArtifact, n).ConfigureAwait(false);
            }

            n = await DeliverAsync("tags", TagColumns,
                r => new Tag(names.Get(r.Bytes(0)), r.String(1), r.Digest(2), Time(r.Int64(3)), r.IsNull(4) ? null : Time(r.Int64(4))), sink.OnTag, n).ConfigureAwait(false);
            n = await DeliverAsync("accessory_links", LinkColumns,
                r => new AccessoryLink(names.Get(r.Bytes(0)), r.Digest(1), r.Digest(2), r.String(3), (ReferenceStrength)r.Int16(4), r.Boolean(5)), sink.OnAccessoryLink, n).ConfigureAwait(false);
            await DeliverAsync("layer_links", "repository, digest, created_at",
                r => new LayerLink(names.Get(r.Bytes(0)), r.Digest(1), Time(r.Int64(2))), sink.OnLayerLink, n).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);

            // a table's COPY, not a query's: the server copies each row as it scans it, with no plan to run and no projection
            async Task<int> DeliverAsync<T>(string table, string tableColumns, Func<BinaryCopyReader, T> read, Action<T> deliver, int n) =>
                await ForEachRowAsync(await BinaryCopyReader.StartTableAsync(connection, table, tableColumns, cancellationToken).ConfigureAwait(false),
                    r => deliver(read(r)), n).ConfigureAwait(false);

            async Task<int> ForEachRowAsync(BinaryCopyReader started, Action<BinaryCopyReader> each, int n)
            {
                await using var rows = started;
                while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    if ((++n & 0xFFF) == 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                    }

                    each(rows);
                }

                return n;
            }
        }

        var mayBeRecorded = recorded is null ? null : new Func<string, string, bool>(recorded.MayBeRecorded);
        foreach (var upload in _files.Leftovers(mayBeRecorded, cancellationToken))
        {
            sink.OnUpload(upload);
        }
    }

    /// <summary>
    /// An artifact's scalar columns from a row of <see cref="ArtifactSnapshotColumns"/> (its references, field 6, and children, field 7,
    /// are read by the caller).
    /// </summary>
    private ArtifactColumns ReadArtifactColumns(BinaryCopyReader row, Utf8Interner<RepositoryName> names)
    {
        var repository = names.Get(row.Bytes(0));
        var digest = row.Digest(1);
        var mediaType = _mediaTypes.NameOf(row.Int32(2)) ?? throw new InvalidDataException($"artifacts.media_type of {repository}@{digest} is 0 (none).");
        return new ArtifactColumns(repository, digest, mediaType, (ManifestKind)row.Int16(3), row.Int64(4), row.Int64(5), row.Int64(9), false,
            row.IsNull(8) ? null : row.String(8));
    }

    /// <summary>
    /// A blob's <c>blobs.snapshot</c> (migrations 4 and 5): the row's id, the raw digest, then the size, the last touch (UTC ticks; the
    /// later of <c>created_at</c> and <c>updated_at</c>) and the status, big-endian.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not of that form.</exception>
    internal static Digest UnpackBlobSnapshot(ReadOnlySpan<byte> packed, out long id, out long size, out long lastTouchedTicks, out BlobStatus status)
    {
        var hashLength = packed.Length - 26;
        if (hashLength is not (32 or 64))
        {
            throw new InvalidDataException($"blobs.snapshot is damaged: {packed.Length} bytes, not a digest's 32 or 64 and 26 more.");
        }

        id = BinaryPrimitives.ReadInt64BigEndian(packed);
        packed = packed[8..];
        var rest = packed[hashLength..];
        size = BinaryPrimitives.ReadInt64BigEndian(rest);
        lastTouchedTicks = BinaryPrimitives.ReadInt64BigEndian(rest[8..]);
        status = (BlobStatus)BinaryPrimitives.ReadInt16BigEndian(rest[16..]);
        return Digest.FromHash(packed[..hashLength]);
    }

    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var repository = key.Repository.Value;
        return WriteAsync(async connection =>
        {
            // one round trip: the artifact's row locked, with the compare-and-swap asserted on it (refused when it is not there or
            // has another version: the careful write below then says which); the deletions as below; the commit
            await using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(Refuse(
                "WITH locked AS MATERIALIZED (SELECT version FROM artifacts WHERE repository = @repository AND digest = @digest FOR UPDATE)",
                "(SELECT count(*) FROM locked WHERE version = @expected) <> 1",
                Text("repository", repository), DigestParameter("digest", key.Digest), new NpgsqlParameter("expected", NpgsqlDbType.Bigint) { Value = expectedVersion }));
            batch.BatchCommands.Add(BatchCommand("DELETE FROM tags WHERE repository = @repository AND digest = @digest", Text("repository", repository), DigestParameter("digest", key.Digest)));
            batch.BatchCommands.Add(BatchCommand("DELETE FROM accessory_links WHERE repository = @repository AND accessory = @digest", Text("repository", repository), DigestParameter("digest", key.Digest)));
            batch.BatchCommands.Add(BatchCommand("DELETE FROM accessory_links WHERE repository = @repository AND subject = @digest AND strength = @soft",
                Text("repository", repository), DigestParameter("digest", key.Digest), Small("soft", (short)ReferenceStrength.Soft)));
            batch.BatchCommands.Add(BatchCommand("DELETE FROM artifacts WHERE repository = @repository AND digest = @digest", Text("repository", repository), DigestParameter("digest", key.Digest)));
            return await CommitAsync(batch, _ => Task.FromResult(ArtifactDeleteOutcome.Deleted)).ConfigureAwait(false);
        }, careful: async connection =>
        {
            await using (var read = Command(connection, "SELECT version FROM artifacts WHERE repository = @repository AND digest = @digest FOR UPDATE"))
            {
                read.Parameters.Add(Text("repository", repository));
                read.Parameters.Add(DigestParameter("digest", key.Digest));
                var version = await read.ExecuteScalarAsync().ConfigureAwait(false);
                if (version is not long found)
                {
                    return ArtifactDeleteOutcome.NotFound;
                }

                if (found != expectedVersion)
                {
                    return ArtifactDeleteOutcome.Changed;
                }
            }

            // its tags, its link as accessory and the soft links of its accessories, then the record
            await using var delete = Command(connection,
                "DELETE FROM tags WHERE repository = @repository AND digest = @digest; "
                + "DELETE FROM accessory_links WHERE repository = @repository AND accessory = @digest; "
                + "DELETE FROM accessory_links WHERE repository = @repository AND subject = @digest AND strength = @soft; "
                + "DELETE FROM artifacts WHERE repository = @repository AND digest = @digest");
            delete.Parameters.Add(Text("repository", repository));
            delete.Parameters.Add(DigestParameter("digest", key.Digest));
            delete.Parameters.Add(Small("soft", (short)ReferenceStrength.Soft));
            await delete.ExecuteNonQueryAsync().ConfigureAwait(false);
            return ArtifactDeleteOutcome.Deleted;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadBlobAsync(connection, digest, forUpdate: false).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>One <c>UPDATE … WHERE status = ANY(expected)</c>: the row count is the answer. A push holding the row makes it wait, and then it sees the push's commit.</remarks>
    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var statuses = Enum.GetValues<BlobStatus>().Where(s => expected.Contains(s)).Select(s => (short)s).ToArray();
        return WriteOneAsync(async connection =>
        {
            await using var command = Command(connection,
                "UPDATE blobs SET status = @next WHERE digest = @digest AND status = ANY(@expected) AND (@seen::bigint IS NULL OR GREATEST(created_at, updated_at) = @seen::bigint)");
            command.Parameters.Add(Small("next", (short)next));
            command.Parameters.Add(DigestParameter("digest", digest));
            command.Parameters.Add(new NpgsqlParameter("expected", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = statuses });
            command.Parameters.Add(new NpgsqlParameter("seen", NpgsqlDbType.Bigint) { Value = lastTouchedAt is { } seen ? seen.UtcTicks : DBNull.Value });
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>A lookup in the GIN index of referenced digests: it never scans the artifacts.</remarks>
    public async ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, ReferencedQuery);
        command.Parameters.Add(Digests("digests", [digest]));
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EnsureWritable();
        _files.Delete(digest);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await WriteOneAsync(async connection =>
        {
            await using var command = Command(connection, "DELETE FROM blobs WHERE digest = @digest");
            command.Parameters.Add(DigestParameter("digest", digest));
            return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The link's row is locked, then the blob's row is locked in share mode: a push that references the blob holds it until it commits,
    /// so the reference check that follows sees that push's artifact.
    /// </remarks>
    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        return WriteAsync(async connection =>
        {
            var repository = link.Repository.Value;
            await using (var read = Command(connection, "SELECT created_at FROM layer_links WHERE repository = @repository AND digest = @digest FOR UPDATE"))
            {
                read.Parameters.Add(Text("repository", repository));
                read.Parameters.Add(DigestParameter("digest", link.Digest));
                var createdAt = await read.ExecuteScalarAsync().ConfigureAwait(false);
                if (createdAt is not long ticks)
                {
                    return LayerLinkDeleteOutcome.NotFound;
                }

                if (ticks != link.CreatedAt.UtcTicks)
                {
                    return LayerLinkDeleteOutcome.Kept;
                }
            }

            await using (var share = Command(connection, "SELECT 1 FROM blobs WHERE digest = @digest FOR SHARE"))
            {
                share.Parameters.Add(DigestParameter("digest", link.Digest));
                await share.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            await using (var used = Command(connection, ReferencedInRepositoryQuery))
            {
                used.Parameters.Add(Text("repository", repository));
                used.Parameters.Add(Digests("digests", [link.Digest]));
                if (await used.ExecuteScalarAsync().ConfigureAwait(false) is true)
                {
                    return LayerLinkDeleteOutcome.Kept;
                }
            }

            await using var delete = Command(connection, "DELETE FROM layer_links WHERE repository = @repository AND digest = @digest");
            delete.Parameters.Add(Text("repository", repository));
            delete.Parameters.Add(DigestParameter("digest", link.Digest));
            await delete.ExecuteNonQueryAsync().ConfigureAwait(false);
            return LayerLinkDeleteOutcome.Deleted;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// This store's uploads are what interrupted blob writes leave (of no repository): one is deleted only when it is unchanged
    /// since the plan and nobody has it open. An unrecorded blob file is deleted under the digest's advisory lock, which an upload
    /// holds from before it renames its bytes into place until its record is committed, and only while it still has no record.
    /// </remarks>
    public async ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        cancellationToken.ThrowIfCancellationRequested();
        if (upload.Repository is not null)
        {
            return UploadDeleteOutcome.NotFound;
        }

        EnsureWritable();
        if (BlobLeftoverIds.UnrecordedDigest(upload.Id) is { } digest)
        {
            return await WriteAsync(async connection =>
            {
                await LockDigestAsync(connection, digest).ConfigureAwait(false);
                return await ReadBlobAsync(connection, digest, forUpdate: false).ConfigureAwait(false) is null ? _files.DeleteLeftover(upload) : UploadDeleteOutcome.Changed;
            }, cancellationToken).ConfigureAwait(false);
        }

        return _files.DeleteLeftover(upload);
    }

    // ---- internals -----------------------------------------------------------------------------------------------

    /// <summary>
    /// "Is this blob referenced": a GIN index lookup (<c>@digests</c> is a one-element array). It counts the references, not
    /// <c>EXISTS</c>: for a digest it has no statistics of (a layer no other artifact shares, or a prepared statement's plan for
    /// any digest) PostgreSQL guesses that half a percent of the artifacts match, and prices a sequential scan that stops at the first
    /// as cheaper than the index; the sweep asks about blobs no artifact references, so that scan reads the whole table. Counting has
    /// no first match to stop at, and a blob the sweep asks about has no reference or a few (pushed since the plan).
    /// </summary>
    internal const string ReferencedQuery = "SELECT count(*) > 0 FROM artifacts WHERE ref_digests @> @digests";

    /// <summary>"Does an artifact of the repository reference this blob": counted as <see cref="ReferencedQuery"/> is, for the same reason.</summary>
    internal const string ReferencedInRepositoryQuery = "SELECT count(*) > 0 FROM artifacts WHERE repository = @repository AND ref_digests @> @digests";

    /// <summary>"Which indexes of the repository list this child": a GIN index lookup (<c>@child</c> is a one-element array).</summary>
    internal const string ParentsQuery = $"SELECT {ArtifactColumns} FROM artifacts WHERE repository = @repository AND children @> @child";

    /// <summary>A new connection to the store's database (for tests: EXPLAIN, and looking at the tables).</summary>
    internal ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) => _dataSource.OpenConnectionAsync(cancellationToken);

    private void EnsureWritable()
    {
        if (_readOnly)
        {
            throw new InvalidOperationException($"The postgres: store {Where} was opened read-only.");
        }
    }

    /// <summary>The statuses <see cref="EnsureNotDeleting"/> refuses, as the <c>blobs.status</c> column holds them.</summary>
    private static readonly short[] RefusedStatuses = [(short)BlobStatus.Deleting, (short)BlobStatus.Deleted, (short)BlobStatus.DeleteFailed];

    /// <summary>Refuses a blob a run has committed to deleting: <c>deleting</c>, <c>deleted</c>, and <c>deleteFailed</c>.</summary>
    private static void EnsureNotDeleting(Blob blob)
    {
        if (blob.Status is BlobStatus.Deleting or BlobStatus.Deleted or BlobStatus.DeleteFailed)
        {
            throw new BlobBeingDeletedException(blob.Digest);
        }
    }

    /// <summary>Runs <paramref name="action"/> as one read-committed transaction on a connection of its own.</summary>
    private async ValueTask<T> WriteAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancellationToken)
    {
        EnsureWritable();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var result = await action(connection).ConfigureAwait(false);
        await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Runs <paramref name="action"/> as one read-committed transaction on a connection of its own, which <paramref name="action"/> ends
    /// itself with its last batch (<see cref="CommitAsync"/>): the commit takes no round trip of its own. An exception before that rolls
    /// the transaction back.
    /// </summary>
    private async ValueTask<T> WriteCommittingAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancellationToken)
    {
        EnsureWritable();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        return await action(connection).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a write as one read-committed transaction on a connection of its own, first in one round trip: <paramref name="fast"/> sends
    /// its statements in one batch that ends with <c>COMMIT</c> (<see cref="CommitAsync"/>; <c>BEGIN</c> goes with it) and asserts in
    /// SQL, on the rows it has locked, what the write needs (<see cref="Refuse"/>: an assertion that fails aborts the batch, nothing is
    /// written). Then, only when an assertion failed, <paramref name="careful"/> runs the write step by step in a new transaction on the
    /// same connection, reading what it checks and throwing the exception that says what is wrong (or writing, when the state changed
    /// in between).
    /// </summary>
    private async ValueTask<T> WriteAsync<T>(Func<NpgsqlConnection, Task<T>>? fast, Func<NpgsqlConnection, Task<T>> careful, CancellationToken cancellationToken)
    {
        EnsureWritable();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (fast is not null)
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
            try
            {
                return await fast(connection).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DivisionByZero)
            {
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        await using var second = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var result = await careful(connection).ConfigureAwait(false);
        await second.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// An assertion for a batch of <see cref="WriteAsync{T}(Func{NpgsqlConnection, Task{T}}, Func{NpgsqlConnection, Task{T}}, CancellationToken)"/>:
    /// a statement that fails (division by zero, which none of the store's statements makes otherwise) when <paramref name="refused"/>,
    /// a SQL condition, holds; <paramref name="with"/>, when given, is the statement's <c>WITH</c> clause (the rows it locks).
    /// </summary>
    private static NpgsqlBatchCommand Refuse(string? with, string refused, params NpgsqlParameter[] parameters) =>
        BatchCommand($"{(with is null ? string.Empty : with + " ")}SELECT 1 / (CASE WHEN {refused} THEN 0 ELSE 1 END)", parameters);

    /// <summary>
    /// Sends <paramref name="batch"/> with <c>COMMIT</c> as its last statement, hands its results to <paramref name="read"/>, and reads
    /// the rest (an error of a later statement, the commit's included, is thrown here): the transaction ends in the batch's round trip.
    /// </summary>
    private static async Task<T> CommitAsync<T>(NpgsqlBatch batch, Func<NpgsqlDataReader, Task<T>> read)
    {
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
        var result = await read(reader).ConfigureAwait(false);
        while (await reader.NextResultAsync().ConfigureAwait(false))
        {
            // nothing to read, but an error of a statement is thrown here
        }

        return result;
    }

    /// <summary>
    /// Runs <paramref name="action"/>, one statement, on a connection of its own without an explicit transaction: the statement is its own
    /// transaction (atomic, at read committed), and the round trip of a separate <c>COMMIT</c> is saved.
    /// </summary>
    private async ValueTask<T> WriteOneAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancellationToken)
    {
        EnsureWritable();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await action(connection).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="read"/>, a read of artifact rows; when a row holds a media type id added since this process last read them
    /// (another process pushed it), reads them on <paramref name="connection"/> and runs it again.
    /// </summary>
    private async Task<T> ReadArtifactsAsync<T>(NpgsqlConnection connection, Func<Task<T>> read, CancellationToken cancellationToken)
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (UnknownMediaTypeIdException)
        {
            await _mediaTypes.RefreshAsync(connection, cancellationToken).ConfigureAwait(false);
            return await read().ConfigureAwait(false);
        }
    }

    /// <summary>A transaction-level advisory lock on a digest (its first 64 bits), released at commit or rollback.</summary>
    private static async Task LockDigestAsync(NpgsqlConnection connection, Digest digest)
    {
        await using var command = Command(connection, "SELECT pg_advisory_xact_lock(@key)");
        command.Parameters.Add(DigestLockKey(digest));
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>The key of a digest's advisory lock: its first 64 bits.</summary>
    private static NpgsqlParameter DigestLockKey(Digest digest) => new("key", NpgsqlDbType.Bigint) { Value = unchecked((long)digest.Prefix) };

    private static async Task TouchBlobAsync(NpgsqlConnection connection, Digest digest, DateTimeOffset now)
    {
        await using var command = Command(connection, "UPDATE blobs SET status = 0, updated_at = @now WHERE digest = @digest");
        command.Parameters.Add(Ticks("now", now));
        command.Parameters.Add(DigestParameter("digest", digest));
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private static async Task<Blob?> ReadBlobAsync(NpgsqlConnection connection, Digest digest, bool forUpdate)
    {
        await using var command = Command(connection, $"SELECT {BlobColumns} FROM blobs WHERE digest = @digest{(forUpdate ? " FOR UPDATE" : string.Empty)}");
        command.Parameters.Add(DigestParameter("digest", digest));
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        return await reader.ReadAsync().ConfigureAwait(false) ? ReadBlob(reader) : null;
    }

    private static async Task<Tag?> ReadTagAsync(NpgsqlConnection connection, RepositoryName repository, string name, bool forUpdate)
    {
        await using var command = Command(connection, $"SELECT {TagColumns} FROM tags WHERE repository = @repository AND name = @name{(forUpdate ? " FOR UPDATE" : string.Empty)}");
        command.Parameters.Add(Text("repository", repository.Value));
        command.Parameters.Add(Text("name", name));
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        return await reader.ReadAsync().ConfigureAwait(false) ? ReadTag(reader, new RepositoryNames()) : null;
    }

    private static async Task<IReadOnlyList<T>> ReadAllAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(read(reader));
        }

        return list;
    }

    // ---- rows ----------------------------------------------------------------------------------------------------

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql) => new(sql, connection);

    private static NpgsqlBatchCommand BatchCommand(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter Text(string name, string? value) => new(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value };

    private static NpgsqlParameter Small(string name, short value) => new(name, NpgsqlDbType.Smallint) { Value = value };

    private static NpgsqlParameter Ticks(string name, DateTimeOffset? at) => new(name, NpgsqlDbType.Bigint) { Value = at is { } t ? t.UtcTicks : DBNull.Value };

    private static NpgsqlParameter DigestParameter(string name, Digest? digest) => new(name, NpgsqlDbType.Bytea) { Value = digest is { } d ? d.ToHashBytes() : DBNull.Value };

    private static NpgsqlParameter Digests(string name, IEnumerable<Digest> digests) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = digests.Select(d => d.ToHashBytes()).ToArray() };

    private static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    private static DateTimeOffset? OptionalTime(NpgsqlDataReader reader, int column) => reader.IsDBNull(column) ? null : Time(reader.GetInt64(column));

    private static string? OptionalText(NpgsqlDataReader reader, int column) => reader.IsDBNull(column) ? null : reader.GetString(column);

    private static Digest ToDigest(NpgsqlDataReader reader, int column)
    {
        // into a buffer of the thread's, not a new array per digest (millions of them in a snapshot); one byte more than the longest
        // hash, so a longer value (damaged) is refused by FromHash as a short one is, never cut to a digest
        var buffer = t_hash ??= new byte[65];
        var length = (int)reader.GetBytes(column, 0, buffer, 0, buffer.Length);
        return Digest.FromHash(buffer.AsSpan(0, length));
    }

    private static void AddBlob(NpgsqlParameterCollection parameters, Blob blob)
    {
        parameters.Add(DigestParameter("digest", blob.Digest));
        parameters.Add(new NpgsqlParameter("size", NpgsqlDbType.Bigint) { Value = blob.Size });
        parameters.Add(Text("media_type", blob.MediaType));
        parameters.Add(Ticks("created_at", blob.CreatedAt));
        parameters.Add(Ticks("updated_at", blob.UpdatedAt));
        parameters.Add(Small("status", (short)blob.Status));
    }

    private static Blob ReadBlob(NpgsqlDataReader reader) => new(
        ToDigest(reader, 0), reader.GetInt64(1), OptionalText(reader, 2), Time(reader.GetInt64(3)), Time(reader.GetInt64(4)), (BlobStatus)reader.GetInt16(5));

    private static void AddArtifact(NpgsqlParameterCollection parameters, Artifact artifact, DateTimeOffset now, PostgresMediaTypes mediaTypes)
    {
        var references = artifact.References;
        parameters.Add(Text("repository", artifact.Repository.Value));
        parameters.Add(DigestParameter("digest", artifact.Digest));
        parameters.Add(new NpgsqlParameter("media_type", NpgsqlDbType.Integer) { Value = mediaTypes.IdOf(artifact.MediaType) });
        parameters.Add(Small("kind", (short)artifact.Kind));
        parameters.Add(new NpgsqlParameter("artifact_type", NpgsqlDbType.Integer) { Value = artifact.ArtifactType is { } type ? mediaTypes.IdOf(type) : DBNull.Value });
        parameters.Add(new NpgsqlParameter("size", NpgsqlDbType.Bigint) { Value = artifact.Size });
        parameters.Add(Ticks("now", now));
        parameters.Add(Ticks("pulled_at", artifact.PulledAt));
        parameters.Add(new NpgsqlParameter("labels", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = artifact.Labels.ToArray() });
        parameters.Add(Digests("ref_digests", references.Select(r => r.Digest)));
        parameters.Add(new NpgsqlParameter("ref_kinds", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = references.Select(r => (short)r.Kind).ToArray() });
        parameters.Add(new NpgsqlParameter("ref_foreign", NpgsqlDbType.Array | NpgsqlDbType.Boolean) { Value = references.Select(r => r.IsForeign).ToArray() });
        parameters.Add(new NpgsqlParameter("refs", NpgsqlDbType.Bytea) { Value = PackedReferences.Pack(references, mediaTypes) });
        parameters.Add(Digests("children", artifact.Children));
        parameters.Add(DigestParameter("subject", artifact.Subject));
        parameters.Add(Text("parse_problem", artifact.ParseProblem));
    }

    private static Artifact ReadArtifact(NpgsqlDataReader reader, RepositoryNames names, PostgresMediaTypes mediaTypes)
    {
        var repository = names.Get(reader.GetString(0));
        var digest = ToDigest(reader, 1);
        var mediaType = mediaTypes.NameOf(reader.GetInt32(2)) ?? throw new InvalidDataException($"artifacts.media_type of {repository}@{digest} is 0 (none).");
        var kind = (ManifestKind)reader.GetInt16(3);
        var artifactType = reader.IsDBNull(4) ? null : mediaTypes.NameOf(reader.GetInt32(4));
        var size = reader.GetInt64(5);
        var pushedAt = Time(reader.GetInt64(6));
        var firstPushedAt = Time(reader.GetInt64(7));
        var pulledAt = OptionalTime(reader, 8);
        var labels = reader.GetFieldValue<string[]>(9);
        var references = PackedReferences.Unpack(reader.GetFieldValue<byte[]>(10), mediaTypes);
        var children = reader.GetFieldValue<byte[][]>(11);
        Digest? subject = reader.IsDBNull(12) ? null : ToDigest(reader, 12);
        var parseProblem = OptionalText(reader, 13);
        var version = reader.GetInt64(14);

        return new Artifact
        {
            Repository = repository,
            Digest = digest,
            MediaType = mediaType,
            Kind = kind,
            ArtifactType = artifactType,
            Size = size,
            PushedAt = pushedAt,
            FirstPushedAt = firstPushedAt,
            PulledAt = pulledAt,
            Labels = [.. labels],
            References = references,
            Children = [.. children.Select(c => Digest.FromHash(c))],
            Subject = subject,
            ParseProblem = parseProblem,
            Version = version,
        };
    }

    private static Artifact ReadArtifact(BinaryCopyReader row, Utf8Interner<RepositoryName> names, PostgresMediaTypes mediaTypes)
    {
        var repository = names.Get(row.Bytes(0));
        var digest = row.Digest(1);
        return new Artifact
        {
            Repository = repository,
            Digest = digest,
            MediaType = mediaTypes.NameOf(row.Int32(2)) ?? throw new InvalidDataException($"artifacts.media_type of {repository}@{digest} is 0 (none)."),
            Kind = (ManifestKind)row.Int16(3),
            ArtifactType = row.IsNull(4) ? null : mediaTypes.NameOf(row.Int32(4)),
            Size = row.Int64(5),
            PushedAt = Time(row.Int64(6)),
            FirstPushedAt = Time(row.Int64(7)),
            PulledAt = row.IsNull(8) ? null : Time(row.Int64(8)),
            Labels = row.Strings(9),
            References = PackedReferences.Unpack(row.Bytes(10), mediaTypes),
            Children = row.Digests(11),
            Subject = row.IsNull(12) ? null : row.Digest(12),
            ParseProblem = row.IsNull(13) ? null : row.String(13),
            Version = row.Int64(14),
        };
    }

    private static Tag ReadTag(NpgsqlDataReader reader, RepositoryNames names) =>
        new(names.Get(reader.GetString(0)), reader.GetString(1), ToDigest(reader, 2), Time(reader.GetInt64(3)), OptionalTime(reader, 4));

    private static AccessoryLink ReadLink(NpgsqlDataReader reader, RepositoryNames names) =>
        new(names.Get(reader.GetString(0)), ToDigest(reader, 1), ToDigest(reader, 2), reader.GetString(3), (ReferenceStrength)reader.GetInt16(4), reader.GetBoolean(5));
}
