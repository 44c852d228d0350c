using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// <c>postgres:</c> stores for the benchmarks: <see cref="RegistryGenerator"/>'s registry (seed, size) written once per process into a
/// template database of a <see cref="PostgresBenchmarkCluster"/>, and each benchmark's store a <c>CREATE DATABASE … TEMPLATE</c> copy
/// of it (a real run changes its copy only).
/// </summary>
/// <remarks>
/// The template is created by the ordinary <see cref="PostgresRegistryStore.OpenAsync"/> (every migration, the store id), then its
/// secondary indexes are dropped (their definitions kept as the migrations made them), the records copied in as the generator made
/// them (times, versions, statuses) with binary <c>COPY</c>, the indexes created again from their definitions, the version counter
/// set past the highest version, and the database vacuumed and analysed. Blob bytes are not written: a dry run reads records only, a
/// real run's deletion of a missing file is a cheap <c>ENOENT</c>, and the push benchmarks push their own blobs.
/// </remarks>
internal static class PostgresBenchmarkStore
{
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Writes the registry into a new template database and returns its name and what it holds.</summary>
    public static async Task<(string Template, string Summary)> CreateTemplateAsync(PostgresBenchmarkCluster cluster, int artifacts, int seed = 42, double untaggedFraction = 0.30)
    {
        var watch = Stopwatch.StartNew();
        var name = string.Create(CultureInfo.InvariantCulture, $"tpl_{artifacts}_{(int)(untaggedFraction * 100)}");
        cluster.Execute($"CREATE DATABASE {name}");
        var connectionString = cluster.ConnectionString(name, pooling: false);
        var folder = cluster.BlobsFolder(name);
        await using (await PostgresRegistryStore.OpenAsync(new PostgresStoreOptions { ConnectionString = connectionString, BlobsPath = folder, CreateIfMissing = true }).ConfigureAwait(false))
        {
        }

        var generator = new RegistryGenerator(seed) { UntaggedFraction = untaggedFraction };
        var source = generator.Generate(artifacts, Now);
        var snapshot = new CollectingSink("the generated registry");
        await source.ReadSnapshotAsync(snapshot).ConfigureAwait(false);
        var generated = watch.Elapsed;

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        // the secondary indexes, dropped for the fill and created again from their definitions after it
        var indexes = new List<string>();
        var names = new List<string>();
        await using (var read = new NpgsqlCommand(
                         "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
                         + "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", connection))
        await using (var reader = await read.ExecuteReaderAsync().ConfigureAwait(false))
        {
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                names.Add(reader.GetString(0));
                indexes.Add(reader.GetString(1));
            }
        }

        foreach (var index in names)
        {
            await ExecuteAsync(connection, $"DROP INDEX {index}").ConfigureAwait(false);
        }

