using System.Collections.Immutable;
using System.Globalization;
using System.Net.Sockets;
using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Distribution;
using Npgsql;

namespace Harbor.Gc.Storage.Postgres;

/// <summary>
/// A read-only store over a Harbor installation: its metadata from Harbor's PostgreSQL database (projects, repositories, artifacts
/// with their push and pull times, tags with theirs, index references, accessories, blobs with their status), and blob presence,
/// layer links and unfinished uploads from the registry's storage (the Distribution layout, read by
/// <see cref="DistributionRegistryStore"/>).
/// </summary>
/// <remarks>
/// <para>
/// Since Harbor 2.15 the storage holds no tags (goharbor/harbor#22507): the database is the truth for artifacts, tags and
/// accessories, and the storage for what bytes exist. An artifact's references come from its manifest's bytes in the storage; when
/// the storage lacks them, from the database's <c>artifact_blob</c> rows, and the artifact is kept (unknown kind) with a warning. A
/// manifest the storage holds whose artifact the database no longer has and <c>artifact_trash</c> lists (Harbor deleted it) is
/// delivered with <see cref="Artifact.Trashed"/> set: GC plans it as <c>deleted-in-harbor</c> once older than the time window. One
/// that <c>artifact_trash</c> does not list either is kept (unknown kind, with its references) and warned.
/// </para>
/// <para>
/// Each snapshot also keeps what Harbor's own GC reads of the rows, so that a plan can list where Harbor decides differently
/// (<see cref="Collection.CollectionPlan.DiffersFromHarbor"/>).
/// </para>
/// <para>
/// The database's schema version (<c>schema_migrations</c>) must be one of <see cref="SupportedSchemaVersions"/>, and the tables the
/// store reads must be there: anything else is refused (an <see cref="InvalidDataException"/> saying what and where) before a row is read. A storage folder
/// that holds none of the manifests the database lists is refused too: it is not this installation's storage. Each smaller
/// disagreement (a blob the database lists that the storage lacks, blobs in the storage the database does not list) is a warning.
/// </para>
/// <para>
/// Writing into a live Harbor database is not done here: every mutation throws <see cref="NotSupportedException"/>. Apply a plan
/// through Harbor (its API, or its own GC).
/// </para>
/// </remarks>
public sealed class HarborDatabaseStore : IRegistryStore, IHarborInstallation
{
    /// <summary>
    /// The <c>schema_migrations</c> versions this store reads: Harbor 2.11 (140) to 2.15.3 (181). The columns it reads are the same
    /// in each (checked against Harbor's migrations: none of 0150 to 0181 changes project, repository, artifact, tag,
    /// artifact_reference, artifact_accessory, blob, artifact_blob, project_blob or artifact_trash; 0140 adds artifact.artifact_type; 0190, Harbor
    /// 2.16, adds artifact_accessory.source).
    /// </summary>
    public static readonly ImmutableArray<long> SupportedSchemaVersions = [140, 150, 160, 170, 171, 180, 181];

    /// <summary>The tables the store reads.</summary>
    public static readonly ImmutableArray<string> Tables =
        ["schema_migrations", "project", "repository", "artifact", "tag", "artifact_reference", "artifact_accessory", "blob", "artifact_blob", "project_blob", "artifact_trash"];

    private readonly string _connectionString;
    private readonly string _where;
    private readonly DistributionRegistryStore _storage;

    /// <summary>Opens the store; nothing is read until <see cref="ReadSnapshotAsync"/>.</summary>
    /// <param name="connection">How to reach Harbor's database (host, port, user, database, password).</param>
    /// <param name="storageRoot">The registry's storage <c>rootdirectory</c> (the folder holding <c>docker/registry/v2</c>).</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="DirectoryNotFoundException">The storage folder is missing or holds no <c>docker/registry/v2</c>.</exception>
    public HarborDatabaseStore(NpgsqlConnectionStringBuilder connection, string storageRoot, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var builder = new NpgsqlConnectionStringBuilder(connection.ConnectionString) { Pooling = false, ApplicationName = "harbor-gc" };
        if (builder.Timeout == 15)
        {
            builder.Timeout = 10;
        }

        _connectionString = builder.ConnectionString;
        _where = string.Create(CultureInfo.InvariantCulture, $"postgresql://{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}");
        _storage = new DistributionRegistryStore(storageRoot, timeProvider);
        Description = $"harbor:{_where}?storage={_storage.Root}";
    }

