using System.Globalization;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A real PostgreSQL cluster (Debian's <c>postgresql</c> package) for the tests of the <c>harbor:</c> and <c>postgres:</c> stores: a
/// <see cref="PostgresServer"/> (<c>initdb</c> under a temporary folder, <c>postgres</c> on 127.0.0.1 only, on a free port, with
/// password (SCRAM) authentication on loopback and no Unix socket, as <c>nobody</c> when the tests run as root). One cluster serves the
/// whole test run (<see cref="Shared"/>, started by the first test that asks), each test gets its own database
/// (<see cref="CreateDatabaseAsync"/>).
/// </summary>
/// <remarks>
/// The server is stopped by its process id: by <see cref="StopPostgresAtRunEnd"/> at the end of the run, at process exit, and by a
/// watchdog shell that ends it when the test process dies without either (killed, crashed). Without PostgreSQL the tests are
/// ignored, or fail when <see cref="RequireVariable"/> is 1.
/// </remarks>
internal sealed class PostgresCluster : IDisposable
{
    /// <summary>The variable that makes a missing PostgreSQL a failure instead of a skip (<c>.ci/run</c> sets it).</summary>
    public const string RequireVariable = "HARBOR_GC_REQUIRE_POSTGRES";

    /// <summary>The superuser's name.</summary>
    public const string User = "harbor";

    /// <summary>Small, and quick rather than durable: a throwaway cluster, a database per test.</summary>
    private static readonly string[] Settings =
    [
        "fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=50", "shared_buffers=16MB", "logging_collector=off",
    ];

    private static readonly object Gate = new();
    private static PostgresCluster? _shared;
    private static Exception? _sharedFailure;
    private static int _databases;

    private readonly PostgresServer _server;

    private PostgresCluster(PostgresServer server) => _server = server;

    static PostgresCluster() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopShared();

    /// <summary>The folder holding <c>initdb</c> and <c>postgres</c>.</summary>
    public string Binaries => _server.Binaries;

    /// <summary>The cluster's data folder.</summary>
    public string DataFolder => _server.DataFolder;

    /// <summary>The superuser's password.</summary>
    public string Password => _server.Password;

    /// <summary>The loopback port.</summary>
    public int Port => _server.Port;

    /// <summary>The server's process id.</summary>
    public int ProcessId => _server.ProcessId;

    /// <summary>The cluster of this test run, started on first use; ignores or fails the test when PostgreSQL is not installed.</summary>
    public static PostgresCluster Shared
    {
        get
        {
            var binaries = RequireBinaries();
            lock (Gate)
            {
                if (_sharedFailure is not null)
                {
                    throw new InvalidOperationException("the test run's PostgreSQL cluster failed to start: " + _sharedFailure.Message, _sharedFailure);
                }

                if (_shared is null)
                {
                    try
                    {
                        _shared = new PostgresCluster(PostgresServer.Start(binaries, "postgres", User, Settings, TimeSpan.FromSeconds(20)));
                    }
                    catch (Exception e)
                    {
                        _sharedFailure = e;
                        throw;
                    }
                }

                return _shared;
            }
        }
    }

    /// <summary>Stops the run's cluster if one was started (teardown and process exit).</summary>
    public static void StopShared()
    {
        lock (Gate)
        {
            _shared?.Dispose();
            _shared = null;
        }
    }

    private static string RequireBinaries()
    {
        if (!OperatingSystem.IsWindows() && PostgresServer.FindBinaries() is { } found)
        {
            return found;
        }

        const string hint = "apt-get install -y postgresql";
        if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
        {
            throw new AssertionException($"PostgreSQL (initdb under /usr/lib/postgresql/N/bin) is missing and {RequireVariable}=1 asks for the PostgreSQL tests (harbor: and postgres: stores): {hint}");
        }

        throw new IgnoreException($"PostgreSQL (initdb under /usr/lib/postgresql/N/bin) is missing, so the PostgreSQL tests (harbor: and postgres: stores) are skipped: {hint} (set {RequireVariable}=1 to fail instead)");
    }

    /// <summary>A connection string for <paramref name="database"/> as the superuser (or <paramref name="password"/>).</summary>
    public string ConnectionString(string database, string? password = null) => _server.ConnectionString(database, password).ConnectionString;

    /// <summary>Creates an empty database of a unique name and returns its name.</summary>
    public async Task<string> CreateDatabaseAsync(CancellationToken cancellationToken = default)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"t{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}");
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return name;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/> (closing what is still connected to it).</summary>
    public async Task DropDatabaseAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the server by its process id (fast shutdown, then a kill) and its watchdog, and removes the folder.</summary>
    public void Dispose() => _server.Dispose();
}

/// <summary>Stops the test run's PostgreSQL cluster when the run ends (the cluster is started by the first test that needs it).</summary>
/// <remarks>It applies to this namespace, where every test that uses the cluster is.</remarks>
[SetUpFixture]
public sealed class StopPostgresAtRunEnd
{
    /// <summary>Stops the cluster.</summary>
    [OneTimeTearDown]
    public void StopCluster() => PostgresCluster.StopShared();
}
