using System.Globalization;
using System.Net.Sockets;

namespace Harbor.Gc.Tests.Support;

/// <summary>What a hostile or damaged tree puts where a regular file is expected.</summary>
public enum NonRegularFile
{
    /// <summary>A named pipe: opening it for reading blocks until a writer comes, which never happens.</summary>
    Fifo,

    /// <summary>A Unix domain socket's file: opening it fails (ENXIO).</summary>
    Socket,

    /// <summary>A folder of the file's name.</summary>
    Directory,
}

/// <summary>
/// Makes the damage the hostile-tree tests need on disk: FIFOs and sockets (<c>mkfifo</c>, a bound Unix socket), device nodes
/// (<c>mknod</c>, root only), folders whose names are not UTF-8 (<c>bash</c>, which passes raw bytes), immutable files
/// (<c>chattr +i</c>, where the file system and the user allow it), and symbolic links that replace a folder or file by a link to
/// the same content moved elsewhere (so the registry, which follows links, serves exactly what it served). Everything it makes is
/// tracked and undone by <see cref="Dispose"/> (immutable flags cleared, sockets closed), so the folders can be removed.
/// </summary>
internal sealed class HostileFiles : IDisposable
{
    private readonly List<string> _immutable = [];
    private readonly List<Socket> _sockets = [];

    /// <summary>Puts a <paramref name="kind"/> at <paramref name="path"/> (which must not exist).</summary>
    public void Make(string path, NonRegularFile kind)
    {
        switch (kind)
        {
            case NonRegularFile.Fifo:
                MakeFifo(path);
                break;
            case NonRegularFile.Socket:
                // a socket's path is at most 108 bytes: bind it under a short name, then move its file into place
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                _sockets.Add(socket);
                var bound = Path.Combine(Path.GetTempPath(), $"hgc-{Guid.NewGuid():N}.sock");
                socket.Bind(new UnixDomainSocketEndPoint(bound));
                File.Move(bound, path);
                break;
            case NonRegularFile.Directory:
                Directory.CreateDirectory(path);
                break;
        }
    }

    /// <summary>Replaces the regular file at <paramref name="path"/> by a <paramref name="kind"/>; returns the file's bytes and time, to restore it.</summary>
    public SavedFile Replace(string path, NonRegularFile kind)
    {
        var saved = SavedFile.Of(path);
        File.Delete(path);
        Make(path, kind);
        return saved;
    }

    /// <summary>A named pipe at <paramref name="path"/> (<c>mkfifo</c>): opening it for reading blocks until a writer comes.</summary>
    public static void MakeFifo(string path) => Shell.Run("mkfifo", ["--", path]);

    /// <summary>Removes a folder with <c>rm -rf</c>, which (unlike .NET's Directory.Delete) copes with names that are not UTF-8.</summary>
    public static void RemoveFolder(string path) => Shell.Run("rm", ["-rf", "--", path]);

    /// <summary>A character device node (<c>mknod PATH c MAJOR MINOR</c>); false when it cannot be made (not root).</summary>
    public static bool TryMakeCharacterDevice(string path, int major, int minor) =>
        Shell.TryRun("mknod", ["--", path, "c", major.ToString(CultureInfo.InvariantCulture), minor.ToString(CultureInfo.InvariantCulture)]).Code == 0;

    /// <summary>
    /// Creates <c>PARENT/NAME/INSIDE</c> where NAME is the single byte <paramref name="nameByte"/> (not UTF-8 when ≥ 0x80).
    /// </summary>
    /// <returns>The folder's path as the tests name it: the parent, a slash and the byte written <c>\xNN</c>.</returns>
    public static string MakeFolderWithByteName(string parent, byte nameByte, string inside)
    {
        var octal = Convert.ToString(nameByte, 8);
        Shell.Run("bash", ["-c", """name="$(printf "\\$2")"; mkdir -p -- "$1/$name/$3" """, "mkdir-raw", parent, octal, inside]);
        return $"{parent}/\\x{nameByte:x2}";
    }

    /// <summary>Sets the immutable flag (<c>chattr +i</c>): not even root can delete or change the file. False where not supported.</summary>
    public bool TrySetImmutable(string path)
    {
        if (Shell.TryRun("chattr", ["+i", "--", path]).Code != 0)
        {
            return false;
        }

        _immutable.Add(path);
        return true;
    }

    /// <summary>
    /// Moves the file or folder at <paramref name="path"/> to <paramref name="target"/> (outside the root) and puts a symbolic link
    /// to it at <paramref name="path"/>: the registry follows the link and serves what it served before.
    /// </summary>
    public static void MoveOutAndLink(string path, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (Directory.Exists(path))
        {
            Directory.Move(path, target);
            Directory.CreateSymbolicLink(path, target);
        }
        else
        {
            File.Move(path, target);
            File.CreateSymbolicLink(path, target);
        }
    }

    /// <summary>Removes a folder and everything in it whatever the names (<c>rm -rf</c>: .NET cannot name a file that is not UTF-8).</summary>
    public void RemoveTree(string path)
    {
        ClearImmutable();
        Shell.TryRun("rm", ["-rf", "--", path]);
    }

    public void Dispose()
    {
        ClearImmutable();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _sockets.Clear();
    }

    private void ClearImmutable()
    {
        foreach (var path in _immutable)
        {
            Shell.TryRun("chattr", ["-i", "--", path]);
        }

        _immutable.Clear();
    }
}

/// <summary>A regular file's bytes and modification time, to put it back as it was after a test damaged it.</summary>
internal sealed record SavedFile(string Path, byte[] Content, DateTime WrittenAtUtc)
{
    public static SavedFile Of(string path) => new(path, File.ReadAllBytes(path), File.GetLastWriteTimeUtc(path));

    /// <summary>Removes whatever is at the path now (a file, FIFO, socket, device or folder) and writes the file back.</summary>
    public void Restore()
    {
        if (Directory.Exists(Path) && !new DirectoryInfo(Path).Attributes.HasFlag(FileAttributes.ReparsePoint))
        {
            Directory.Delete(Path, recursive: true);
        }
        else if (System.IO.Path.Exists(Path) || new FileInfo(Path).LinkTarget is not null)
        {
            File.Delete(Path);
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        File.WriteAllBytes(Path, Content);
        File.SetLastWriteTimeUtc(Path, WrittenAtUtc);
    }
}