        // each blob's row id (schema version 5) given here, in the order a push would have got them, so the artifacts' references
        // below can be packed as those ids (PackedReferenceKeys), as the server packs them on a push
        var blobIds = new Dictionary<Digest, long>(snapshot.Blobs.Count);
        await CopyAsync(connection, "COPY blobs (id, digest, size, media_type, created_at, updated_at, status) FROM STDIN (FORMAT BINARY)", snapshot.Blobs, async (copy, b) =>
        {
            var id = blobIds.Count + 1L;
            blobIds.Add(b.Digest, id);
            await copy.WriteAsync(id, NpgsqlDbType.Bigint).ConfigureAwait(false);
            await copy.WriteAsync(b.Digest.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
            await copy.WriteAsync(b.Size, NpgsqlDbType.Bigint).ConfigureAwait(false);
            await WriteTextAsync(copy, b.MediaType).ConfigureAwait(false);
            await copy.WriteAsync(b.CreatedAt.UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
            await copy.WriteAsync(b.UpdatedAt.UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
            await copy.WriteAsync((short)b.Status, NpgsqlDbType.Smallint).ConfigureAwait(false);
        }).ConfigureAwait(false);

        // the media types' ids first (schema version 3: artifacts hold ids, their references packed), as a push gives them
        var mediaTypes = new PostgresMediaTypes();
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        {
            await mediaTypes.EnsureAsync(dataSource, snapshot.Artifacts.SelectMany(a => a.References.Select(r => r.MediaType).Append(a.MediaType).Append(a.ArtifactType)).Distinct(), CancellationToken.None).ConfigureAwait(false);
        }

        long maxVersion = 0;
        await CopyAsync(connection,
            "COPY artifacts (repository, digest, media_type, kind, artifact_type, size, pushed_at, first_pushed_at, pulled_at, labels, refs, ref_digests, ref_keys, "
            + "children, subject, parse_problem, version) FROM STDIN (FORMAT BINARY)", snapshot.Artifacts, async (copy, a) =>
            {
                maxVersion = Math.Max(maxVersion, a.Version);
                await copy.WriteAsync(a.Repository.Value, NpgsqlDbType.Text).ConfigureAwait(false);
                await copy.WriteAsync(a.Digest.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
                await copy.WriteAsync(mediaTypes.IdOf(a.MediaType), NpgsqlDbType.Integer).ConfigureAwait(false);
                await copy.WriteAsync((short)a.Kind, NpgsqlDbType.Smallint).ConfigureAwait(false);
                await (a.ArtifactType is { } type ? copy.WriteAsync(mediaTypes.IdOf(type), NpgsqlDbType.Integer) : copy.WriteNullAsync()).ConfigureAwait(false);
                await copy.WriteAsync(a.Size, NpgsqlDbType.Bigint).ConfigureAwait(false);
                await copy.WriteAsync(a.PushedAt.UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
                await copy.WriteAsync((a.FirstPushedAt ?? a.PushedAt).UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
                await (a.PulledAt is { } pulled ? copy.WriteAsync(pulled.UtcTicks, NpgsqlDbType.Bigint) : copy.WriteNullAsync()).ConfigureAwait(false);
                await copy.WriteAsync(a.Labels.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text).ConfigureAwait(false);
                await copy.WriteAsync(PackedReferences.Pack(a.References, mediaTypes), NpgsqlDbType.Bytea).ConfigureAwait(false);
                await copy.WriteAsync(a.References.Select(r => r.Digest.ToHashBytes()).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea).ConfigureAwait(false);
                await copy.WriteAsync(PackedReferenceKeys.Pack(a.References, d => blobIds.TryGetValue(d, out var id) ? id : null), NpgsqlDbType.Bytea).ConfigureAwait(false);
                await copy.WriteAsync(a.Children.Select(c => c.ToHashBytes()).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea).ConfigureAwait(false);
                await (a.Subject is { } subject ? copy.WriteAsync(subject.ToHashBytes(), NpgsqlDbType.Bytea) : copy.WriteNullAsync()).ConfigureAwait(false);
                await WriteTextAsync(copy, a.ParseProblem).ConfigureAwait(false);
                await copy.WriteAsync(a.Version, NpgsqlDbType.Bigint).ConfigureAwait(false);
            }).ConfigureAwait(false);

        await CopyAsync(connection, "COPY tags (repository, name, digest, pushed_at, pulled_at) FROM STDIN (FORMAT BINARY)", snapshot.Tags, async (copy, t) =>
        {
            await copy.WriteAsync(t.Repository.Value, NpgsqlDbType.Text).ConfigureAwait(false);
            await copy.WriteAsync(t.Name, NpgsqlDbType.Text).ConfigureAwait(false);
            await copy.WriteAsync(t.Digest.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
            await copy.WriteAsync(t.PushedAt.UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
            await (t.PulledAt is { } pulled ? copy.WriteAsync(pulled.UtcTicks, NpgsqlDbType.Bigint) : copy.WriteNullAsync()).ConfigureAwait(false);
        }).ConfigureAwait(false);

        await CopyAsync(connection, "COPY accessory_links (repository, accessory, subject, type, strength, tag_scheme) FROM STDIN (FORMAT BINARY)", snapshot.Links, async (copy, l) =>
        {
            await copy.WriteAsync(l.Repository.Value, NpgsqlDbType.Text).ConfigureAwait(false);
            await copy.WriteAsync(l.Accessory.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
            await copy.WriteAsync(l.Subject.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
            await copy.WriteAsync(l.Type, NpgsqlDbType.Text).ConfigureAwait(false);
            await copy.WriteAsync((short)l.Strength, NpgsqlDbType.Smallint).ConfigureAwait(false);
            await copy.WriteAsync(l.FromTagScheme, NpgsqlDbType.Boolean).ConfigureAwait(false);
        }).ConfigureAwait(false);

        await CopyAsync(connection, "COPY layer_links (repository, digest, created_at) FROM STDIN (FORMAT BINARY)", snapshot.LayerLinks, async (copy, l) =>
        {
            await copy.WriteAsync(l.Repository.Value, NpgsqlDbType.Text).ConfigureAwait(false);
            await copy.WriteAsync(l.Digest.ToHashBytes(), NpgsqlDbType.Bytea).ConfigureAwait(false);
            await copy.WriteAsync(l.CreatedAt.UtcTicks, NpgsqlDbType.Bigint).ConfigureAwait(false);
        }).ConfigureAwait(false);

        foreach (var index in indexes)
        {
            await ExecuteAsync(connection, index).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT setval('artifact_version', {Math.Max(1, maxVersion)})")).ConfigureAwait(false);
        await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT setval(pg_get_serial_sequence('blobs', 'id'), {Math.Max(1, blobIds.Count)})")).ConfigureAwait(false);
        await ExecuteAsync(connection, "VACUUM (ANALYZE, FREEZE)").ConfigureAwait(false);
        long bytes;
        await using (var size = new NpgsqlCommand("SELECT pg_database_size(current_database())", connection))
        {
            bytes = (long)(await size.ExecuteScalarAsync().ConfigureAwait(false))!;
        }

        string ginOptions;
        await using (var options = new NpgsqlCommand("SELECT coalesce(array_to_string(reloptions, ','), 'default') FROM pg_class WHERE relname = 'artifacts_ref_digests'", connection))
        {
            ginOptions = (string)(await options.ExecuteScalarAsync().ConfigureAwait(false))!;
        }

        var (a, b, r, t, repositories) = generator.Counts;
        return (name, string.Create(CultureInfo.InvariantCulture,
            $"{a:N0} artifacts, {b:N0} blobs, {r:N0} references, {t:N0} tags, {snapshot.Links.Count:N0} accessory links, {repositories:N0} repositories; "
            + $"database {bytes / 1048576.0:N0} MB, GIN index options {ginOptions}; generated in {generated.TotalSeconds:F0} s, copied in and indexed in {(watch.Elapsed - generated).TotalSeconds:F0} s"));
    }

    /// <summary>A new database that is a copy of <paramref name="template"/>; its name.</summary>
    public static string Copy(PostgresBenchmarkCluster cluster, string template)
    {
        var name = "s" + Guid.NewGuid().ToString("N")[..10];
        cluster.Execute($"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY");
        return name;
    }

    /// <summary>Drops a database made by <see cref="Copy"/>.</summary>
    public static void Drop(PostgresBenchmarkCluster cluster, string database)
    {
        NpgsqlConnection.ClearAllPools();
        cluster.Execute($"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        var folder = cluster.BlobsFolder(database);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Opens the store of <paramref name="database"/> (its own connection pool).</summary>
    public static PostgresRegistryStore Open(PostgresBenchmarkCluster cluster, string database, TimeProvider time, bool readOnly = false, int maxPoolSize = 20)
    {
        var builder = new NpgsqlConnectionStringBuilder(cluster.ConnectionString(database)) { MaxPoolSize = maxPoolSize };
        if (Environment.GetEnvironmentVariable("HARBOR_GC_BENCH_MAX_AUTO_PREPARE") is { Length: > 0 } autoPrepare)
        {
            // Npgsql's automatic preparation (a statement run often is prepared on its connection): 0 turns the store's default off
            builder.MaxAutoPrepare = int.Parse(autoPrepare, CultureInfo.InvariantCulture);
        }

        if (Environment.GetEnvironmentVariable("HARBOR_GC_BENCH_CONNECTION_OPTIONS") is { Length: > 0 } options)
        {
            // more connection string keywords for an experiment, e.g. "Read Buffer Size=65536"
            builder.ConnectionString += ";" + options;
        }

        var connectionString = builder.ConnectionString;
        return PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = connectionString, BlobsPath = cluster.BlobsFolder(database), ReadOnly = readOnly, CreateIfMissing = !readOnly }, time);
    }

    private static async Task CopyAsync<T>(NpgsqlConnection connection, string sql, IEnumerable<T> rows, Func<NpgsqlBinaryImporter, T, Task> write)
    {
        await using var copy = await connection.BeginBinaryImportAsync(sql).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await copy.StartRowAsync().ConfigureAwait(false);
            await write(copy, row).ConfigureAwait(false);
        }

        await copy.CompleteAsync().ConfigureAwait(false);
    }

    private static Task WriteTextAsync(NpgsqlBinaryImporter copy, string? value) =>
        value is null ? copy.WriteNullAsync() : copy.WriteAsync(value, NpgsqlDbType.Text);

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
