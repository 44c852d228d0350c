using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A real PostgreSQL cluster (Debian's <c>postgresql</c> package) for the tests of the <c>harbor:</c> store: created by <c>initdb</c> under a
/// temporary folder, served by <c>postgres</c> on 127.0.0.1 only, on a free port, with password (SCRAM) authentication on loopback
/// and no Unix socket. One cluster serves the whole test run (<see cref="Shared"/>, started by the first test that asks), each test
/// gets its own database (<see cref="CreateDatabaseAsync"/>).
/// </summary>
/// <remarks>
/// PostgreSQL refuses to run as root. When the tests run as root, <c>initdb</c> and <c>postgres</c> run as <c>nobody</c> through
/// <c>setpriv</c> (util-linux, on every Debian), in a folder that user owns; otherwise as the current user. The server is stopped by
/// its process id: by <see cref="StopPostgresAtRunEnd"/> at the end of the run, at process exit, and by a watchdog shell that
/// ends it when the test process dies without either (killed, crashed).
/// </remarks>
internal sealed class PostgresCluster : IDisposable
{
    /// <summary>The variable that makes a missing PostgreSQL a failure instead of a skip (<c>.ci/run</c> sets it).</summary>
    public const string RequireVariable = "HARBOR_GC_REQUIRE_POSTGRES";

    /// <summary>The superuser's name.</summary>
    public const string User = "harbor";

    /// <summary>The user and group the server runs as when the tests run as root: <c>nobody</c> and its group (65534 on Debian and most Linux systems).</summary>
    private const string Nobody = "65534";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly object Gate = new();
    private static PostgresCluster? _shared;
    private static Exception? _sharedFailure;
    private static int _databases;

    private readonly string _work;
    private readonly StringBuilder _output = new();
    private Process? _server;
    private Process? _watchdog;

    private PostgresCluster(string binaries)
    {
        // a memory file system when there is room (creating a database per test is four times faster there: the cluster is a
        // throwaway, fsync off), else /tmp for nobody's sake when root, else the temporary folder
        var parent = HasRoom("/dev/shm") ? "/dev/shm" : Environment.IsPrivilegedProcess ? "/tmp" : Path.GetTempPath();
        _work = Path.Combine(parent, "harbor-gc-postgres-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        if (OperatingSystem.IsWindows())
        {
            throw new IgnoreException("the PostgreSQL tests (harbor: and postgres: stores) run PostgreSQL from Debian's package (Linux only)");
        }

        File.SetUnixFileMode(_work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        Binaries = binaries;
        DataFolder = Path.Combine(_work, "data");
        Password = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        Port = FreePort();
    }

    static PostgresCluster() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopShared();

    /// <summary>The folder holding <c>initdb</c> and <c>postgres</c>.</summary>
    public string Binaries { get; }

    /// <summary>The cluster's data folder.</summary>
    public string DataFolder { get; }

    /// <summary>The superuser's password.</summary>
    public string Password { get; }

    /// <summary>The loopback port.</summary>
    public int Port { get; }

    /// <summary>The server's process id.</summary>
    public int ProcessId => _server?.Id ?? 0;

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
                    var cluster = new PostgresCluster(binaries);
                    try
                    {
                        cluster.Start();
                    }
                    catch (Exception e)
                    {
                        cluster.Dispose();
                        _sharedFailure = e;
                        throw;
                    }

                    _shared = cluster;
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

    /// <summary>The folder of Debian's PostgreSQL programs (the newest <c>/usr/lib/postgresql/N/bin</c>, or <c>HARBOR_GC_POSTGRES_BIN</c>); null when there is none.</summary>
    public static string? FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("HARBOR_GC_POSTGRES_BIN") is { Length: > 0 } given)
        {
            return File.Exists(Path.Combine(given, "initdb")) ? given : null;
        }

        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.GetDirectories(root)
            .Select(d => (Folder: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1))
            .Where(c => File.Exists(Path.Combine(c.Folder, "initdb")) && File.Exists(Path.Combine(c.Folder, "postgres")))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Folder)
            .FirstOrDefault();
    }

    private static string RequireBinaries()
    {
        if (FindBinaries() is { } found)
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
    public string ConnectionString(string database, string? password = null) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Password = password ?? Password,
        Database = database,
        Pooling = false,
        Timeout = 30,
    }.ConnectionString;

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
    public void Dispose()
    {
        if (_server is { } server)
        {
            try
            {
                if (!server.HasExited)
                {
                    Signal("INT", server.Id); // fast shutdown: ends the sessions, no checkpoint needed for a throwaway cluster
                    if (!server.WaitForExit(TimeSpan.FromSeconds(20)))
                    {
                        server.Kill(entireProcessTree: true);
                        server.WaitForExit(TimeSpan.FromSeconds(10));
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            server.Dispose();
            _server = null;
        }

        if (_watchdog is { } watchdog)
        {
            try
            {
                watchdog.Kill();
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            watchdog.Dispose();
            _watchdog = null;
        }

        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // a server still writing: the folder is under the temporary folder
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Start()
    {
        // the data folder belongs to the user the server runs as
        Directory.CreateDirectory(DataFolder);
        var passwordFile = Path.Combine(_work, "password");
        File.WriteAllText(passwordFile, Password + "\n");
        if (Environment.IsPrivilegedProcess)
        {
            Run("chown", $"{Nobody}:{Nobody}", DataFolder, passwordFile);
        }

        RunAsServerUser(Path.Combine(Binaries, "initdb"), "-D", DataFolder, "-U", User, "--pwfile", passwordFile, "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions");
        File.Delete(passwordFile);

        var arguments = new[]
        {
            "-D", DataFolder, "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", string.Empty,
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50",
            "-c", "shared_buffers=16MB", "-c", "logging_collector=off",
        };
        _server = Launch(Path.Combine(Binaries, "postgres"), arguments);
        _watchdog = StartWatchdog(Environment.ProcessId, _server.Id);
        WaitUntilServing();
    }

    private void WaitUntilServing()
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            if (_server!.HasExited)
            {
                throw new InvalidOperationException($"postgres exited with code {_server.ExitCode} before accepting connections on 127.0.0.1:{Port}:\n{Output}");
            }

            try
            {
                using var connection = new NpgsqlConnection(ConnectionString("postgres"));
                connection.Open();
                return;
            }
            catch (NpgsqlException e) when (e is not PostgresException || ((PostgresException)e).SqlState == PostgresErrorCodes.CannotConnectNow)
            {
                // not listening yet, or starting up
            }

            if (TimeProvider.System.GetElapsedTime(started) > StartTimeout)
            {
                throw new InvalidOperationException($"postgres did not accept connections on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds} s:\n{Output}");
            }

            Thread.Sleep(50);
        }
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>A shell that waits for <paramref name="parentId"/> (the test process) to end and then ends the server: nothing outlives a killed test run.</summary>
    internal static Process StartWatchdog(int parentId, int serverId)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var argument in new[]
                 {
                     "-c", "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; kill -QUIT \"$2\" 2>/dev/null", "postgres-watchdog",
                     parentId.ToString(CultureInfo.InvariantCulture), serverId.ToString(CultureInfo.InvariantCulture),
                 })
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("the watchdog shell did not start");
    }

    private Process Launch(string program, IEnumerable<string> arguments) => CapturedProcess.Start(AsServerUser(program, arguments), _output);

    private void RunAsServerUser(string program, params string[] arguments)
    {
        using var process = new Process { StartInfo = AsServerUser(program, arguments) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{program} did not finish within 2 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} exited with code {process.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with code {process.ExitCode}: {error}");
        }
    }

    private static void Signal(string signal, int pid) => Run("kill", "-" + signal, pid.ToString(CultureInfo.InvariantCulture));

    /// <summary>Runs <paramref name="program"/> as the current user, or as <c>nobody</c> through <c>setpriv</c> when that is root.</summary>
    private ProcessStartInfo AsServerUser(string program, IEnumerable<string> arguments)
    {
        ProcessStartInfo info;
        if (Environment.IsPrivilegedProcess)
        {
            info = new ProcessStartInfo("setpriv");
            foreach (var argument in new[] { $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--reset-env", "--", program })
            {
                info.ArgumentList.Add(argument);
            }
        }
        else
        {
            info = new ProcessStartInfo(program);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.WorkingDirectory = _work;
        return info;
    }

    private static bool HasRoom(string folder)
    {
        try
        {
            return Directory.Exists(folder) && new DriveInfo(folder).AvailableFreeSpace > 2L << 30;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
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
