using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Postgres;
using Harbor.Gc.Tests.Integration;
using Harbor.Gc.Tests.Support;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A Harbor installation for the <c>harbor:</c> store's benchmark: a registry storage tree written by
/// <see cref="DistributionTreeGenerator"/> (seed 42, every repository in a project, as Harbor has them) and a Harbor database in a
/// PostgreSQL cluster of the tests (<see cref="PostgresCluster"/>, Harbor's tables from <see cref="HarborSchema"/>) holding the same
/// installation: every manifest of the storage as an artifact of its repository, its tags, its index references, its accessories
/// (cosign tag-scheme signatures and OCI 1.1 referrers), every blob of the storage with its <c>artifact_blob</c> and
/// <c>project_blob</c> rows.
/// </summary>
/// <remarks>
/// The database is derived from the storage (read once with <see cref="DistributionRegistryStore"/>), so the two agree and the store
/// reads them without a mismatch warning. The tree keeps its tags in the storage too (a pre-2.15 installation's layout; the
/// <c>harbor:</c> store reads tags from the database only). The tree is written once to
/// <c>artifacts/harbor-benchmark/seed42-N/</c> (git-ignored) and reused; the database is filled anew, with binary <c>COPY</c>, in
/// each process (the cluster lives in a temporary folder and goes with the process).
/// </remarks>
internal sealed class HarborInstallation
{
    /// <summary>The generator's seed.</summary>
    public const int Seed = 42;

    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private HarborInstallation(string storageRoot, string connectionString, string summary)
    {
        StorageRoot = storageRoot;
        ConnectionString = connectionString;
        Summary = summary;
    }

    /// <summary>The registry storage's root directory.</summary>
    public string StorageRoot { get; }

    /// <summary>A connection string for the database (the cluster's superuser, its password).</summary>
    public string ConnectionString { get; }

    /// <summary>What the installation holds and how long it took to make it.</summary>
    public string Summary { get; }

    /// <summary>A new <c>harbor:</c> store over the installation, as <c>--store harbor:postgresql://…?storage=…</c> makes one.</summary>
    public HarborDatabaseStore CreateStore() => new(new NpgsqlConnectionStringBuilder(ConnectionString), StorageRoot, TimeProvider.System);

    /// <summary>Writes the tree (unless an earlier run did), starts the cluster and fills a database.</summary>
    /// <exception cref="InvalidOperationException">PostgreSQL is not installed.</exception>
    public static async Task<HarborInstallation> CreateAsync(int artifacts, CancellationToken cancellationToken = default)
    {
        RequirePostgres();
        var log = new List<string>();
        var root = await TreeAsync(artifacts, log, cancellationToken).ConfigureAwait(false);

        var watch = Stopwatch.StartNew();
        var snapshot = new CollectingSink("the generated storage tree");
        await new DistributionRegistryStore(root, TimeProvider.System).ReadSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
        log.Add($"storage read in {watch.Elapsed.TotalSeconds:F1} s");

        watch.Restart();
        var cluster = PostgresCluster.Shared;
        var database = await cluster.CreateDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var connectionString = cluster.ConnectionString(database);
        log.Add($"cluster started in {watch.Elapsed.TotalSeconds:F1} s");

        watch.Restart();
        var counts = await FillAsync(connectionString, snapshot, cancellationToken).ConfigureAwait(false);
        log.Add($"database filled (COPY, then VACUUM ANALYZE) in {watch.Elapsed.TotalSeconds:F1} s: {counts}");
        return new HarborInstallation(root, connectionString, string.Join("; ", log));
    }

