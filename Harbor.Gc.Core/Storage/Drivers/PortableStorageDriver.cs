using System.IO.Enumeration;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>
/// The file-system driver where the Linux system calls are not available (another operating system or architecture), with .NET's
/// portable API: links are told by their attributes and never followed by a listing, a delete or a move, and a file's type is
/// checked before it is opened. Unlike <see cref="LinuxStorageDriver"/> it checks and then acts, so a link or a FIFO swapped in
/// between the two is not caught: the guarantees of DESIGN.md §5 are made on Linux.
/// </summary>
internal sealed class PortableStorageDriver(string root) : IStorageDriver
{
    private static readonly EnumerationOptions ListOptions = new() { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };

    /// <inheritdoc />
    public string Root { get; } = root.TrimEnd(Path.DirectorySeparatorChar);

    /// <inheritdoc />
    public string Describe(string path) => StoragePaths.Describe(Root, path);

    /// <inheritdoc />
    public IReadOnlyList<StorageListEntry>? List(string path)
    {
        StoragePaths.Validate(path);
        switch (Stat(path))
        {
            case null:
            case { Kind: not (StorageEntryKind.Directory or StorageEntryKind.SymbolicLink) }:
                return null;
            case { Kind: StorageEntryKind.SymbolicLink }:
                throw new StorageLinkException(Describe(path));
        }

        var full = Full(path);
        return [.. new FileSystemEnumerable<StorageListEntry>(full, (ref FileSystemEntry entry) => new StorageListEntry(
            entry.FileName.ToString(),
            (entry.Attributes & FileAttributes.ReparsePoint) != 0 ? StorageEntryKind.SymbolicLink
            : entry.IsDirectory ? StorageEntryKind.Directory
            : StorageEntryKind.File), ListOptions)];
    }

    /// <inheritdoc />
    public StorageStat? Stat(string path)
    {
        StoragePaths.Validate(path);
        var info = new FileInfo(Full(path));
        if (info.LinkTarget is not null)
        {
            return new StorageStat(StorageEntryKind.SymbolicLink, 0, DateTimeOffset.MinValue);
        }

        if ((info.Attributes & FileAttributes.Directory) != 0 && info.Attributes != (FileAttributes)(-1))
        {
            var folder = new DirectoryInfo(info.FullName);
            return folder.Exists ? new StorageStat(StorageEntryKind.Directory, 0, new DateTimeOffset(folder.LastWriteTimeUtc)) : null;
        }

        return info.Exists ? new StorageStat(StorageEntryKind.File, info.Length, new DateTimeOffset(info.LastWriteTimeUtc)) : null;
    }

