using System.Text.RegularExpressions;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// A local folder of manifest bytes read from a bucket (<c>cache=DIR</c> on a <c>distribution:s3://</c> store, issue 17), so that a
/// snapshot does not GET every manifest again each run. A manifest's bytes are named by their digest and never change, so an entry
/// <c>DIR/sha256/HEX</c> is as good as the bucket's object, on two conditions checked every time it is used: the listing shows the
/// blob's <c>data</c> object now, of the entry's size, and the entry's bytes hash to the digest. Anything else there (other bytes, a
/// symbolic link, a folder, a file over the manifest cap) is ignored and overwritten by the bytes read from the bucket. The cache
/// only replaces the bytes of a manifest the listing says exists; it never decides what is deleted.
/// </summary>
internal sealed partial class ManifestCache : IDisposable
{
    /// <summary>
    /// How old a temporary file must be before <see cref="Prune"/> removes it: a run writes and renames one within milliseconds, so
    /// one this old was left by a run killed while writing it, never one a live run still needs.
    /// </summary>
    public static readonly TimeSpan TemporaryAge = TimeSpan.FromHours(1);

    private const string Algorithm = "sha256";
    private readonly IStorageDriver _folder;
    private readonly string _root;
    private long _hits;
    private long _misses;
    private long _written;
    private long _removed;
    private long _removedTemporary;

    private ManifestCache(IStorageDriver folder)
    {
        _folder = folder;
        _root = folder.Root;
    }

    /// <summary>Entries used instead of a GET.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Manifests looked up and not found usable (read from the bucket instead).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries written.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Entries of manifests the bucket no longer holds, removed by <see cref="Prune"/>.</summary>
    public long Removed => Interlocked.Read(ref _removed);

    /// <summary>Temporary files of killed runs, removed by <see cref="Prune"/>.</summary>
    public long RemovedTemporary => Interlocked.Read(ref _removedTemporary);

    /// <summary>Called with a temporary file's path once it is written, before it is renamed into place (tests: a concurrent removal).</summary>
    internal Action<string>? OnTemporaryWritten { get; set; }

    /// <summary>The folder, resolved.</summary>
    public string Root => _root;

    /// <summary>Opens the cache in <paramref name="folder"/>, creating it (and its <c>sha256</c> folder) when missing.</summary>
    /// <exception cref="IOException">Something other than a folder is there, or it cannot be created.</exception>
    public static ManifestCache Open(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (File.Exists(folder))
        {
            throw new IOException($"'{folder}' is a file, not a folder.");
        }

        Directory.CreateDirectory(folder);
        var driver = FileSystemStorageDriver.Open(folder);
        try
        {
            switch (driver.Stat(Algorithm)?.Kind)
            {
                case null:
                    Directory.CreateDirectory(Path.Combine(driver.Root, Algorithm));
                    break;
                case StorageEntryKind.Directory:
                    break;
                default:
                    throw new IOException($"'{driver.Describe(Algorithm)}' is not a folder (a symbolic link or a file); remove it.");
            }

            return new ManifestCache(driver);
        }
        catch
        {
            (driver as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The cached bytes of <paramref name="digest"/> when the entry is a regular file (not a link) of <paramref name="listedSize"/> bytes
    /// (the size the listing gives the blob's <c>data</c>) whose bytes hash to the digest; null otherwise.
    /// </summary>
    public byte[]? TryRead(Digest digest, long listedSize)
    {
        if (digest.Algorithm != DigestAlgorithm.Sha256 || listedSize <= 0 || listedSize > DistributionLayout.MaxManifestLength)
        {
            return null;
        }

        StorageReadResult read;
        try
        {
            read = _folder.Read(EntryPath(digest), DistributionLayout.MaxManifestLength);
        }
        catch (IOException)
        {
            read = StorageReadResult.Missing;
        }

        if (read.Status == StorageReadStatus.Read && read.Content.Length == listedSize && Digest.Sha256Of(read.Content) == digest)
        {
            Interlocked.Increment(ref _hits);
            return read.Content;
        }

        Interlocked.Increment(ref _misses);
        return null;
    }

    /// <summary>
    /// Writes <paramref name="content"/> as the entry of <paramref name="digest"/> when it hashes to it: a new file in the cache's
    /// folder, renamed over whatever is at the entry (a link is replaced, not followed; a folder is removed first, unless it holds
    /// anything but folders and files). A failure leaves the cache as it was and is not an error of the run.
    /// </summary>
    public bool TryWrite(Digest digest, byte[] content)
    {
        if (digest.Algorithm != DigestAlgorithm.Sha256 || content.Length == 0 || content.Length > DistributionLayout.MaxManifestLength
            || Digest.Sha256Of(content) != digest)
        {
            return false;
        }

        var entry = EntryPath(digest);
        var temporary = Path.Combine(_root, Algorithm, $".{digest.Hex}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (_folder.Stat(Algorithm)?.Kind != StorageEntryKind.Directory)
            {
                return false; // replaced by a link since the cache was opened: write nothing through it
            }

            if (_folder.Stat(entry)?.Kind == StorageEntryKind.Directory)
            {
                _folder.Delete(entry); // refuses a folder holding links
            }

            using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough }))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            OnTemporaryWritten?.Invoke(temporary);
            File.Move(temporary, _folder.Describe(entry), overwrite: true); // rename(2): replaces a link at the entry, never follows it
            Interlocked.Increment(ref _written);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temporary);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }

            return false;
        }
    }

    /// <summary>
    /// Removes what the cache no longer needs, after a snapshot whose listing completed: the entry (<c>sha256/HEX</c>) of each
    /// manifest <paramref name="isListed"/> says the bucket no longer holds (its blob's <c>data</c> is not in the listing: collected
    /// since), and each temporary file (<c>sha256/.HEX.ID.tmp</c>) last written before <paramref name="temporaryBefore"/> (left by a
    /// run killed while writing it). Only names of those two forms, only regular files and symbolic links (a link is removed itself,
    /// never followed; a folder is left), and nothing when <c>sha256</c> is no longer a folder. A removal that fails is skipped: the
    /// cache is no part of the run's outcome. A concurrent run whose temporary file is removed anyway fails only that write.
    /// </summary>
    /// <param name="isListed">Whether the listing shows the blob <c>data</c> of a manifest.</param>
    /// <param name="temporaryBefore">Temporary files written before this are removed.</param>
    public void Prune(Func<Digest, bool> isListed, DateTimeOffset temporaryBefore)
    {
        ArgumentNullException.ThrowIfNull(isListed);
        IReadOnlyList<StorageListEntry>? entries;
        try
        {
            entries = _folder.List(Algorithm); // refuses the folder when it has become a link
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var entry in entries ?? [])
        {
            if (entry.Kind is not (StorageEntryKind.File or StorageEntryKind.SymbolicLink) || !entry.HasValidName)
            {
                continue;
            }

            var path = $"{Algorithm}/{entry.Name}";
            try
            {
                if (EntryName().IsMatch(entry.Name))
                {
                    if (DistributionLayout.DigestOfFolder(Algorithm, entry.Name) is { } digest && !isListed(digest) && Unlink(path))
                    {
                        Interlocked.Increment(ref _removed);
                    }
                }
                else if (TemporaryName().IsMatch(entry.Name) && _folder.Stat(path) is { } stat && stat.ModifiedAt < temporaryBefore && Unlink(path))
                {
                    Interlocked.Increment(ref _removedTemporary);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // left for the next run
            }
        }
    }

    /// <summary>Removes the file or link at <paramref name="path"/> itself, never following a link (a folder is left).</summary>
    private bool Unlink(string path)
    {
        if (_folder is LinuxStorageDriver linux)
        {
            return linux.Unlink(path);
        }

        // elsewhere: unlink(2)/DeleteFile remove a link itself; a folder is left
        if (_folder.Stat(path)?.Kind is not (StorageEntryKind.File or StorageEntryKind.SymbolicLink))
        {
            return false;
        }

        File.Delete(_folder.Describe(path));
        return true;
    }

    [GeneratedRegex("^[0-9a-f]{64}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex EntryName();

    [GeneratedRegex("^\\.[0-9a-f]{64}\\.[0-9a-f]{32}\\.tmp\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TemporaryName();

    /// <inheritdoc />
    public void Dispose() => (_folder as IDisposable)?.Dispose();

    private static string EntryPath(Digest digest) => $"{Algorithm}/{digest.Hex}";
}