    /// <summary>
    /// A Harbor database alone, without a storage tree (a tree of a million manifests does not fit this machine's disk): filled the
    /// same way from the in-memory registry of <see cref="RegistryGenerator"/> (seed 42, the GC benchmark's registry). Only the
    /// database's queries can be timed on it: the <c>harbor:</c> store needs the storage.
    /// </summary>
    public static async Task<HarborInstallation> CreateDatabaseOnlyAsync(int artifacts, CancellationToken cancellationToken = default)
    {
        RequirePostgres();
        var log = new List<string>();
        var watch = Stopwatch.StartNew();
        var generator = new RegistryGenerator(Seed);
        var store = generator.Generate(artifacts, Now);
        var snapshot = new CollectingSink("the generated storage tree");
        await store.ReadSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
        log.Add($"RegistryGenerator registry {generator.Counts} in {watch.Elapsed.TotalSeconds:F1} s");

        watch.Restart();
        var cluster = PostgresCluster.Shared;
        var connectionString = cluster.ConnectionString(await cluster.CreateDatabaseAsync(cancellationToken).ConfigureAwait(false));
        var counts = await FillAsync(connectionString, snapshot, cancellationToken).ConfigureAwait(false);
        log.Add($"database filled (COPY, then VACUUM ANALYZE) in {watch.Elapsed.TotalSeconds:F1} s: {counts}");
        return new HarborInstallation(string.Empty, connectionString, string.Join("; ", log));
    }

    private static void RequirePostgres()
    {
        if (PostgresServer.FindBinaries() is null)
        {
            throw new InvalidOperationException(
                "The harbor: benchmark needs PostgreSQL's initdb and postgres (Debian's postgresql package, /usr/lib/postgresql/N/bin, or HARBOR_GC_POSTGRES_BIN): "
                + "apt-get install -y postgresql");
        }
    }

    /// <summary>The storage tree of <paramref name="artifacts"/> manifests: written once, then reused.</summary>
    private static async Task<string> TreeAsync(int artifacts, List<string> log, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(LiteDbBenchmarkStore.ArtifactsRoot(), "harbor-benchmark", string.Create(CultureInfo.InvariantCulture, $"seed{Seed}-{artifacts}"));
        var complete = Path.Combine(folder, "complete");
        var root = Path.Combine(folder, "storage");
        if (File.Exists(complete))
        {
            log.Add($"storage tree {root} (written earlier: {(await File.ReadAllTextAsync(complete, cancellationToken).ConfigureAwait(false)).Trim()})");
            return root;
        }

        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        var watch = Stopwatch.StartNew();
        var tree = new DistributionTree(Now, root);
        var stats = new DistributionTreeGenerator(tree, Seed)
        {
            Manifests = artifacts,
            Repositories = Math.Max(1, artifacts * 3 / 100), // 300 per 10,000 manifests, as the Distribution benchmark's tree
            FlatProject = "library",
        }.Generate(cancellationToken);
        using (var sync = Process.Start("sync"))
        {
            await sync!.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }

        var written = $"{stats}; written in {watch.Elapsed.TotalSeconds:F0} s";
        await File.WriteAllTextAsync(complete, written + "\n", cancellationToken).ConfigureAwait(false);
        log.Add($"storage tree {root}: {written}");
        return root;
    }

