using System.Runtime.InteropServices;
using System.Text;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// The file-system driver on Linux: every open is <c>O_NOFOLLOW</c> (and <c>O_NONBLOCK</c> for files, so a FIFO never blocks), a
/// file's type is checked on the open handle before a byte is read, and deletions and moves walk down from the root one folder
/// at a time with <c>openat(O_NOFOLLOW)</c>, so a symbolic link swapped in anywhere on the way is refused, not followed.
/// </summary>
internal sealed class LinuxStorageDriver : IStorageDriver
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly LinuxNative.OpenFlags _flags;
    private readonly int _directoryFlags;

    /// <summary>Creates the driver over a resolved root.</summary>
    /// <param name="root">The root's full path, with no symbolic link in it.</param>
    public LinuxStorageDriver(string root)
    {
        _flags = LinuxNative.Flags ?? throw new PlatformNotSupportedException("The Linux storage driver needs Linux on x86-64 or arm64.");
        _directoryFlags = _flags.Directory | _flags.NoFollow | _flags.CloseOnExec;
        Root = root.TrimEnd('/');
    }

    /// <inheritdoc />
    public string Root { get; }

    /// <inheritdoc />
    public string Describe(string path) => StoragePaths.Describe(Root, path);

    /// <inheritdoc />
    public IReadOnlyList<StorageListEntry>? List(string path)
    {
        StoragePaths.Validate(path);
        var fd = Retry(() => LinuxNative.OpenAt(LinuxNative.AtFdCwd, Bytes(Describe(path)), _directoryFlags, 0));
        if (fd < 0)
        {
            // O_DIRECTORY with O_NOFOLLOW on a link fails with ENOTDIR or ELOOP: tell a link from a file by its type
            return LinuxNative.LastError switch
            {
                LinuxNative.ENOENT => null,
                LinuxNative.ENOTDIR or LinuxNative.ELOOP => Stat(path) is { Kind: StorageEntryKind.SymbolicLink } ? throw new StorageLinkException(Describe(path)) : null,
                var errno => throw Error(errno, "list", Describe(path)),
            };
        }

        var (stream, raw) = ReadEntries(fd, Describe(path));
        try
        {
            return [.. raw.Select(e => ToEntry(e.Name, e.Kind ?? StatKind(fd, e.Name, Describe(path))))];
        }
        finally
        {
            LinuxNative.CloseDir(stream);
        }
    }

    /// <inheritdoc />
    public StorageStat? Stat(string path)
    {
        StoragePaths.Validate(path);
        var buffer = new byte[256];
        if (Retry(() => LinuxNative.Statx(LinuxNative.AtFdCwd, Bytes(Describe(path)), LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer)) != 0)
        {
            return LinuxNative.LastError is LinuxNative.ENOENT or LinuxNative.ENOTDIR ? null : throw Error(LinuxNative.LastError, "stat", Describe(path));
        }

        return LinuxNative.ToStat(buffer);
    }

    /// <inheritdoc />
    public StorageReadResult Read(string path, int maxBytes)
    {
        StoragePaths.Validate(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        var fd = Retry(() => LinuxNative.OpenAt(LinuxNative.AtFdCwd, Bytes(Describe(path)), _flags.NoFollow | _flags.NonBlock | _flags.CloseOnExec, 0));
        if (fd < 0)
        {
            switch (LinuxNative.LastError)
            {
                case LinuxNative.ENOENT or LinuxNative.ENOTDIR:
                    return StorageReadResult.Missing;
                case LinuxNative.ELOOP or LinuxNative.ENXIO:
                    // a link (O_NOFOLLOW), or a socket (which open refuses): say what it is, without opening it
                    return Stat(path) is { } stat ? new StorageReadResult(StorageReadStatus.NotAFile, [], stat) : StorageReadResult.Missing;
                case var errno:
                    throw Error(errno, "open", Describe(path));
            }
        }

        try
        {
            var buffer = new byte[256];
            if (LinuxNative.Statx(fd, [0], LinuxNative.AtEmptyPath, LinuxNative.StatxBasicStats, buffer) != 0)
            {
                throw Error(LinuxNative.LastError, "stat", Describe(path));
            }

            var stat = LinuxNative.ToStat(buffer);
            if (stat.Kind != StorageEntryKind.File)
            {
                return new StorageReadResult(StorageReadStatus.NotAFile, [], stat);
            }

            if (stat.Size > maxBytes)
            {
                return new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
            }

            // one byte more than the cap: a file that grew past it since the stat is caught too
            var content = new byte[Math.Min(stat.Size, maxBytes) + 1];
            var read = 0;
            while (read < content.Length)
            {
                var n = (int)LinuxNative.Read(fd, content.AsSpan(read), content.Length - read);
                if (n < 0 && LinuxNative.LastError == LinuxNative.EINTR)
                {
                    continue;
                }

                if (n < 0)
                {
                    throw Error(LinuxNative.LastError, "read", Describe(path));
                }

                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            if (read > maxBytes)
            {
                return new StorageReadResult(StorageReadStatus.TooLarge, [], stat with { Size = Math.Max(stat.Size, read) });
            }

            return new StorageReadResult(StorageReadStatus.Read, content[..read], stat with { Size = read });
        }
        finally
        {
            LinuxNative.Close(fd);
        }
    }

    /// <inheritdoc />
    public void Delete(string path)
    {
        StoragePaths.Validate(path);
        if (path.Length == 0)
        {
            throw new StorageRefusedException(Root, "it is the root of the storage");
        }

        var (parent, name) = OpenParent(path, create: false);
        if (parent < 0)
        {
            return; // a folder on the way is missing: nothing to delete
        }

        try
        {
            DeleteEntry(parent, name, Describe(path));
        }
        finally
        {
            LinuxNative.Close(parent);
        }
    }

    /// <summary>
    /// Removes the regular file or symbolic link at <paramref name="path"/> itself (a link is removed, never what it points at),
    /// reached from the root without following a link on the way (<see cref="OpenParent"/>). A folder or anything else is left
    /// (false), as is nothing there.
    /// </summary>
    /// <exception cref="StorageRefusedException">A folder on the way is a symbolic link.</exception>
    public bool Unlink(string path)
    {
        StoragePaths.Validate(path);
        if (path.Length == 0)
        {
            return false;
        }

        var (parent, name) = OpenParent(path, create: false);
        if (parent < 0)
        {
            return false;
        }

        try
        {
            var buffer = new byte[256];
            if (LinuxNative.Statx(parent, name, LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer) != 0)
            {
                return LinuxNative.LastError == LinuxNative.ENOENT ? false : throw Error(LinuxNative.LastError, "stat", Describe(path));
            }

            if (LinuxNative.ToStat(buffer).Kind is not (StorageEntryKind.File or StorageEntryKind.SymbolicLink))
            {
                return false;
            }

            // unlinkat without AT_REMOVEDIR removes the name itself and fails on a folder swapped in since (EISDIR)
            if (LinuxNative.UnlinkAt(parent, name, 0) != 0)
            {
                return LinuxNative.LastError == LinuxNative.ENOENT ? false : throw Error(LinuxNative.LastError, "delete", Describe(path));
            }

            return true;
        }
        finally
        {
            LinuxNative.Close(parent);
        }
    }

    /// <inheritdoc />
    public IDisposable? TryLock(string path)
    {
        StoragePaths.Validate(path);
        var fd = Retry(() => LinuxNative.OpenAt(LinuxNative.AtFdCwd, Bytes(Describe(path)), _directoryFlags, 0));
        if (fd < 0)
        {
            throw LinuxNative.LastError is LinuxNative.ENOTDIR or LinuxNative.ELOOP
                ? new StorageRefusedException(Describe(path), "it is not a folder, or is a symbolic link")
                : Error(LinuxNative.LastError, "open", Describe(path));
        }

        if (Retry(() => LinuxNative.Flock(fd, LinuxNative.LockExclusive | LinuxNative.LockNonBlocking)) != 0)
        {
            var errno = LinuxNative.LastError;
            LinuxNative.Close(fd);
            return errno == LinuxNative.EWOULDBLOCK ? null : throw Error(errno, "lock", Describe(path));
        }

        return new FolderLock(fd);
    }

    /// <inheritdoc />
    public StorageMoveOutcome Move(string from, string to)
    {
        StoragePaths.Validate(from);
        StoragePaths.Validate(to);
        if (from.Length == 0 || to.Length == 0)
        {
            throw new StorageRefusedException(Root, "it is the root of the storage");
        }

        var (fromParent, fromName) = OpenParent(from, create: false);
        if (fromParent < 0)
        {
            return StorageMoveOutcome.SourceMissing;
        }

        try
        {
            var buffer = new byte[256];
            if (LinuxNative.Statx(fromParent, fromName, LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer) != 0)
            {
                return LinuxNative.LastError == LinuxNative.ENOENT ? StorageMoveOutcome.SourceMissing : throw Error(LinuxNative.LastError, "stat", Describe(from));
            }

            if (LinuxNative.ToStat(buffer).Kind is not (StorageEntryKind.File or StorageEntryKind.Directory))
            {
                throw new StorageRefusedException(Describe(from), KindClause(LinuxNative.ToStat(buffer).Kind));
            }

            var (toParent, toName) = OpenParent(to, create: true);
            try
            {
                if (LinuxNative.RenameAt2(fromParent, fromName, toParent, toName, LinuxNative.RenameNoReplace) == 0)
                {
                    return StorageMoveOutcome.Moved;
                }

                return LinuxNative.LastError switch
                {
                    LinuxNative.EEXIST or LinuxNative.ENOTEMPTY => StorageMoveOutcome.TargetExists,
                    LinuxNative.ENOENT => StorageMoveOutcome.SourceMissing,
                    var errno => throw Error(errno, $"move to '{Describe(to)}'", Describe(from)),
                };
            }
            finally
            {
                LinuxNative.Close(toParent);
            }
        }
        finally
        {
            LinuxNative.Close(fromParent);
        }
    }

    private static string KindClause(StorageEntryKind kind) => kind switch
    {
        StorageEntryKind.SymbolicLink => "it is a symbolic link",
        StorageEntryKind.Other => "it is not a regular file or a folder (a FIFO, socket or device)",
        _ => $"it is a {kind}",
    };

    /// <summary>
    /// Opens the folder holding the last segment of <paramref name="path"/>, one segment at a time from the root, never through a
    /// link; creates missing folders when <paramref name="create"/>. Returns -1 when a folder is missing and not created.
    /// </summary>
    private (int Fd, byte[] Name) OpenParent(string path, bool create)
    {
        var segments = path.Split('/');
        var fd = Retry(() => LinuxNative.OpenAt(LinuxNative.AtFdCwd, Bytes(Root), _flags.Directory | _flags.CloseOnExec, 0));
        if (fd < 0)
        {
            throw Error(LinuxNative.LastError, "open", Root);
        }

        if (segments.Length > 1 && TryOpenBeneath(fd, string.Join('/', segments[..^1])) is var parent and >= 0)
        {
            // one system call for the whole walk, refusing a link anywhere on it; anything else (a link, a missing folder to make,
            // no openat2) takes the walk below, which says exactly where
            LinuxNative.Close(fd);
            return (parent, Bytes(segments[^1]));
        }

        var walked = Root;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            var segment = Bytes(segments[i]);
            walked += "/" + segments[i];
            var next = Retry(() => LinuxNative.OpenAt(fd, segment, _directoryFlags, 0));
            if (next < 0 && LinuxNative.LastError == LinuxNative.ENOENT && create)
            {
                if (LinuxNative.MkdirAt(fd, segment, Convert.ToUInt32("755", 8)) != 0 && LinuxNative.LastError != LinuxNative.EEXIST)
                {
                    var errno = LinuxNative.LastError;
                    LinuxNative.Close(fd);
                    throw Error(errno, "create", walked);
                }

                next = Retry(() => LinuxNative.OpenAt(fd, segment, _directoryFlags, 0));
            }

            if (next < 0)
            {
                var errno = LinuxNative.LastError;
                var isLink = errno is LinuxNative.ENOTDIR or LinuxNative.ELOOP && KindOf(fd, segment) == StorageEntryKind.SymbolicLink;
                LinuxNative.Close(fd);
                return errno switch
                {
                    LinuxNative.ENOENT => (-1, []),
                    LinuxNative.ENOTDIR or LinuxNative.ELOOP when isLink => throw new StorageRefusedException(Describe(path), $"the folder '{walked}' on the way is a symbolic link"),
                    LinuxNative.ENOTDIR or LinuxNative.ELOOP => throw new StorageRefusedException(Describe(path), $"'{walked}' on the way is not a folder"),
                    _ => throw Error(errno, "open", walked),
                };
            }

            LinuxNative.Close(fd);
            fd = next;
        }

        return (fd, Bytes(segments[^1]));
    }

    /// <summary>Deletes the entry <paramref name="name"/> of the open folder <paramref name="parent"/>: a file, or a folder with all it holds.</summary>
    private void DeleteEntry(int parent, byte[] name, string display)
    {
        var buffer = new byte[256];
        if (LinuxNative.Statx(parent, name, LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer) != 0)
        {
            if (LinuxNative.LastError == LinuxNative.ENOENT)
            {
                return;
            }

            throw Error(LinuxNative.LastError, "stat", display);
        }

        switch (LinuxNative.ToStat(buffer).Kind)
        {
            case StorageEntryKind.File:
                if (LinuxNative.UnlinkAt(parent, name, 0) != 0 && LinuxNative.LastError != LinuxNative.ENOENT)
                {
                    throw Error(LinuxNative.LastError, "delete", display);
                }

                return;
            case StorageEntryKind.Directory:
                break;
            case var kind:
                throw new StorageRefusedException(display, KindClause(kind));
        }

        var fd = Retry(() => LinuxNative.OpenAt(parent, name, _directoryFlags, 0));
        if (fd < 0)
        {
            throw LinuxNative.LastError switch
            {
                LinuxNative.ELOOP or LinuxNative.ENOTDIR => new StorageRefusedException(display, "it stopped being a folder while it was deleted"),
                var errno => Error(errno, "open", display),
            };
        }

        var (stream, children) = ReadEntries(fd, display);
        try
        {
            foreach (var (child, _) in children)
            {
                DeleteEntry(fd, child, display + "/" + ToEntry(child, null).Name);
            }
        }
        finally
        {
            LinuxNative.CloseDir(stream);
        }

        if (LinuxNative.UnlinkAt(parent, name, LinuxNative.AtRemoveDir) != 0 && LinuxNative.LastError != LinuxNative.ENOENT)
        {
            throw Error(LinuxNative.LastError, "delete", display);
        }
    }

    /// <summary>
    /// Reads every entry of the open folder <paramref name="fd"/> (names as raw bytes, kinds from <c>d_type</c>, null where the file
    /// system does not say); returns the directory stream, which now owns the fd and must be closed with <c>closedir</c>.
    /// </summary>
    private static (nint Stream, List<(byte[] Name, StorageEntryKind? Kind)> Entries) ReadEntries(int fd, string display)
    {
        var stream = LinuxNative.FdOpenDir(fd);
        if (stream == 0)
        {
            var errno = LinuxNative.LastError;
            LinuxNative.Close(fd);
            throw Error(errno, "list", display);
        }

        var entries = new List<(byte[], StorageEntryKind?)>();
        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                var entry = LinuxNative.ReadDir(stream);
                if (entry == 0)
                {
                    if (LinuxNative.LastError != 0)
                    {
                        throw Error(LinuxNative.LastError, "list", display);
                    }

                    return (stream, entries);
                }

                // struct dirent on 64-bit Linux (glibc and musl): d_ino 8, d_off 8, d_reclen 2, d_type 1, then the name
                var type = Marshal.ReadByte(entry, 18);
                var length = 0;
                while (length < 256 && Marshal.ReadByte(entry, 19 + length) != 0)
                {
                    length++;
                }

                var name = new byte[length + 1]; // NUL-terminated, ready for the *at calls
                Marshal.Copy(entry + 19, name, 0, length);
                if (length is 1 or 2 && name[0] == '.' && name[length - 1] == '.')
                {
                    continue;
                }

                entries.Add((name, LinuxNative.KindOfDirectoryEntry(type)));
            }
        }
        catch
        {
            LinuxNative.CloseDir(stream);
            throw;
        }
    }

    private static bool s_noOpenAt2;

    /// <summary>
    /// Opens the folder <paramref name="path"/> under the open folder <paramref name="root"/> with <c>openat2</c>, refusing any
    /// symbolic link on the way and anything outside it; -1 when that fails for any reason (or the kernel or a seccomp filter has
    /// no <c>openat2</c>), and the caller walks instead.
    /// </summary>
    private int TryOpenBeneath(int root, string path)
    {
        if (s_noOpenAt2)
        {
            return -1;
        }

        var how = new LinuxNative.OpenHow { Flags = (ulong)_directoryFlags, Resolve = LinuxNative.ResolveNoSymlinksBeneath };
        var fd = (int)LinuxNative.OpenAt2(LinuxNative.SysOpenAt2, root, Bytes(path), ref how, 24);
        if (fd < 0 && LinuxNative.LastError is LinuxNative.ENOSYS or 1 /* EPERM: a seccomp filter */ or 22 /* EINVAL */)
        {
            s_noOpenAt2 = true;
        }

        return fd;
    }

    /// <summary>The kind of the entry <paramref name="name"/> of an open folder, or null when there is none.</summary>
    private static StorageEntryKind? KindOf(int directory, byte[] name)
    {
        var buffer = new byte[256];
        return LinuxNative.Statx(directory, name, LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer) == 0 ? LinuxNative.ToStat(buffer).Kind : null;
    }

    private static StorageEntryKind StatKind(int directory, byte[] name, string display)
    {
        var buffer = new byte[256];
        return LinuxNative.Statx(directory, name, LinuxNative.AtSymlinkNoFollow, LinuxNative.StatxBasicStats, buffer) == 0
            ? LinuxNative.ToStat(buffer).Kind
            : throw Error(LinuxNative.LastError, "stat", display + "/" + ToEntry(name, null).Name);
    }

    private static StorageListEntry ToEntry(byte[] name, StorageEntryKind? kind)
    {
        var trimmed = name.AsSpan().TrimEnd((byte)0);
        try
        {
            return new StorageListEntry(StrictUtf8.GetString(trimmed), kind ?? StorageEntryKind.Other);
        }
        catch (DecoderFallbackException)
        {
            return new StorageListEntry(StoragePaths.Escape(trimmed), kind ?? StorageEntryKind.Other, HasValidName: false);
        }
    }

    private static byte[] Bytes(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static int Retry(Func<int> call)
    {
        while (true)
        {
            var result = call();
            if (result >= 0 || LinuxNative.LastError != LinuxNative.EINTR)
            {
                return result;
            }
        }
    }

    private static IOException Error(int errno, string what, string path) =>
        new($"Could not {what} '{path}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");

    /// <summary>An open folder holding an exclusive <c>flock</c>; closing it releases the lock.</summary>
    private sealed class FolderLock(int fd) : IDisposable
    {
        private int _fd = fd;

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                LinuxNative.Close(fd);
            }
        }
    }
}