    /// <inheritdoc />
    /// <remarks>Never holds the password.</remarks>
    public string Description { get; }

    /// <summary>The schema version the last snapshot read.</summary>
    public long? SchemaVersion { get; private set; }

    /// <summary>What Harbor's own GC would read, from the last snapshot (for the plan's differences from Harbor).</summary>
    HarborFacts? IHarborInstallation.Facts => _facts;

    private HarborFacts? _facts;

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The database cannot be reached or read, is not a Harbor database of a supported schema version, or the storage is not its registry's.</exception>
    public async ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var storage = new StorageSink();
        await _storage.ReadSnapshotAsync(storage, cancellationToken).ConfigureAwait(false);

        Rows rows;
        try
        {
            await using var connection = new NpgsqlConnection(_connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            await CheckSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            rows = await ReadRowsAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            throw new InvalidDataException(Explain(e), e);
        }
        catch (NpgsqlException e)
        {
            throw new InvalidDataException($"{Description}: cannot reach Harbor's PostgreSQL at {_where}: {ConnectionFailure.Reason(e)}. Check the host and port, and that PostgreSQL accepts TCP connections from here.", e);
        }
        catch (TimeoutException e)
        {
            throw new InvalidDataException($"{Description}: Harbor's PostgreSQL at {_where} did not answer in time: {e.Message}", e);
        }

        Deliver(sink, storage, rows);
    }

    private string Explain(PostgresException e) => e.SqlState switch
    {
        PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification =>
            $"{Description}: Harbor's PostgreSQL at {_where} refused the credentials ({e.MessageText}). Give the password in HARBOR_GC_PGPASSWORD or PGPASSWORD, or in a file (passfile= or PGPASSFILE).",
        PostgresErrorCodes.InvalidCatalogName => $"{Description}: there is no database '{e.MessageText}' at {_where} ({e.MessageText}); Harbor's is usually named registry.",
        PostgresErrorCodes.InsufficientPrivilege => $"{Description}: the user may not read Harbor's tables at {_where} ({e.MessageText}); grant it SELECT on them.",
        _ => $"{Description}: Harbor's PostgreSQL at {_where} failed: {e.SqlState} {e.MessageText}",
    };

