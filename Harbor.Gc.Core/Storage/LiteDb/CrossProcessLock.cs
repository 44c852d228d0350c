using System.Security.Cryptography;
using System.Text;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// The lock a shared-mode <see cref="LiteDbRegistryStore"/> holds around every LiteDB operation and transaction, so that no two
/// processes ever use the database at once, whatever LiteDB's own lock does.
/// </summary>
/// <remarks>
/// <para>LiteDB's shared mode excludes other processes with a named mutex only. On Unix the runtime keeps a named mutex in files of
/// its own: up to .NET 10.0.12 under <c>/tmp/.dotnet/shm</c>, from 10.0.13 (and 9.0.21, 8.0.32) per user, under
/// <c>$XDG_RUNTIME_DIR</c> or the home folder. Two processes that see another <c>/tmp</c> (a container, a systemd unit with
/// <c>PrivateTmp=yes</c>), run as other users, or (from 10.0.13) have another <c>XDG_RUNTIME_DIR</c>, get two different
/// mutexes with the same name, and LiteDB then lets both into the file at once: torn reads, a damaged database, lost writes.</para>
/// <para>This lock is two: first a named mutex of its own (waiters sleep until it is free, which is fast and fair between
/// processes that share the runtime's mutex files, the usual case), then an exclusive OS file lock on <c>DATABASE.lock</c> beside
/// the database (<c>flock</c> on Unix, a sharing lock on Windows), which holds between any two processes that can open that file.
/// The file lock is taken without waiting and tried again every millisecond or so: a process that shares the mutex always finds
/// it free (whoever holds it holds the mutex too), so only processes that do not share the mutex ever wait on it.</para>
/// <para>Re-entrant on the thread that holds it (a transaction's reads run inside it). A thread must leave it on the thread that
/// entered it: every LiteDB call of the store is synchronous.</para>
/// </remarks>
internal sealed class CrossProcessLock : IDisposable
{
    private readonly Mutex _mutex;
    private readonly string _path;
    private FileStream? _held;
    private int _depth;

    /// <summary>Creates the lock of the database at <paramref name="databasePath"/> (a full path).</summary>
    /// <param name="databasePath">The database file.</param>
    public CrossProcessLock(string databasePath)
    {
        _path = PathFor(databasePath);
        var name = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(databasePath.ToUpperInvariant())));
        _mutex = new Mutex(false, $@"Global\harbor-gc-{name}");
    }

    /// <summary>Whether the lock file exists (it is created by <see cref="CreateFile"/>; until then only the mutex is taken).</summary>
    public bool HasFile => File.Exists(_path);

    /// <summary>The lock file of the database at <paramref name="databasePath"/>.</summary>
    /// <param name="databasePath">The database file.</param>
    /// <returns><c>DATABASE.lock</c>.</returns>
    public static string PathFor(string databasePath) => databasePath + ".lock";

    /// <summary>Runs <paramref name="action"/> holding the lock.</summary>
    /// <typeparam name="T">What it returns.</typeparam>
    /// <param name="action">The LiteDB operation.</param>
    /// <returns>What <paramref name="action"/> returned.</returns>
    public T Run<T>(Func<T> action)
    {
        Enter();
        try
        {
            return action();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Creates the lock file when it is missing (an empty file; creating it takes the lock as well). Called once the store is known
    /// to be this project's, so that opening a foreign file leaves nothing beside it. A process that may not create files there
    /// (another user, a read-only mount) leaves it to the registry's process, which writes the database beside it.
    /// </summary>
    public void CreateFile() => Run(() =>
    {
        try
        {
            _held ??= Lock(FileMode.OpenOrCreate);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException && !File.Exists(_path))
        {
            // not ours to create
        }

        return 0;
    });

    /// <inheritdoc />
    public void Dispose() => _mutex.Dispose();

    private void Enter()
    {
        try
        {
            _mutex.WaitOne();
        }
        catch (AbandonedMutexException)
        {
            // its owner died holding it: the OS released the owner's file lock too, and LiteDB's log undoes its half-done write
        }

        if (_depth++ > 0)
        {
            return;
        }

        try
        {
            _held = Lock(FileMode.Open);
        }
        catch
        {
            _depth = 0;
            _mutex.ReleaseMutex();
            throw;
        }
    }

    private void Exit()
    {
        if (--_depth == 0)
        {
            _held?.Dispose();
            _held = null;
        }

        _mutex.ReleaseMutex();
    }

    /// <summary>
    /// Opens the lock file exclusively (.NET takes <c>flock(LOCK_EX)</c> on Unix for <see cref="FileShare.None"/>), trying again
    /// while another process has it; null when the file does not exist and <paramref name="mode"/> does not create it.
    /// </summary>
    private FileStream? Lock(FileMode mode)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                // read access suffices for the lock, and a store opened by another user may not write the file
                return mode == FileMode.Open
                    ? new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.None)
                    : new FileStream(_path, mode, FileAccess.ReadWrite, FileShare.None);
            }
            catch (FileNotFoundException) when (mode == FileMode.Open)
            {
                return null; // a store no open of this version has finished yet: the mutex alone, as LiteDB does
            }
            catch (IOException) when (File.Exists(_path))
            {
                // held by a process that does not share this mutex: it holds it for one operation
                Thread.Sleep(attempt < 10 ? 0 : 1);
            }
        }
    }
}
