using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Model;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A Harbor database in a test's own PostgreSQL database: the tables the <c>harbor:</c> store reads, created by this project's own
/// SQL (<see cref="Schema"/>), and filled the way Harbor core fills them for a push, a tag, an accessory, an index and a deletion.
/// </summary>
/// <remarks>
/// The schema states the column names and types of Harbor v2.15.2 (its migrations up to <c>0180_2.15.0</c>, schema_migrations version
/// 180) for the columns the store reads, plus their keys; every other column Harbor has is left out. Times are <c>timestamp</c>
/// without a zone holding UTC, as Harbor writes them.
/// </remarks>
internal sealed class HarborDatabase : IAsyncDisposable
{
    /// <summary>The schema version Harbor v2.15.x records in <c>schema_migrations</c>.</summary>
    public const long SchemaVersion = HarborSchema.Version;

    /// <summary>The tables of Harbor v2.15.2 the store reads: only the columns it reads, and their keys (<see cref="HarborSchema.Sql"/>).</summary>
    public const string Schema = HarborSchema.Sql;

    private readonly PostgresCluster _cluster;

    private HarborDatabase(PostgresCluster cluster, string name)
    {
        _cluster = cluster;
        Name = name;
    }

    /// <summary>The database's name.</summary>
    public string Name { get; }

    /// <summary>The cluster's port.</summary>
    public int Port => _cluster.Port;

    /// <summary>The superuser's password (for the store's environment).</summary>
    public string Password => _cluster.Password;

    /// <summary>The <c>harbor:</c> store spec of this database over <paramref name="storage"/> (no password: it comes from the environment).</summary>
    public string StoreSpec(string storage) => string.Create(CultureInfo.InvariantCulture, $"harbor:postgresql://{PostgresCluster.User}@127.0.0.1:{Port}/{Name}?storage={storage}");

    /// <summary>Makes a database on the run's cluster with Harbor's tables (and its schema version, unless <paramref name="schemaVersion"/> is null).</summary>
    public static async Task<HarborDatabase> CreateAsync(long? schemaVersion = SchemaVersion, bool withSchema = true)
    {
        var cluster = PostgresCluster.Shared;
        var database = new HarborDatabase(cluster, await cluster.CreateDatabaseAsync());
        if (withSchema)
        {
            await database.ExecuteAsync(Schema);
            if (schemaVersion is { } version)
            {
                await database.ExecuteAsync("INSERT INTO schema_migrations (version, dirty) VALUES (@v, false)", ("v", version));
            }
        }

        return database;
    }

    /// <summary>Drops the database.</summary>
    public async ValueTask DisposeAsync() => await _cluster.DropDatabaseAsync(Name);