    private async Task CheckSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY(@names)", connection))
        {
            command.Parameters.AddWithValue("names", Tables.ToArray());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                present.Add(reader.GetString(0));
            }
        }

        var missing = Tables.Where(t => !present.Contains(t)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidDataException(
                $"{Description}: the database at {_where} has no table {string.Join(", ", missing)}: it is not a Harbor database (or the user cannot see Harbor's schema).");
        }

        var versions = new List<(long Version, bool Dirty)>();
        await using (var command = new NpgsqlCommand("SELECT version, dirty FROM schema_migrations", connection))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                versions.Add((reader.GetInt64(0), reader.GetBoolean(1)));
            }
        }

        var supported = $"harbor-gc reads versions {string.Join(", ", SupportedSchemaVersions)} (Harbor 2.11 to 2.15)";
        if (versions.Count != 1)
        {
            throw new InvalidDataException($"{Description}: schema_migrations at {_where} holds {versions.Count} rows, not Harbor's one schema version; {supported}.");
        }

        var (version, dirty) = versions[0];
        if (dirty)
        {
            throw new InvalidDataException($"{Description}: Harbor's schema at {_where} is marked dirty at version {version} (a migration failed half-way); finish or repair Harbor's migration first.");
        }

        if (!SupportedSchemaVersions.Contains(version))
        {
            throw new InvalidDataException($"{Description}: Harbor's schema version at {_where} is {version}, which this harbor-gc was not built for; {supported}.");
        }

        SchemaVersion = version;
    }

    private static async Task<Rows> ReadRowsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = new Rows();
        await ReadAsync(connection, "SELECT id, repository_name, digest, manifest_media_type, artifact_type, COALESCE(size, 0), push_time, pull_time FROM artifact", r =>
            rows.Artifacts.Add(new ArtifactRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetInt64(5),
                Time(r, 6), Time(r, 7))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT artifact_id, name, push_time, pull_time FROM tag", r =>
            rows.Tags.Add(new TagRow(r.GetInt64(0), r.GetString(1), Time(r, 2), Time(r, 3))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT parent_id, child_id, child_digest FROM artifact_reference", r =>
            rows.References.Add((r.GetInt64(0), r.GetInt64(1), r.GetString(2))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT artifact_id, subject_artifact_digest, COALESCE(type, '') FROM artifact_accessory WHERE artifact_id IS NOT NULL AND subject_artifact_digest IS NOT NULL", r =>
            rows.Accessories.Add(new AccessoryRow(r.GetInt64(0), r.GetString(1), r.GetString(2))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT digest, content_type, size, creation_time, update_time, COALESCE(status, 'none') FROM blob", r =>
            rows.Blobs.Add(new BlobRow(r.GetString(0), r.GetString(1), r.GetInt64(2), Time(r, 3), Time(r, 4), r.GetString(5))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT digest_af, digest_blob FROM artifact_blob", r =>
            rows.ArtifactBlobs.Add((r.GetString(0), r.GetString(1))), cancellationToken).ConfigureAwait(false);
        await ReadAsync(connection, "SELECT repository_name, digest FROM artifact_trash", r =>
            rows.Trash.Add((r.GetString(0), r.GetString(1))), cancellationToken).ConfigureAwait(false);
        return rows;
    }

    private static async Task ReadAsync(NpgsqlConnection connection, string sql, Action<NpgsqlDataReader> row, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            row(reader);
        }
    }

    /// <summary>A <c>timestamp</c> column: Harbor writes UTC without a zone.</summary>
    private static DateTimeOffset? Time(NpgsqlDataReader reader, int column) =>
        reader.IsDBNull(column) ? null : new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(column), DateTimeKind.Utc));

    private void Deliver(ISnapshotSink sink, StorageSink storage, Rows rows)
    {
        var problems = new List<StoreProblem>(storage.Problems);
        var parsed = new Dictionary<Digest, Artifact>();
        foreach (var artifact in storage.Artifacts)
        {
            if (artifact.Kind != ManifestKind.Unknown || !parsed.ContainsKey(artifact.Digest))
            {
                parsed[artifact.Digest] = artifact;
            }
        }

        var blobsOf = rows.ArtifactBlobs.GroupBy(r => r.Artifact, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.Blob).ToList(), StringComparer.Ordinal);
        var dbBlobs = new Dictionary<string, BlobRow>(StringComparer.Ordinal);
        foreach (var blob in rows.Blobs)
        {
            dbBlobs[blob.Digest] = blob;
        }

        var childrenOf = rows.References.GroupBy(r => r.Parent).ToDictionary(g => g.Key, g => g.Select(r => r.Child).ToList());
        var accessoryOf = rows.Accessories.GroupBy(a => a.Artifact).ToDictionary(g => g.Key, g => g.First());
        var tagsOf = rows.Tags.GroupBy(t => t.Artifact).ToDictionary(g => g.Key, g => g.ToList());

        var artifacts = new List<Artifact>();
        var tags = new List<Tag>();
        var links = new List<AccessoryLink>();
        var byId = new Dictionary<long, Artifact>();
        var inStorage = 0;
        foreach (var row in rows.Artifacts)
        {
            var where = $"{_where} artifact {row.Id}";
            if (!RepositoryName.TryParse(row.Repository, out var repository) || !Digest.TryParse(row.Digest, out var digest))
            {
                problems.Add(new StoreProblem(where, $"repository '{row.Repository}' or digest '{row.Digest}' is not valid; the artifact is left out, and its blobs are kept"));
                continue;
            }

            if (row.PushedAt is not { } pushedAt)
            {
                problems.Add(new StoreProblem(where, "has no push_time; it is read as pushed now, inside every time window"));
            }

            var pushed = row.PushedAt ?? DateTimeOffset.MaxValue; // Harbor's artifact.push_time: the first push (ensureArtifact leaves it on a re-push)
            Artifact artifact;
            if (parsed.TryGetValue(digest, out var fromStorage))
            {
                inStorage++;
                artifact = fromStorage with { Repository = repository, PushedAt = pushed, FirstPushedAt = pushed, PulledAt = row.PulledAt, Version = row.Id, ArtifactType = row.ArtifactType ?? fromStorage.ArtifactType };
            }
            else
            {
                problems.Add(new StoreProblem(where, $"{repository}@{digest}: its manifest is not in the storage; the artifact is kept with every blob artifact_blob lists for it"));
                var references = (blobsOf.GetValueOrDefault(row.Digest) ?? [])
                    .Select(b => Digest.TryParse(b, out var d) ? d : (Digest?)null)
                    .OfType<Digest>()
                    .Select(d => new BlobReference(d, dbBlobs.TryGetValue(d.ToString(), out var b) ? b.Size : 0, null, d == digest ? BlobReferenceKind.Manifest : BlobReferenceKind.Layer))
                    .ToImmutableArray();
                artifact = new Artifact
                {
                    Repository = repository,
                    Digest = digest,
                    MediaType = row.ManifestMediaType,
                    Kind = ManifestKind.Unknown,
                    ArtifactType = row.ArtifactType,
                    Size = row.Size,
                    PushedAt = pushed,
                    FirstPushedAt = pushed, // Harbor's artifact.push_time is the first push (a re-push leaves it; tags carry their own)
                    PulledAt = row.PulledAt,
                    References = references,
                    ParseProblem = "its manifest is not in the registry's storage",
                    Version = row.Id,
                };
            }

            var children = childrenOf.GetValueOrDefault(row.Id);
            if (children is not null)
            {
                artifact = artifact with { Children = [.. artifact.Children.Concat(children.Select(c => Digest.TryParse(c, out var d) ? d : (Digest?)null).OfType<Digest>()).Distinct()] };
            }

            var artifactTags = tagsOf.GetValueOrDefault(row.Id) ?? [];
            foreach (var tag in artifactTags)
            {
                tags.Add(new Tag(repository, tag.Name, digest, tag.PushedAt ?? pushed, tag.PulledAt));
            }

            if (accessoryOf.GetValueOrDefault(row.Id) is { } accessory)
            {
                if (Digest.TryParse(accessory.Subject, out var subject))
                {
                    var fromTagScheme = artifactTags.Any(t => AccessoryClassifier.TryParseTagScheme(t.Name, out var tagged, out _) && tagged == subject);
                    links.Add(new AccessoryLink(repository, digest, subject, accessory.Type, ReferenceStrength.Hard, fromTagScheme));
                    artifact = artifact with { Subject = artifact.Subject ?? subject };
                }
                else
                {
                    problems.Add(new StoreProblem(where, $"artifact_accessory names the subject '{accessory.Subject}', which is not a digest; ignored"));
                }
            }

            byId[row.Id] = artifact;
            artifacts.Add(artifact);
        }

        _facts = Facts(rows, byId, accessoryOf, tagsOf, blobsOf, dbBlobs);
        if (artifacts.Count > 0 && inStorage == 0)
        {
            throw new InvalidDataException(
                $"{Description}: the storage folder '{_storage.Root}' holds none of the {artifacts.Count} manifests Harbor's database at {_where} lists: it is not this Harbor's registry storage. Give the storage rootdirectory of the registry this Harbor uses.");
        }

        // a manifest in the storage whose artifact Harbor's database no longer has, and which its artifact_trash lists: Harbor
        // deleted it (deleteDeeply in src/controller/artifact/controller.go writes the trash row; its GC removes the manifest later:
        // mark and sweep in src/jobservice/job/impl/gc/garbage_collection.go). It is listed, so that the plan shows it go; the time
        // window and anything live that lists it keep it. One that artifact_trash does not list either is not known to be deleted
        // (a push Harbor has not recorded yet, a database restored from an older backup than the storage, rows removed by hand):
        // it is kept, as an unknown manifest with its references, and warned
        var rowKeys = rows.Artifacts.Select(r => (r.Repository, r.Digest)).ToHashSet();
        var listed = new HashSet<ArtifactKey>();
        var unrecorded = new List<ArtifactKey>();
        foreach (var artifact in storage.Artifacts)
        {
            var key = (artifact.Repository.Value, artifact.Digest.ToString());
            if (rowKeys.Contains(key) || !listed.Add(artifact.Key))
            {
                continue;
            }

            if (rows.Trash.Contains(key))
            {
                artifacts.Add(artifact with { Trashed = true });
            }
            else
            {
                unrecorded.Add(artifact.Key);
                artifacts.Add(artifact with
                {
                    Kind = ManifestKind.Unknown,
                    ParseProblem = artifact.ParseProblem ?? "its manifest is in the registry's storage, but neither Harbor's artifact table nor its artifact_trash lists it",
                });
            }
        }

        if (unrecorded.Count > 0)
        {
            problems.Add(new StoreProblem(_storage.Root,
                $"{unrecorded.Count} manifest(s) in the storage are neither in Harbor's artifact table nor in its artifact_trash at {_where} (first: {string.Join(", ", unrecorded.Take(3))}): "
                + "kept with what they reference. A push Harbor has not recorded yet, a database restored from an older backup than the storage, or rows removed by hand; "
                + "Harbor's own GC never removes them"));
        }

        // blobs: what the storage holds, with the database's status and times
        var blobs = new List<Blob>();
        var unknownToDatabase = new List<Digest>();
        var present = new HashSet<Digest>();
        foreach (var blob in storage.Blobs)
        {
            present.Add(blob.Digest);
            if (dbBlobs.TryGetValue(blob.Digest.ToString(), out var row))
            {
                var updated = row.UpdatedAt is { } u && u > blob.UpdatedAt ? u : blob.UpdatedAt;
                blobs.Add(blob with { MediaType = blob.MediaType ?? row.ContentType, UpdatedAt = updated, Status = Status(row.Status) });
            }
            else
            {
                unknownToDatabase.Add(blob.Digest);
                blobs.Add(blob);
            }
        }

        foreach (var row in rows.Blobs)
        {
            if (Digest.TryParse(row.Digest, out var digest) && !present.Contains(digest))
            {
                problems.Add(new StoreProblem($"{_where} blob {digest}", $"Harbor's database lists this blob (status {row.Status}), but the storage '{_storage.Root}' does not hold it"));
            }
        }

        if (unknownToDatabase.Count > 0)
        {
            problems.Add(new StoreProblem(_storage.Root,
                $"{unknownToDatabase.Count} blob(s) in the storage are not in Harbor's blob table at {_where} (first: {string.Join(", ", unknownToDatabase.Take(3))}); Harbor's own GC never deletes such blobs"));
        }

        sink.OnBegin(new SnapshotSizeHint(artifacts.Count, blobs.Count, tags.Count, links.Count, artifacts.Sum(a => (long)a.References.Length)));
        if (sink.WantsBlobs)
        {
            foreach (var blob in blobs)
            {
                sink.OnBlob(blob);
            }
        }

        foreach (var artifact in artifacts)
        {
            sink.OnArtifact(artifact);
        }

        foreach (var tag in tags)
        {
            sink.OnTag(tag);
        }

        foreach (var link in links)
        {
            sink.OnAccessoryLink(link);
        }

        foreach (var link in storage.LayerLinks)
        {
            sink.OnLayerLink(link);
        }

        foreach (var upload in storage.Uploads)
        {
            sink.OnUpload(upload);
        }

        foreach (var problem in problems)
        {
            sink.OnProblem(problem);
        }
    }

    /// <summary>What Harbor's own GC reads of the rows (see <see cref="HarborFacts"/>).</summary>
    private static HarborFacts Facts(Rows rows, Dictionary<long, Artifact> byId, Dictionary<long, AccessoryRow> accessoryOf, Dictionary<long, List<TagRow>> tagsOf,
        Dictionary<string, List<string>> blobsOf, Dictionary<string, BlobRow> dbBlobs)
    {
        var children = rows.References.Select(r => r.ChildId).ToHashSet();
        var candidates = new HashSet<ArtifactKey>();
        foreach (var (id, artifact) in byId)
        {
            if (!tagsOf.ContainsKey(id) && !children.Contains(id) && !accessoryOf.ContainsKey(id))
            {
                candidates.Add(artifact.Key);
            }
        }

        var edges = new Dictionary<ArtifactKey, List<ArtifactKey>>();
        void Edge(ArtifactKey from, ArtifactKey to)
        {
            if (!edges.TryGetValue(from, out var list))
            {
                edges[from] = list = [];
            }

            list.Add(to);
        }

        foreach (var (parent, child, _) in rows.References)
        {
            if (byId.TryGetValue(parent, out var p) && byId.TryGetValue(child, out var c))
            {
                Edge(p.Key, c.Key);
            }
        }

        foreach (var (id, accessory) in accessoryOf)
        {
            if (byId.TryGetValue(id, out var a) && Digest.TryParse(accessory.Subject, out var subject))
            {
                Edge(new ArtifactKey(a.Repository, subject), a.Key);
            }
        }

        var known = rows.Artifacts.Select(a => a.Digest).ToHashSet(StringComparer.Ordinal);
        return new HarborFacts
        {
            UntaggedCandidates = candidates,
            OrphanAccessories = [.. accessoryOf.Where(a => !known.Contains(a.Value.Subject) && byId.ContainsKey(a.Key)).Select(a => byId[a.Key].Key)],
            WalkEdges = edges,
            ArtifactBlobs = blobsOf,
            Blobs = dbBlobs.ToDictionary(b => b.Key, b => (b.Value.Size, b.Value.ContentType), StringComparer.Ordinal),
        };
    }

    private static BlobStatus Status(string status) => status switch
    {
        "delete" => BlobStatus.Delete,
        "deleting" => BlobStatus.Deleting,
        "deletefailed" => BlobStatus.DeleteFailed,
        _ => BlobStatus.None,
    };

    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default) => throw ReadOnly();

    /// <inheritdoc />
    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default) => throw ReadOnly();

    private NotSupportedException ReadOnly() =>
        new($"{Description} is read-only: harbor-gc does not write into a live Harbor. Apply the plan through Harbor (its API, or its own GC).");

    private sealed record ArtifactRow(long Id, string Repository, string Digest, string ManifestMediaType, string? ArtifactType, long Size, DateTimeOffset? PushedAt, DateTimeOffset? PulledAt);

    private sealed record TagRow(long Artifact, string Name, DateTimeOffset? PushedAt, DateTimeOffset? PulledAt);

    private sealed record AccessoryRow(long Artifact, string Subject, string Type);

    private sealed record BlobRow(string Digest, string ContentType, long Size, DateTimeOffset? CreatedAt, DateTimeOffset? UpdatedAt, string Status);

    private sealed class Rows
    {
        public List<ArtifactRow> Artifacts { get; } = [];

        public List<TagRow> Tags { get; } = [];

        public List<(long Parent, long ChildId, string Child)> References { get; } = [];

        public List<AccessoryRow> Accessories { get; } = [];

        public List<BlobRow> Blobs { get; } = [];

        public List<(string Artifact, string Blob)> ArtifactBlobs { get; } = [];

        public HashSet<(string Repository, string Digest)> Trash { get; } = [];
    }

    /// <summary>What the storage holds: its blobs, manifests (for their references), layer links, uploads and problems; its tags are not read.</summary>
    private sealed class StorageSink : ISnapshotSink
    {
        public List<Blob> Blobs { get; } = [];

        public List<Artifact> Artifacts { get; } = [];

        public List<LayerLink> LayerLinks { get; } = [];

        public List<BlobUpload> Uploads { get; } = [];

        public List<StoreProblem> Problems { get; } = [];

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Blobs.Add(blob);

        public void OnArtifact(Artifact artifact) => Artifacts.Add(artifact);

        public void OnTag(Tag tag)
        {
        }

        public void OnAccessoryLink(AccessoryLink link)
        {
        }

        public void OnLayerLink(LayerLink link) => LayerLinks.Add(link);

        public void OnUpload(BlobUpload upload) => Uploads.Add(upload);

        public void OnProblem(StoreProblem problem) => Problems.Add(problem);
    }
}
