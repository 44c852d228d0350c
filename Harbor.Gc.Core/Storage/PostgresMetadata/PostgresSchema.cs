using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using Npgsql;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// The <c>postgres:</c> store's schema: numbered SQL migrations embedded in this assembly (<c>Migrations/NNNN_name.sql</c>), and the
/// table <c>harbor_gc_schema</c> that records each one applied. Migrating runs in one transaction under a transaction-level
/// advisory lock, so two processes opening the store at once never both migrate: the second waits, then finds the work done.
/// </summary>
/// <remarks>
/// What a database may be, and what opening it does: empty (no table in the current schema) — created when asked, refused otherwise;
/// a Harbor.Gc store at a version this build knows — migrated to the newest when writable; at a newer version — refused; with some of
/// the store's tables but no version record, or a version record whose tables are missing (a migration half-applied by hand, or
/// the schema altered) — refused; tables of another application and no version record — refused. A refusal changes nothing.
/// </remarks>
internal static class PostgresSchema
{
    /// <summary>The table recording the applied migrations.</summary>
    public const string VersionTable = "harbor_gc_schema";

    // the advisory lock of migrations: the two-key form, a key space apart from the one-key locks the store takes per digest and tag
    private const int LockClass = 0x48474353; // "HGCS"
    private const int LockObject = 1;

    /// <summary>The migrations, by version, in order.</summary>
    public static readonly ImmutableArray<Migration> Migrations = LoadMigrations();

    /// <summary>The newest schema version this build knows.</summary>
    public static int CurrentVersion => Migrations[^1].Version;

    /// <summary>The tables each version needs (the store's tables, as the newest migration leaves them).</summary>
    public static readonly ImmutableArray<string> Tables = [VersionTable, "harbor_gc_store", "blobs", "artifacts", "tags", "accessory_links", "layer_links", "media_types"];

    /// <summary>
    /// Checks the database and, when <paramref name="readOnly"/> is false, creates (if <paramref name="create"/>) or migrates it to
    /// <see cref="CurrentVersion"/>, all in one transaction under the migration lock.
    /// </summary>
    /// <param name="connection">An open connection to the database.</param>
    /// <param name="where">The database, for messages.</param>
    /// <param name="create">Whether an empty database becomes a store.</param>
    /// <param name="readOnly">Whether to check only (no migration).</param>
    /// <param name="cancellationToken">Cancels it.</param>
    /// <param name="upTo">For tests: migrate no further than this version (an older store, as an older build left it).</param>
    /// <returns>The store id.</returns>
    /// <exception cref="InvalidDataException">The database is not a store this build may open (see the remarks); nothing was changed.</exception>
    public static async Task<string> EnsureAsync(NpgsqlConnection connection, string where, bool create, bool readOnly, CancellationToken cancellationToken, int? upTo = null)
    {
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        if (!readOnly)
        {
            await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({LockClass}, {LockObject})"), cancellationToken).ConfigureAwait(false);
        }

        var tables = await ListTablesAsync(connection, cancellationToken).ConfigureAwait(false);
        var version = 0;
        if (!tables.Contains(VersionTable))
        {
            var ours = Tables.Where(tables.Contains).ToList();
            if (ours.Count > 0)
            {
                throw new InvalidDataException(
                    $"{where} holds tables of a Harbor.Gc store ({string.Join(", ", ours)}) but no {VersionTable} record: a migration was half-applied "
                    + "or the schema was changed by hand. Nothing was changed; restore the database from a backup or drop those tables.");
            }

            if (tables.Count > 0)
            {
                throw new InvalidDataException(
                    $"{where} is not a Harbor.Gc store: it holds tables of another application ({string.Join(", ", tables.Order(StringComparer.Ordinal).Take(8))}"
                    + $"{(tables.Count > 8 ? ", ..." : string.Empty)}). Nothing was changed. Give the store a database of its own.");
            }

            if (!create || readOnly)
            {
                throw new InvalidDataException($"{where} is an empty database with no Harbor.Gc store. Nothing was created (a store is created by the registry that writes it).");
            }
        }
        else
        {
            var versions = await ReadVersionsAsync(connection, cancellationToken).ConfigureAwait(false);
            version = versions.Count == 0 ? 0 : versions[^1];
            if (version > CurrentVersion)
            {
                throw new InvalidDataException(
                    $"{where} is a Harbor.Gc store of schema version {version}, newer than this harbor-gc knows (version {CurrentVersion}). Nothing was changed; "
                    + "use the Harbor.Gc version that wrote it, or a newer one.");
            }

            if (!versions.SequenceEqual(Enumerable.Range(1, versions.Count)))
            {
                throw new InvalidDataException(
                    $"{where} records the Harbor.Gc schema versions {string.Join(", ", versions)}, not one migration after another from 1: "
                    + "the schema was changed by hand. Nothing was changed.");
            }

            if (version == CurrentVersion && Tables.FirstOrDefault(t => !tables.Contains(t)) is { } missing)
            {
                throw new InvalidDataException(
                    $"{where} records Harbor.Gc schema version {version}, but its table {missing} is missing: a migration was half-applied or the schema "
                    + "was changed by hand. Nothing was changed; restore the database from a backup.");
            }

            if (version < CurrentVersion && readOnly)
            {
                throw new InvalidDataException(
                    $"{where} is a Harbor.Gc store of schema version {version}; this harbor-gc reads version {CurrentVersion}, and a read-only opening does not migrate. "
                    + "Nothing was changed; open it once for writing (a real run, or the registry) to migrate it.");
            }
        }

        foreach (var migration in Migrations.Where(m => m.Version > version && m.Version <= (upTo ?? CurrentVersion)))
        {
            if (migration.Version == 1)
            {
                await ExecuteAsync(connection, $"CREATE TABLE {VersionTable} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(connection, migration.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand($"INSERT INTO {VersionTable} (version, name) VALUES (@version, @name)", connection);
            record.Parameters.AddWithValue("version", migration.Version);
            record.Parameters.AddWithValue("name", migration.Name);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        string id;
        await using (var read = new NpgsqlCommand("SELECT id FROM harbor_gc_store", connection))
        {
            id = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string
                ?? throw new InvalidDataException($"{where} is a Harbor.Gc store without its store id (the table harbor_gc_store is empty). Nothing was changed.");
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <summary>The tables of the connection's current schema.</summary>
    public static async Task<HashSet<string>> ListTablesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tables = new HashSet<string>(StringComparer.Ordinal);
        await using var command = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    private static async Task<List<int>> ReadVersionsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var versions = new List<int>();
        await using var command = new NpgsqlCommand($"SELECT version FROM {VersionTable} ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static ImmutableArray<Migration> LoadMigrations()
    {
        var assembly = typeof(PostgresSchema).Assembly;
        const string prefix = "Harbor.Gc.Storage.PostgresMetadata.Migrations.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var name = resource[prefix.Length..^".sql".Length];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var text = new StreamReader(stream);
            migrations.Add(new Migration(version, name, text.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        if (migrations.Count == 0 || migrations.Select(m => m.Version).Where((v, i) => v != i + 1).Any())
        {
            throw new InvalidOperationException("The postgres: store's migrations are not numbered 1, 2, ... (a build error).");
        }

        return [.. migrations];
    }

    /// <summary>One migration.</summary>
    /// <param name="Version">Its number.</param>
    /// <param name="Name">Its resource name (<c>0001_initial</c>).</param>
    /// <param name="Sql">What it runs.</param>
    internal sealed record Migration(int Version, string Name, string Sql);
}
