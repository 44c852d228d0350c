using System.Globalization;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Integration;
using Npgsql;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Databases of the test run's PostgreSQL cluster (<see cref="PostgresCluster.Shared"/>) for the <c>postgres:</c> store: an empty
/// store's schema is migrated once, into a template database, and each test's store is a <c>CREATE DATABASE … TEMPLATE</c> copy of
/// it (a filled random registry likewise: filled once, copied per use). Ignores the test when PostgreSQL is not installed, or fails
/// it when <c>HARBOR_GC_REQUIRE_POSTGRES=1</c>.
/// </summary>
internal static class PostgresTestDatabases
{
    private static readonly Lock Gate = new();
    private static string? _emptyTemplate;
    private static PostgresCluster? _templateCluster;
    private static int _databases;

    /// <summary>The cluster (started on first use).</summary>
    public static PostgresCluster Cluster => PostgresCluster.Shared;

    /// <summary>A new database holding an empty, migrated store; dropped when the returned handle is disposed.</summary>
    public static Database NewStoreDatabase()
    {
        string template;
        lock (Gate)
        {
            // the run's cluster is stopped when the Integration namespace's tests end (StopPostgresAtRunEnd), and a test after them
            // starts a new one: the template is made once per cluster
            var cluster = Cluster;
            if (_emptyTemplate is null || !ReferenceEquals(_templateCluster, cluster))
            {
                var name = NewEmptyDatabase("hgc_empty");
                var folder = Path.Combine(Path.GetTempPath(), "harbor-gc-pg-template-" + Guid.NewGuid().ToString("N")[..8]);
                try
                {
                    using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = ConnectionString(name), BlobsPath = folder, CreateIfMissing = true });
                }
                finally
                {
                    Directory.Delete(folder, recursive: true);
                }

                _emptyTemplate = name;
                _templateCluster = cluster;
            }

            template = _emptyTemplate;
        }

        return Copy(template);
    }

    /// <summary>
    /// A new database holding a store at schema version <paramref name="version"/> (an older build's), with <paramref name="sql"/> run in
    /// it (rows as that version wrote them); its pooled connections are closed, so a test opens it as a later build would.
    /// </summary>
    public static async Task<Database> NewStoreDatabaseAtAsync(int version, string? sql = null)
    {
        var database = new Database(NewEmptyDatabase());
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            await connection.OpenAsync();
            await PostgresSchema.EnsureAsync(connection, database.Name, create: true, readOnly: false, CancellationToken.None, upTo: version);
            if (sql is not null)
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        NpgsqlConnection.ClearAllPools();
        return database;
    }

    /// <summary>A new database that is a copy of <paramref name="template"/> (which nothing may be connected to).</summary>
    public static Database Copy(string template)
    {
        var name = Next("t");
        Execute($"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY");
        return new Database(name);
    }

    /// <summary>A new empty database (no tables) of a unique name.</summary>
    public static string NewEmptyDatabase(string prefix = "e")
    {
        var name = Next(prefix);
        Execute($"CREATE DATABASE {name}");
        return name;
    }

    /// <summary>A pooled connection string for <paramref name="database"/> as the cluster's superuser.</summary>
    public static string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder(Cluster.ConnectionString(database)) { Pooling = true, MaxPoolSize = 8 }.ConnectionString;

    /// <summary>Runs one statement in the cluster's <c>postgres</c> database.</summary>
    public static void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(Cluster.ConnectionString("postgres"));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private static string Next(string prefix) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}");

    /// <summary>A database of the cluster, dropped (whatever is still connected) when disposed.</summary>
    internal sealed class Database(string name) : IDisposable
    {
        private bool _dropped;

        public string Name => name;

        public string ConnectionString => PostgresTestDatabases.ConnectionString(name);

        public void Dispose()
        {
            if (_dropped)
            {
                return;
            }

            _dropped = true;
            Execute($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }
}