    /// <summary>Runs SQL with named parameters.</summary>
    public async Task<int> ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Runs a query for one value.</summary>
    public async Task<T> ScalarAsync<T>(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = Command(connection, sql, parameters);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// What Harbor core records when a manifest is pushed into <c>PROJECT/REPO</c> (by tag, or by digest when <paramref name="tag"/> is
    /// null): the project and repository when new, a blob row per blob (the manifest, its config and layers, with their media types
    /// and sizes from the manifest) linked to the project, the artifact, its artifact_blob rows (an index's also name its children's
    /// manifests), an artifact_reference row per child of an index (children are pushed first), and the tag. Returns the artifact's id.
    /// </summary>
    public async Task<int> PushAsync(PushedManifest manifest, DateTimeOffset pushedAt, string? tag = null, string type = "IMAGE")
    {
        var repository = manifest.Repository;
        var project = repository[..repository.IndexOf('/', StringComparison.Ordinal)];
        var projectId = await ScalarAsync<int>(
            "INSERT INTO project (name) VALUES (@p) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING project_id", ("p", project));
        var repositoryId = await ScalarAsync<int>(
            "INSERT INTO repository (name, project_id) VALUES (@r, @p) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING repository_id",
            ("r", repository), ("p", projectId));

        using var json = JsonDocument.Parse(manifest.Body);
        var root = json.RootElement;
        var blobs = new List<(string Digest, string MediaType, long Size)> { (manifest.Digest.ToString(), manifest.MediaType, manifest.Body.Length) };
        var configType = manifest.MediaType;
        string? artifactType = root.TryGetProperty("artifactType", out var at) ? at.GetString() : null;
        if (root.TryGetProperty("config", out var config))
        {
            configType = config.GetProperty("mediaType").GetString()!;
            blobs.Add(Descriptor(config));
        }

        if (root.TryGetProperty("layers", out var layers))
        {
            blobs.AddRange(layers.EnumerateArray().Select(Descriptor));
        }

        foreach (var (digest, mediaType, size) in blobs)
        {
            var blobId = await ScalarAsync<int>(
                """
                INSERT INTO blob (digest, content_type, size, creation_time, update_time) VALUES (@d, @t, @s, @at, @at)
                ON CONFLICT (digest) DO UPDATE SET update_time = EXCLUDED.update_time RETURNING id
                """, ("d", digest), ("t", mediaType), ("s", size), ("at", Utc(pushedAt)));
            await ExecuteAsync("INSERT INTO project_blob (project_id, blob_id) VALUES (@p, @b) ON CONFLICT DO NOTHING", ("p", projectId), ("b", blobId));
            await ExecuteAsync("INSERT INTO artifact_blob (digest_af, digest_blob) VALUES (@a, @b) ON CONFLICT DO NOTHING", ("a", manifest.Digest.ToString()), ("b", digest));
        }

        // an index's references are its children's manifests: Harbor associates them with the index too (AssociateWithArtifact in
        // src/controller/blob/controller.go, called with manifest.References() by src/server/middleware/blob/put_manifest.go); their
        // blob rows are the children's own
        if (root.TryGetProperty("manifests", out var manifests))
        {
            foreach (var child in manifests.EnumerateArray())
            {
                await ExecuteAsync("INSERT INTO artifact_blob (digest_af, digest_blob) VALUES (@a, @b) ON CONFLICT DO NOTHING",
                    ("a", manifest.Digest.ToString()), ("b", child.GetProperty("digest").GetString()!));
            }
        }

        var artifactId = await ScalarAsync<int>(
            """
            INSERT INTO artifact (type, media_type, manifest_media_type, artifact_type, project_id, repository_id, repository_name, digest, size, push_time)
            VALUES (@type, @media, @manifest, @artifactType, @p, @r, @name, @d, @size, @at)
            ON CONFLICT (repository_id, digest) DO UPDATE SET digest = EXCLUDED.digest RETURNING id
            """,
            ("type", type), ("media", configType), ("manifest", manifest.MediaType), ("artifactType", artifactType ?? configType), ("p", projectId),
            ("r", repositoryId), ("name", repository), ("d", manifest.Digest.ToString()), ("size", blobs.Sum(b => b.Size)), ("at", Utc(pushedAt)));

        foreach (var child in manifest.Children)
        {
            var childId = await ArtifactIdAsync(child.Repository, child.Digest);
            await ExecuteAsync("INSERT INTO artifact_reference (parent_id, child_id, child_digest) VALUES (@p, @c, @d) ON CONFLICT DO NOTHING",
                ("p", artifactId), ("c", childId), ("d", child.Digest.ToString()));
        }

        if (tag is not null)
        {
            await TagAsync(repository, tag, manifest.Digest, pushedAt);
        }

        return artifactId;
    }

    /// <summary>What Harbor records when <paramref name="tag"/> is created on, or moved onto, an artifact: the tag row with its push time.</summary>
    public async Task TagAsync(string repository, string tag, Digest digest, DateTimeOffset at)
    {
        var artifactId = await ArtifactIdAsync(repository, digest);
        await ExecuteAsync(
            """
            INSERT INTO tag (repository_id, artifact_id, name, push_time) SELECT repository_id, id, @n, @at FROM artifact WHERE id = @a
            ON CONFLICT (repository_id, name) DO UPDATE SET artifact_id = EXCLUDED.artifact_id, push_time = EXCLUDED.push_time
            """, ("n", tag), ("at", Utc(at)), ("a", artifactId));
    }

    /// <summary>What Harbor records when an artifact or a tag is pulled: its pull time.</summary>
    public async Task PullAsync(string repository, Digest digest, DateTimeOffset at, string? tag = null)
    {
        var artifactId = await ArtifactIdAsync(repository, digest);
        await ExecuteAsync("UPDATE artifact SET pull_time = @at WHERE id = @a", ("at", Utc(at)), ("a", artifactId));
        if (tag is not null)
        {
            await ExecuteAsync("UPDATE tag SET pull_time = @at WHERE artifact_id = @a AND name = @n", ("at", Utc(at)), ("a", artifactId), ("n", tag));
        }
    }

    /// <summary>What Harbor records for an accessory (pushed first as an artifact) of <paramref name="subject"/>: the artifact_accessory row.</summary>
    public async Task AccessoryAsync(PushedManifest accessory, PushedManifest subject, string type)
    {
        var accessoryId = await ArtifactIdAsync(accessory.Repository, accessory.Digest);
        var subjectId = await ArtifactIdAsync(subject.Repository, subject.Digest);
        await ExecuteAsync(
            """
            INSERT INTO artifact_accessory (artifact_id, subject_artifact_id, subject_artifact_digest, subject_artifact_repo, type, size, digest)
            VALUES (@a, @s, @sd, @sr, @t, @size, @d)
            """,
            ("a", (long)accessoryId), ("s", (long)subjectId), ("sd", subject.Digest.ToString()), ("sr", subject.Repository), ("t", type),
            ("size", (long)accessory.Body.Length), ("d", accessory.Digest.ToString()));
    }

    /// <summary>
    /// What Harbor core does when an artifact is deleted (through its API, or by retention): an artifact_trash row is written; its tags,
    /// its references as a parent, its accessory rows and the artifact row go; its artifact_blob rows go when no other repository holds the same digest. Blobs stay
    /// (Harbor's GC deletes them).
    /// </summary>
    public async Task DeleteAsync(string repository, Digest digest)
    {
        await TrashAsync(repository, digest);
        var artifactId = await ArtifactIdAsync(repository, digest);
        await ExecuteAsync("DELETE FROM tag WHERE artifact_id = @a", ("a", artifactId));
        await ExecuteAsync("DELETE FROM artifact_reference WHERE parent_id = @a", ("a", artifactId));
        await ExecuteAsync("DELETE FROM artifact_accessory WHERE artifact_id = @a", ("a", (long)artifactId));
        await ExecuteAsync("DELETE FROM artifact WHERE id = @a", ("a", artifactId));
        await ExecuteAsync("DELETE FROM artifact_blob WHERE digest_af = @d AND NOT EXISTS (SELECT 1 FROM artifact WHERE digest = @d)", ("d", digest.ToString()));
    }

    /// <summary>
    /// The artifact_trash row Harbor writes when it deletes an artifact (deleteDeeply in src/controller/artifact/controller.go): its media
    /// types, repository and digest; its GC removes the manifest from the storage later and then the row.
    /// </summary>
    public Task TrashAsync(string repository, Digest digest) => ExecuteAsync(
        """
        INSERT INTO artifact_trash (media_type, manifest_media_type, repository_name, digest)
        SELECT media_type, manifest_media_type, repository_name, digest FROM artifact WHERE repository_name = @r AND digest = @d
        ON CONFLICT DO NOTHING
        """, ("r", repository), ("d", digest.ToString()));

    /// <summary>The id of an artifact.</summary>
    public Task<int> ArtifactIdAsync(string repository, Digest digest) =>
        ScalarAsync<int>("SELECT id FROM artifact WHERE repository_name = @r AND digest = @d", ("r", repository), ("d", digest.ToString()));

    private static (string, string, long) Descriptor(JsonElement descriptor) =>
        (descriptor.GetProperty("digest").GetString()!, descriptor.GetProperty("mediaType").GetString()!, descriptor.GetProperty("size").GetInt64());

    private static DateTime Utc(DateTimeOffset at) => DateTime.SpecifyKind(at.UtcDateTime, DateTimeKind.Unspecified);

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(_cluster.ConnectionString(Name));
        await connection.OpenAsync();
        return connection;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(value is DateTime time
                ? new NpgsqlParameter(name, NpgsqlDbType.Timestamp) { Value = time }
                : new NpgsqlParameter(name, value ?? DBNull.Value));
        }

        return command;
    }
}
