using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Harbor.Gc.Tests.Integration;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// The <c>postgres:</c> store benchmark's own throwaway PostgreSQL cluster: <c>initdb</c> and <c>postgres</c> from Debian's package
/// (<see cref="PostgresCluster.FindBinaries"/>), data folder on <c>/dev/shm</c> when it has 2 GB free, else <c>/tmp</c>, served on a
/// free port of 127.0.0.1 only (no Unix socket), password authentication; stopped by its process id (<see cref="Dispose"/>, and a
/// watchdog shell when this process dies first). As the current user, or as <c>nobody</c> through <c>setpriv</c> when that is root
/// (PostgreSQL refuses root).
/// </summary>
/// <remarks>
/// Unlike the tests' cluster (16 MB of shared buffers, 50 connections) it is sized for a 1M-artifact store: 1 GB of shared buffers,
/// 100 connections, work_mem 64 MB. Durability is a throwaway's (fsync off, no full-page writes): on a memory file system an
/// fsync costs nothing anyway, and the figures say so.
/// </remarks>
internal sealed class PostgresBenchmarkCluster : IDisposable
{
    public const string User = "bench";

    private const string Nobody = "65534";

    private readonly string _work;
    private readonly StringBuilder _output = new();
    private Process? _server;
    private Process? _watchdog;

    public PostgresBenchmarkCluster()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the postgres: benchmark runs Debian's PostgreSQL (Linux only)");
        }

        Binaries = PostgresCluster.FindBinaries() ?? throw new InvalidOperationException("PostgreSQL is not installed (apt-get install -y postgresql): no initdb under /usr/lib/postgresql/N/bin");
        var parent = HasRoom("/dev/shm") ? "/dev/shm" : "/tmp";
        _work = Path.Combine(parent, "harbor-gc-pgbench-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_work);
        File.SetUnixFileMode(_work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        DataFolder = Path.Combine(_work, "data");
        Password = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        try
        {
            Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Binaries { get; }

    public string DataFolder { get; }

    public string Password { get; }

    public int Port { get; }

    /// <summary>The folder under the cluster's work folder where stores keep their blob bytes.</summary>
    public string BlobsFolder(string database) => Path.Combine(_work, "blobs-" + database);

    /// <summary>A pooled connection string for <paramref name="database"/> as the cluster's superuser.</summary>
    public string ConnectionString(string database, bool pooling = true) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Password = Password,
        Database = database,
        Pooling = pooling,
        Timeout = 30,
        CommandTimeout = 0,
    }.ConnectionString;

    /// <summary>Runs one statement in the <c>postgres</c> database.</summary>
    public void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        command.ExecuteNonQuery();
    }

    /// <summary>Stops the server by its process id (fast shutdown, then a kill) and the watchdog, and removes the folder.</summary>
    public void Dispose()
    {
        if (_server is { } server)
        {
            try
            {
                if (!server.HasExited)
                {
                    using (var kill = Process.Start("kill", ["-INT", server.Id.ToString(CultureInfo.InvariantCulture)]))
                    {
                        kill.WaitForExit();
                    }

                    if (!server.WaitForExit(TimeSpan.FromSeconds(30)))
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
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Start()
    {
        Directory.CreateDirectory(DataFolder);
        var passwordFile = Path.Combine(_work, "password");
        File.WriteAllText(passwordFile, Password + "\n");
        if (Environment.IsPrivilegedProcess)
        {
            Run("chown", $"{Nobody}:{Nobody}", DataFolder, passwordFile);
        }

        Run(AsServerUser(Path.Combine(Binaries, "initdb"), "-D", DataFolder, "-U", User, "--pwfile", passwordFile, "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"));
        File.Delete(passwordFile);
        _server = CapturedProcess.Start(AsServerUser(Path.Combine(Binaries, "postgres"),
            "-D", DataFolder, "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", string.Empty,
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "shared_buffers=1GB", "-c", "work_mem=64MB",
            "-c", "maintenance_work_mem=512MB", "-c", "max_wal_size=4GB", "-c", "logging_collector=off",
            "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"), _output);
        _watchdog = PostgresCluster.StartWatchdog(Environment.ProcessId, _server.Id);
        var started = Stopwatch.StartNew();
        while (true)
        {
            if (_server.HasExited)
            {
                throw new InvalidOperationException($"postgres exited with code {_server.ExitCode}:\n{Output}");
            }

            try
            {
                using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
                connection.Open();
                return;
            }
            catch (NpgsqlException e) when (e is not PostgresException || ((PostgresException)e).SqlState == PostgresErrorCodes.CannotConnectNow)
            {
            }

            if (started.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"postgres did not accept connections on 127.0.0.1:{Port} within 60 s:\n{Output}");
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

    private ProcessStartInfo AsServerUser(string program, params string[] arguments)
    {
        var info = Environment.IsPrivilegedProcess
            ? new ProcessStartInfo("setpriv") { ArgumentList = { $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--reset-env", "--", program } }
            : new ProcessStartInfo(program);
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

    private static void Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        Run(info);
    }

    private static void Run(ProcessStartInfo info)
    {
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{info.FileName} did not finish within 2 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{info.FileName} {string.Join(' ', info.ArgumentList)} exited with code {process.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        }
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