    /// <inheritdoc />
    public StorageReadResult Read(string path, int maxBytes)
    {
        StoragePaths.Validate(path);
        switch (Stat(path))
        {
            case null:
                return StorageReadResult.Missing;
            case { Kind: not StorageEntryKind.File } other:
                return new StorageReadResult(StorageReadStatus.NotAFile, [], other);
            case { } stat when stat.Size > maxBytes:
                return new StorageReadResult(StorageReadStatus.TooLarge, [], stat);
            case { } stat:
                try
                {
                    using var file = File.OpenHandle(Full(path));
                    var content = new byte[Math.Min(stat.Size, maxBytes) + 1];
                    var read = 0;
                    int n;
                    while (read < content.Length && (n = RandomAccess.Read(file, content.AsSpan(read), read)) > 0)
                    {
                        read += n;
                    }

                    return read > maxBytes
                        ? new StorageReadResult(StorageReadStatus.TooLarge, [], stat with { Size = read })
                        : new StorageReadResult(StorageReadStatus.Read, content[..read], stat with { Size = read });
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    return StorageReadResult.Missing;
                }
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

        if (!CheckParents(path))
        {
            return;
        }

        DeleteEntry(path);
    }

    /// <inheritdoc />
    public IDisposable? TryLock(string path)
    {
        StoragePaths.Validate(path);
        if (Stat(path) is not { Kind: StorageEntryKind.Directory })
        {
            throw new StorageRefusedException(Describe(path), "it is not a folder, or is a symbolic link");
        }

        var file = StoragePaths.Join(path, ".harbor-gc.lock");
        if (Stat(file) is { Kind: not StorageEntryKind.File })
        {
            throw new StorageRefusedException(Describe(file), "it is not a regular file");
        }

        try
        {
            // FileShare.None is an exclusive advisory lock (flock) on Unix, a sharing lock on Windows
            return new FileStream(Full(file), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (Stat(file) is { Kind: StorageEntryKind.File })
        {
            return null;
        }
    }

    /// <inheritdoc />
    public StorageMoveOutcome Move(string from, string to)
    {
        StoragePaths.Validate(from);
        StoragePaths.Validate(to);
        if (!CheckParents(from) || Stat(from) is not { } source)
        {
            return StorageMoveOutcome.SourceMissing;
        }

        if (source.Kind is not (StorageEntryKind.File or StorageEntryKind.Directory))
        {
            throw new StorageRefusedException(Describe(from), "it is a symbolic link or not a regular file or a folder");
        }

        var parent = to.Contains('/', StringComparison.Ordinal) ? to[..to.LastIndexOf('/')] : string.Empty;
        CreateFolders(parent);
        if (Stat(to) is not null)
        {
            return StorageMoveOutcome.TargetExists;
        }

        try
        {
            if (source.Kind == StorageEntryKind.Directory)
            {
                Directory.Move(Full(from), Full(to));
            }
            else
            {
                File.Move(Full(from), Full(to), overwrite: false);
            }
        }
        catch (IOException) when (Stat(to) is not null)
        {
            return StorageMoveOutcome.TargetExists;
        }

        return StorageMoveOutcome.Moved;
    }

    private string Full(string path) => path.Length == 0 ? Root : Path.Combine(Root, path.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Checks that no folder between the root and <paramref name="path"/> is a link; false when one is missing.</summary>
    private bool CheckParents(string path)
    {
        var segments = path.Split('/');
        for (var i = 1; i < segments.Length; i++)
        {
            var parent = string.Join('/', segments[..i]);
            switch (Stat(parent))
            {
                case null:
                    return false;
                case { Kind: StorageEntryKind.Directory }:
                    continue;
                case { Kind: StorageEntryKind.SymbolicLink }:
                    throw new StorageRefusedException(Describe(path), $"the folder '{Describe(parent)}' on the way is a symbolic link");
                default:
                    throw new StorageRefusedException(Describe(path), $"'{Describe(parent)}' on the way is not a folder");
            }
        }

        return true;
    }

    private void CreateFolders(string path)
    {
        if (path.Length == 0)
        {
            return;
        }

        var segments = path.Split('/');
        for (var i = 1; i <= segments.Length; i++)
        {
            var folder = string.Join('/', segments[..i]);
            switch (Stat(folder))
            {
                case null:
                    Directory.CreateDirectory(Full(folder));
                    break;
                case { Kind: StorageEntryKind.Directory }:
                    break;
                default:
                    throw new StorageRefusedException(Describe(path), $"'{Describe(folder)}' on the way is not a folder");
            }
        }
    }

    private void DeleteEntry(string path)
    {
        switch (Stat(path))
        {
            case null:
                return;
            case { Kind: StorageEntryKind.File }:
                File.Delete(Full(path));
                return;
            case { Kind: StorageEntryKind.Directory }:
                foreach (var entry in List(path) ?? [])
                {
                    var child = path + "/" + entry.Name;
                    if (entry.Kind is StorageEntryKind.SymbolicLink or StorageEntryKind.Other || !entry.HasValidName)
                    {
                        throw new StorageRefusedException(Describe(child), "it is a symbolic link or not a regular file or a folder");
                    }

                    DeleteEntry(child);
                }

                Directory.Delete(Full(path), recursive: false);
                return;
            default:
                throw new StorageRefusedException(Describe(path), "it is a symbolic link or not a regular file or a folder");
        }
    }
}
