using System.Runtime.InteropServices;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// The few Linux system calls the file-system driver needs to never follow a link and never block on a special file:
/// <c>openat</c> with <c>O_NOFOLLOW</c>/<c>O_NONBLOCK</c>, <c>statx</c> (whose layout is the same on every architecture),
/// <c>unlinkat</c>, <c>renameat2</c>, <c>mkdirat</c>, <c>fdopendir</c>/<c>readdir</c> and <c>realpath</c>. .NET has no public
/// API for any of these semantics.
/// </summary>
internal static partial class LinuxNative
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtRemoveDir = 0x200;
    public const int AtEmptyPath = 0x1000;
    public const uint StatxBasicStats = 0x7ff;
    public const uint RenameNoReplace = 1;

    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int ENXIO = 6;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ELOOP = 40;

    private const ushort TypeMask = 0xF000;
    private const ushort TypeFile = 0x8000;
    private const ushort TypeDirectory = 0x4000;
    private const ushort TypeLink = 0xA000;

    /// <summary>The <c>open</c> flags of this architecture (they differ between x86-64 and arm64), or null where unknown.</summary>
    public static readonly OpenFlags? Flags = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => new OpenFlags(Directory: 0x10000, NoFollow: 0x20000, NonBlock: 0x800, CloseOnExec: 0x80000),
        Architecture.Arm64 => new OpenFlags(Directory: 0x4000, NoFollow: 0x8000, NonBlock: 0x800, CloseOnExec: 0x80000),
        _ => null,
    };

    /// <summary>Whether this process can use these calls (Linux on x86-64 or arm64, with a C library that has them).</summary>
    public static bool IsAvailable { get; } = Probe();

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int directory, byte[] path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    public static partial int Statx(int directory, byte[] path, int flags, uint mask, byte[] buffer);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    public static partial int UnlinkAt(int directory, byte[] path, int flags);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    public static partial int RenameAt2(int fromDirectory, byte[] from, int toDirectory, byte[] to, uint flags);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    public static partial int MkdirAt(int directory, byte[] path, uint mode);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, Span<byte> buffer, nint count);

    [LibraryImport("libc", EntryPoint = "fdopendir", SetLastError = true)]
    public static partial nint FdOpenDir(int fd);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    public static partial nint ReadDir(nint directory);

    [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
    public static partial int CloseDir(nint directory);

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true)]
    public static partial nint RealPath(byte[] path, nint resolved);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    public const int LockExclusive = 2;
    public const int LockNonBlocking = 4;
    public const int EWOULDBLOCK = 11;

    /// <summary><c>openat2</c> (Linux 5.6): the number is the same on x86-64 and arm64; glibc has no wrapper, so through <c>syscall</c>.</summary>
    public const long SysOpenAt2 = 437;

    /// <summary><c>RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH</c>: no symbolic link on the whole path, and nothing outside the directory.</summary>
    public const ulong ResolveNoSymlinksBeneath = 0x04 | 0x08;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long OpenAt2(long number, int directory, byte[] path, ref OpenHow how, nint size);

    /// <summary>The <c>struct open_how</c> of <c>openat2</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", EntryPoint = "free")]
    public static partial void Free(nint pointer);

    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>The kind, size and modification time in a <c>struct statx</c>.</summary>
    public static StorageStat ToStat(byte[] statx)
    {
        var mode = BitConverter.ToUInt16(statx, 28);
        var kind = (mode & TypeMask) switch
        {
            TypeFile => StorageEntryKind.File,
            TypeDirectory => StorageEntryKind.Directory,
            TypeLink => StorageEntryKind.SymbolicLink,
            _ => StorageEntryKind.Other,
        };
        var size = (long)BitConverter.ToUInt64(statx, 40);
        var seconds = BitConverter.ToInt64(statx, 112);
        var nanoseconds = BitConverter.ToUInt32(statx, 120);
        var modified = DateTimeOffset.UnixEpoch.AddTicks((seconds * TimeSpan.TicksPerSecond) + (nanoseconds / 100));
        return new StorageStat(kind, size, modified);
    }

    /// <summary>The kind a <c>d_type</c> names, or null for <c>DT_UNKNOWN</c>.</summary>
    public static StorageEntryKind? KindOfDirectoryEntry(byte type) => type switch
    {
        0 => null,
        4 => StorageEntryKind.Directory,
        8 => StorageEntryKind.File,
        10 => StorageEntryKind.SymbolicLink,
        _ => StorageEntryKind.Other,
    };

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || Flags is null)
        {
            return false;
        }

        try
        {
            var buffer = new byte[256];
            return Statx(AtFdCwd, "/\0"u8.ToArray(), AtSymlinkNoFollow, StatxBasicStats, buffer) == 0 &&
                ToStat(buffer).Kind == StorageEntryKind.Directory;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The <c>open</c> flags that differ between architectures.</summary>
    public sealed record OpenFlags(int Directory, int NoFollow, int NonBlock, int CloseOnExec);
}