    /// <summary>Creates Harbor's tables and fills them with binary COPY; returns the row counts.</summary>
    private static async Task<string> FillAsync(string connectionString, CollectingSink snapshot, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, HarborSchema.Sql, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_migrations (version, dirty) VALUES ({HarborSchema.Version}, false)"), cancellationToken).ConfigureAwait(false);

        var random = new Random(Seed);
        var projects = new Dictionary<string, int>(StringComparer.Ordinal);
        var repositories = new Dictionary<string, (int Id, int Project)>(StringComparer.Ordinal);
        (int Id, int Project) Repository(RepositoryName name)
        {
            var text = name.ToString();
            if (!repositories.TryGetValue(text, out var found))
            {
                var project = text[..text.IndexOf('/', StringComparison.Ordinal)];
                if (!projects.TryGetValue(project, out var projectId))
                {
                    projects[project] = projectId = projects.Count + 1;
                }

                repositories[text] = found = (repositories.Count + 1, projectId);
            }

            return found;
        }

        // blobs: every blob of the storage, typed by the descriptors that name it (Harbor records the descriptor's media type)
        var mediaTypes = new Dictionary<Digest, string>();
        foreach (var artifact in snapshot.Artifacts)
        {
            mediaTypes.TryAdd(artifact.Digest, artifact.MediaType);
            foreach (var reference in artifact.References)
            {
                if (reference.MediaType is { } type)
                {
                    mediaTypes.TryAdd(reference.Digest, type);
                }
            }
        }

        var blobIds = new Dictionary<Digest, int>();
        await using (var copy = await connection.BeginBinaryImportAsync(
                         "COPY blob (id, digest, content_type, size, creation_time, update_time, status, version) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            foreach (var blob in snapshot.Blobs)
            {
                var id = blobIds.Count + 1;
                blobIds[blob.Digest] = id;
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(id, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(blob.Digest.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(mediaTypes.GetValueOrDefault(blob.Digest, "application/octet-stream"), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(blob.Size, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(Utc(blob.CreatedAt), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(Utc(blob.UpdatedAt), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync("none", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(0L, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        // artifacts, as Harbor core records a push; 60% pulled since
        var artifactIds = new Dictionary<(RepositoryName, Digest), int>();
        var pulled = new Dictionary<int, DateTimeOffset>();
        var projectBlobs = new HashSet<(int Project, int Blob)>();
        var artifactBlobs = new HashSet<(Digest Artifact, Digest Blob)>();
        await using (var copy = await connection.BeginBinaryImportAsync(
                         "COPY artifact (id, type, media_type, manifest_media_type, artifact_type, project_id, repository_id, repository_name, digest, size, push_time, pull_time) FROM STDIN (FORMAT BINARY)",
                         cancellationToken).ConfigureAwait(false))
        {
            foreach (var artifact in snapshot.Artifacts)
            {
                var id = artifactIds.Count + 1;
                artifactIds[(artifact.Repository, artifact.Digest)] = id;
                var (repositoryId, projectId) = Repository(artifact.Repository);
                var configType = artifact.References.Where(r => r.Kind == BlobReferenceKind.Config).Select(r => r.MediaType).FirstOrDefault() ?? artifact.MediaType;
                DateTimeOffset? pulledAt = random.NextDouble() < 0.6 ? artifact.PushedAt + ((Now - artifact.PushedAt) * random.NextDouble()) : null;
                if (pulledAt is { } p)
                {
                    pulled[id] = p;
                }

                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(id, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.Kind != ManifestKind.Unknown ? "IMAGE" : "UNKNOWN", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(configType, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.MediaType, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.ArtifactType ?? configType, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(projectId, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(repositoryId, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.Repository.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.Digest.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(artifact.Size + artifact.References.Where(r => r.Kind != BlobReferenceKind.Manifest).Sum(r => r.Size), NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(Utc(artifact.PushedAt), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
                if (pulledAt is { } pulledTime)
                {
                    await copy.WriteAsync(Utc(pulledTime), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }

                artifactBlobs.Add((artifact.Digest, artifact.Digest));
                if (blobIds.TryGetValue(artifact.Digest, out var manifestBlob))
                {
                    projectBlobs.Add((projectId, manifestBlob));
                }
                foreach (var reference in artifact.References)
                {
                    artifactBlobs.Add((artifact.Digest, reference.Digest));
                    if (blobIds.TryGetValue(reference.Digest, out var blobId))
                    {
                        projectBlobs.Add((projectId, blobId));
                    }
                }
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        // every blob a project's repositories link (uploads never referenced too: Harbor records a blob when its upload completes)
        foreach (var link in snapshot.LayerLinks)
        {
            if (blobIds.TryGetValue(link.Digest, out var blobId))
            {
                projectBlobs.Add((Repository(link.Repository).Project, blobId));
            }
        }

        await CopyAsync(connection, "COPY project (project_id, name) FROM STDIN (FORMAT BINARY)", projects, async (copy, p) =>
        {
            await copy.WriteAsync(p.Value, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(p.Key, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await CopyAsync(connection, "COPY repository (repository_id, name, project_id) FROM STDIN (FORMAT BINARY)", repositories, async (copy, r) =>
        {
            await copy.WriteAsync(r.Value.Id, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Key, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Value.Project, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

        // tags, as Harbor records a tag's creation or move (the push time of its last move); a pulled artifact's tags were pulled too
        var tags = 0;
        await CopyAsync(connection, "COPY tag (repository_id, artifact_id, name, push_time, pull_time) FROM STDIN (FORMAT BINARY)", snapshot.Tags, async (copy, tag) =>
        {
            var artifactId = artifactIds[(tag.Repository, tag.Digest)];
            tags++;
            await copy.WriteAsync(Repository(tag.Repository).Id, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(artifactId, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(tag.Name, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(Utc(tag.PushedAt), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
            if (pulled.TryGetValue(artifactId, out var at) && at > tag.PushedAt)
            {
                await copy.WriteAsync(Utc(at), NpgsqlDbType.Timestamp, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken).ConfigureAwait(false);

        // an index's children, pushed before it into the same repository
        var references = snapshot.Artifacts
            .SelectMany(a => a.Children.Distinct().Select(c => (Parent: artifactIds[(a.Repository, a.Digest)], Child: artifactIds.GetValueOrDefault((a.Repository, c)), Digest: c)))
            .Where(r => r.Child != 0)
            .ToList();
        await CopyAsync(connection, "COPY artifact_reference (parent_id, child_id, child_digest) FROM STDIN (FORMAT BINARY)", references, async (copy, r) =>
        {
            await copy.WriteAsync(r.Parent, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Child, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Digest.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

        // accessories: Harbor records one row per accessory artifact and subject, typed as its processors type them
        var accessories = snapshot.Links
            .Select(l => (Link: l, Artifact: artifactIds.GetValueOrDefault((l.Repository, l.Accessory)), Subject: artifactIds.GetValueOrDefault((l.Repository, l.Subject))))
            .Where(a => a.Artifact != 0 && a.Subject != 0)
            .DistinctBy(a => (a.Artifact, a.Link.Subject))
            .ToList();
        var sizes = snapshot.Artifacts.ToDictionary(a => (a.Repository, a.Digest), a => a.Size);
        await CopyAsync(connection,
            "COPY artifact_accessory (artifact_id, subject_artifact_id, subject_artifact_digest, subject_artifact_repo, type, size, digest) FROM STDIN (FORMAT BINARY)",
            accessories, async (copy, a) =>
            {
                await copy.WriteAsync((long)a.Artifact, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync((long)a.Subject, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(a.Link.Subject.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(a.Link.Repository.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(a.Link.Type, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(sizes[(a.Link.Repository, a.Link.Accessory)], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(a.Link.Accessory.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);

        await CopyAsync(connection, "COPY artifact_blob (digest_af, digest_blob) FROM STDIN (FORMAT BINARY)", artifactBlobs, async (copy, r) =>
        {
            await copy.WriteAsync(r.Artifact.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Blob.ToString(), NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await CopyAsync(connection, "COPY project_blob (project_id, blob_id) FROM STDIN (FORMAT BINARY)", projectBlobs, async (copy, r) =>
        {
            await copy.WriteAsync(r.Project, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(r.Blob, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

        // the serials continue after the copied ids, as in a database Harbor filled; then the planner's statistics and hint bits
        foreach (var (table, column) in new[] { ("project", "project_id"), ("repository", "repository_id"), ("artifact", "id"), ("blob", "id") })
        {
            await ExecuteAsync(connection, $"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT COALESCE(MAX({column}), 1) FROM {table}))", cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, "VACUUM ANALYZE", cancellationToken).ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture,
            $"{projects.Count:N0} projects, {repositories.Count:N0} repositories, {artifactIds.Count:N0} artifacts, {tags:N0} tags, {references.Count:N0} index references, "
            + $"{accessories.Count:N0} accessories, {blobIds.Count:N0} blobs, {artifactBlobs.Count:N0} artifact_blob rows, {projectBlobs.Count:N0} project_blob rows");
    }

    private static async Task CopyAsync<T>(NpgsqlConnection connection, string sql, IEnumerable<T> rows, Func<NpgsqlBinaryImporter, T, Task> write, CancellationToken cancellationToken)
    {
        await using var copy = await connection.BeginBinaryImportAsync(sql, cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await write(copy, row).ConfigureAwait(false);
        }

        await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Harbor's <c>timestamp</c> columns hold UTC without a zone.</summary>
    private static DateTime Utc(DateTimeOffset at) => DateTime.SpecifyKind(at.UtcDateTime, DateTimeKind.Unspecified);
}
