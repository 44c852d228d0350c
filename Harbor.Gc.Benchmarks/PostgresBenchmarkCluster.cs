using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// The <c>postgres:</c> store benchmark's own throwaway PostgreSQL cluster: a <see cref="PostgresServer"/> (the tests' code, compiled
/// in: <c>initdb</c> and <c>postgres</c> from Debian's package, data folder on <c>/dev/shm</c> when it has 2 GB free, served on a free
/// port of 127.0.0.1 only, no Unix socket, password authentication, stopped by its process id and by a watchdog shell when this process
/// dies first, as <c>nobody</c> through <c>setpriv</c> when this process is root).
/// </summary>
/// <remarks>
/// Unlike the tests' cluster (16 MB of shared buffers, 50 connections) it is sized for a 1M-artifact store: 1 GB of shared buffers,
/// 100 connections, work_mem 64 MB. Durability is a throwaway's (fsync off, no full-page writes): on a memory file system an
/// fsync costs nothing anyway, and the figures say so.
/// </remarks>
internal sealed class PostgresBenchmarkCluster : IDisposable
{
    public const string User = "bench";

    private static readonly string[] Settings =
    [
        "fsync=off", "full_page_writes=off", "max_connections=100", "shared_buffers=1GB", "work_mem=64MB", "maintenance_work_mem=512MB",
        "max_wal_size=4GB", "logging_collector=off", "shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all",
    ];

    private readonly PostgresServer _server;

    public PostgresBenchmarkCluster()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the postgres: benchmark runs Debian's PostgreSQL (Linux only)");
        }

        var binaries = PostgresServer.FindBinaries() ?? throw new InvalidOperationException("PostgreSQL is not installed (apt-get install -y postgresql): no initdb under /usr/lib/postgresql/N/bin");
        _server = PostgresServer.Start(binaries, "pgbench", User, Settings, TimeSpan.FromSeconds(30));
    }

    public string Binaries => _server.Binaries;

    public string DataFolder => _server.DataFolder;

    public string Password => _server.Password;

    public int Port => _server.Port;

    /// <summary>The folder under the cluster's work folder where stores keep their blob bytes.</summary>
    public string BlobsFolder(string database) => Path.Combine(_server.Folder, "blobs-" + database);

    /// <summary>A pooled connection string for <paramref name="database"/> as the cluster's superuser.</summary>
    public string ConnectionString(string database, bool pooling = true)
    {
        var builder = _server.ConnectionString(database);
        builder.Pooling = pooling;
        builder.CommandTimeout = 0;
        return builder.ConnectionString;
    }

    /// <summary>Runs one statement in the <c>postgres</c> database.</summary>
    public void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        command.ExecuteNonQuery();
    }

    /// <summary>Stops the server by its process id (fast shutdown, then a kill) and the watchdog, and removes the folder.</summary>
    public void Dispose() => _server.Dispose();
}
