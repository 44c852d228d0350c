namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// The storage under a registry layout, seen the way Distribution's own storage drivers see it (list, stat, read, delete, move),
/// and the only code that touches the file system (or, later, an object store) for the layout.
/// </summary>
/// <remarks>
/// <para>Paths are relative to the driver's root, <c>/</c>-separated, each segment a plain name (never empty, <c>.</c> or
/// <c>..</c>); the empty path is the root itself. Nothing read from a file is ever used as a path: callers build paths from
/// validated names.</para>
/// <para>No operation follows a symbolic link at the last segment of its path, and <see cref="Delete"/> and <see cref="Move"/>
/// follow none at any segment under the root: what a link reaches is outside what this project may change. Only regular files
/// are ever opened, and never more than the caller's cap is read, so a FIFO, a device or a huge file cannot hang or exhaust a
/// run.</para>
/// </remarks>
internal interface IStorageDriver
{
    /// <summary>The root's full path, resolved (no symbolic link in it), for messages.</summary>
    string Root { get; }

    /// <summary>The full path of <paramref name="path"/>, for messages.</summary>
    string Describe(string path);

    /// <summary>The entries of a folder (without <c>.</c> and <c>..</c>), or null when there is no folder there.</summary>
    /// <exception cref="StorageLinkException">The folder itself is a symbolic link.</exception>
    IReadOnlyList<StorageListEntry>? List(string path);

    /// <summary>What is at <paramref name="path"/> (a symbolic link is reported as one, not followed), or null when nothing is.</summary>
    StorageStat? Stat(string path);

    /// <summary>Reads a regular file of at most <paramref name="maxBytes"/> bytes; anything else is reported, never opened for reading.</summary>
    StorageReadResult Read(string path, int maxBytes);

    /// <summary>
    /// Deletes a file or a folder with everything in it. Refuses (<see cref="StorageRefusedException"/>) a path that passes
    /// through a symbolic link, is one, or holds anything but folders and regular files. Deleting what is not there succeeds.
    /// </summary>
    void Delete(string path);

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/> (creating <paramref name="to"/>'s parent folders), never over something.</summary>
    /// <exception cref="StorageRefusedException">Either path passes through a symbolic link, or <paramref name="from"/> is one.</exception>
    StorageMoveOutcome Move(string from, string to);

    /// <summary>
    /// Takes an exclusive lock on the folder at <paramref name="path"/> (the root when empty), held until the result is disposed
    /// and released by the system if the process dies; null when another process holds it. On Linux the folder itself is locked
    /// (<c>flock</c>), so nothing is written; elsewhere a lock file <c>.harbor-gc.lock</c> is made in it. On S3 it is a lease
    /// (<see cref="IStorageLease"/>), held while its holder renews it and released by expiry when the holder dies.
    /// </summary>
    /// <exception cref="StorageRefusedException">The folder is a symbolic link.</exception>
    IDisposable? TryLock(string path);
}

/// <summary>
/// A lock that can be lost while held (the S3 driver's lease, which its holder must renew): checked before each step that
/// changes the storage. A file-system lock is never lost and need not be one.
/// </summary>
internal interface IStorageLease : IDisposable
{
    /// <summary>Throws <see cref="IOException"/> when the lock may be another's now (a renewal failed for too long).</summary>
    void ThrowIfLost();
}

/// <summary>What an entry of a storage path is.</summary>
internal enum StorageEntryKind
{
    /// <summary>A regular file.</summary>
    File,

    /// <summary>A folder.</summary>
    Directory,

    /// <summary>A symbolic link (never followed).</summary>
    SymbolicLink,

    /// <summary>Anything else: a FIFO, a socket, a device.</summary>
    Other,
}

/// <summary>An entry of a folder listing.</summary>
/// <param name="Name">The name; when it is not valid UTF-8, a printable form with the bad bytes escaped as <c>\xNN</c>.</param>
/// <param name="Kind">What it is.</param>
/// <param name="HasValidName">False when the name is not valid UTF-8 (such an entry can be reported, not opened by name).</param>
internal readonly record struct StorageListEntry(string Name, StorageEntryKind Kind, bool HasValidName = true);

/// <summary>What a path is, its size and its modification time.</summary>
internal readonly record struct StorageStat(StorageEntryKind Kind, long Size, DateTimeOffset ModifiedAt);

/// <summary>How a read went.</summary>
internal enum StorageReadStatus
{
    /// <summary>The file was read whole.</summary>
    Read,

    /// <summary>Nothing is there.</summary>
    Missing,

    /// <summary>Something other than a regular file is there (<see cref="StorageReadResult.Stat"/> says what); it was not read.</summary>
    NotAFile,

    /// <summary>The file is larger than the cap (<see cref="StorageReadResult.Stat"/> gives its size); it was not read.</summary>
    TooLarge,
}

/// <summary>The result of <see cref="IStorageDriver.Read"/>.</summary>
internal readonly record struct StorageReadResult(StorageReadStatus Status, byte[] Content, StorageStat Stat)
{
    public static StorageReadResult Missing => new(StorageReadStatus.Missing, [], default);

    /// <summary>Why the file was not read, for a warning; empty when it was.</summary>
    /// <param name="maxBytes">The cap the read was made with.</param>
    public string Problem(int maxBytes) => Status switch
    {
        StorageReadStatus.Read => string.Empty,
        StorageReadStatus.Missing => "it is missing",
        StorageReadStatus.TooLarge => $"it holds {Stat.Size} bytes, more than the {maxBytes} read at most",
        _ => Stat.Kind switch
        {
            StorageEntryKind.Directory => "it is a folder, not a file",
            StorageEntryKind.SymbolicLink => "it is a symbolic link",
            _ => "it is not a regular file (a FIFO, socket or device)",
        },
    };
}

/// <summary>What <see cref="IStorageDriver.Move"/> did.</summary>
internal enum StorageMoveOutcome
{
    /// <summary>Renamed.</summary>
    Moved,

    /// <summary>Nothing was at the source.</summary>
    SourceMissing,

    /// <summary>Something is already at the target; nothing was moved.</summary>
    TargetExists,
}
