using System.Diagnostics;
using System.Globalization;
using System.Text;
using Npgsql;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A throwaway PostgreSQL cluster (Debian's <c>postgresql</c> package): created by <c>initdb</c> under a temporary folder, served by
/// <c>postgres</c> on 127.0.0.1 only, on a free port, with password (SCRAM) authentication on loopback and no Unix socket; stopped by
/// its process id (<see cref="Dispose"/>, and a watchdog shell when this process dies first). The tests' cluster
/// (<c>Integration/PostgresCluster.cs</c>) and the <c>postgres:</c> store benchmark's (<c>PostgresBenchmarkCluster</c>) are both one,
/// with their own superuser and settings. No NUnit here: the benchmarks compile this file in too.
/// </summary>
/// <remarks>
/// PostgreSQL refuses to run as root. When this process is root, <c>initdb</c> and <c>postgres</c> run as <c>nobody</c> through
/// <c>setpriv</c> (util-linux, on every Debian), in a folder that user owns; otherwise as the current user. The folder is on the
/// memory file system when it has room (a throwaway cluster, fsync off: creating a database is four times faster there), else on
/// <c>/tmp</c> for <c>nobody</c>'s sake when root, else in the temporary folder.
/// </remarks>
internal sealed class PostgresServer : IDisposable
{
    /// <summary>The user and group the server runs as when this process is root: <c>nobody</c> and its group (65534 on Debian and most Linux systems).</summary>
    private const string Nobody = "65534";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SetupTimeout = TimeSpan.FromMinutes(2);

    private readonly string _work;
    private readonly StringBuilder _output = new();
    private readonly TimeSpan _stopTimeout;
    private Process? _server;
    private Process? _watchdog;

    private PostgresServer(string binaries, string name, string user, TimeSpan stopTimeout)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("PostgreSQL is run from Debian's package (Linux only)");
        }

        var parent = HasRoom("/dev/shm") ? "/dev/shm" : Environment.IsPrivilegedProcess ? "/tmp" : Path.GetTempPath();
        _work = Path.Combine(parent, $"harbor-gc-{name}-{Guid.NewGuid().ToString("N")[..12]}");
        Directory.CreateDirectory(_work);
        File.SetUnixFileMode(_work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        _stopTimeout = stopTimeout;
        Binaries = binaries;
        User = user;
        DataFolder = Path.Combine(_work, "data");
        Password = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        Port = FixtureProcess.FreePort();
    }

    /// <summary>The folder holding <c>initdb</c> and <c>postgres</c>.</summary>
    public string Binaries { get; }

    /// <summary>The folder everything of the cluster is in (its data folder among it); removed by <see cref="Dispose"/>.</summary>
    public string Folder => _work;

    /// <summary>The cluster's data folder.</summary>
    public string DataFolder { get; }

    /// <summary>The superuser's name.</summary>
    public string User { get; }

    /// <summary>The superuser's password.</summary>
    public string Password { get; }

    /// <summary>The loopback port.</summary>
    public int Port { get; }

    /// <summary>The server's process id.</summary>
    public int ProcessId => _server?.Id ?? 0;

    /// <summary>What the server printed.</summary>
    public string Output => FixtureProcess.Read(_output);

    /// <summary>
    /// Creates a cluster and starts its server; returns once it accepts connections.
    /// </summary>
    /// <param name="binaries">The folder of <c>initdb</c> and <c>postgres</c> (<see cref="FindBinaries"/>).</param>
    /// <param name="name">Names the folder: <c>harbor-gc-NAME-…</c>.</param>
    /// <param name="user">The superuser's name.</param>
    /// <param name="settings">The server's settings, <c>name=value</c> each (given as <c>-c</c>).</param>
    /// <param name="stopTimeout">How long <see cref="Dispose"/> waits for the fast shutdown, before a kill.</param>
    /// <exception cref="InvalidOperationException">A step failed; the message carries its output (nothing is left running).</exception>
    public static PostgresServer Start(string binaries, string name, string user, IEnumerable<string> settings, TimeSpan stopTimeout)
    {
        var server = new PostgresServer(binaries, name, user, stopTimeout);
        try
        {
            server.Start(settings);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
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

    /// <summary>A shell that waits for <paramref name="parentId"/> (this process) to end and then ends the server: nothing outlives a killed run.</summary>
    public static Process StartWatchdog(int parentId, int serverId) =>
        FixtureProcess.StartWatchdog("postgres-watchdog", parentId, "kill -QUIT \"$2\" 2>/dev/null", serverId.ToString(CultureInfo.InvariantCulture));

    /// <summary>A connection string for <paramref name="database"/> as the superuser (or <paramref name="password"/>), unpooled.</summary>
    public NpgsqlConnectionStringBuilder ConnectionString(string database, string? password = null) => new()
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Password = password ?? Password,
        Database = database,
        Pooling = false,
        Timeout = 30,
    };

    /// <summary>Stops the server by its process id (fast shutdown, then a kill) and its watchdog, and removes the folder.</summary>
    public void Dispose()
    {
        if (_server is { } server)
        {
            // fast shutdown: ends the sessions, no checkpoint needed for a throwaway cluster
            FixtureProcess.Stop([server], "INT", _stopTimeout, entireProcessTree: true);
            _server = null;
        }

        FixtureProcess.Kill(ref _watchdog);
        FixtureProcess.RemoveFolder(_work);
    }

    private void Start(IEnumerable<string> settings)
    {
        // the data folder belongs to the user the server runs as
        Directory.CreateDirectory(DataFolder);
        var passwordFile = Path.Combine(_work, "password");
        File.WriteAllText(passwordFile, Password + "\n");
        if (Environment.IsPrivilegedProcess)
        {
            FixtureProcess.RunChecked(FixtureProcess.Info("chown", [$"{Nobody}:{Nobody}", DataFolder, passwordFile]), SetupTimeout);
        }

        FixtureProcess.RunChecked(AsServerUser(Path.Combine(Binaries, "initdb"), "-D", DataFolder, "-U", User, "--pwfile", passwordFile,
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"), SetupTimeout);
        File.Delete(passwordFile);

        _server = FixtureProcess.Start(AsServerUser(Path.Combine(Binaries, "postgres"),
            ["-D", DataFolder, "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", string.Empty, .. settings.SelectMany(s => new[] { "-c", s })]), _output);
        _watchdog = StartWatchdog(Environment.ProcessId, _server.Id);
        var connectionString = ConnectionString("postgres").ConnectionString;
        FixtureProcess.WaitUntilServingAsync(_server, "postgres", $"accepting connections on 127.0.0.1:{Port}", _ => Task.FromResult(Accepts(connectionString)),
            StartTimeout, () => Output, TimeProvider.System).GetAwaiter().GetResult();
    }

    private static bool Accepts(string connectionString)
    {
        try
        {
            using var connection = new NpgsqlConnection(connectionString);
            connection.Open();
            return true;
        }
        catch (NpgsqlException e) when (e is not PostgresException || ((PostgresException)e).SqlState == PostgresErrorCodes.CannotConnectNow)
        {
            return false; // not listening yet, or starting up
        }
    }

    /// <summary>Runs <paramref name="program"/> as the current user, or as <c>nobody</c> through <c>setpriv</c> when that is root.</summary>
    private ProcessStartInfo AsServerUser(string program, params string[] arguments)
    {
        var info = Environment.IsPrivilegedProcess
            ? FixtureProcess.Info("setpriv", [$"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--reset-env", "--", program, .. arguments])
            : FixtureProcess.Info(program, arguments);
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
}
