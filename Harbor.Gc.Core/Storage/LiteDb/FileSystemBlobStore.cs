using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// Content-addressed blob bytes on a file system: <c>ROOT/sha256/ab/&lt;hex&gt;</c> (and <c>sha512</c>), where <c>ab</c> is the
/// first two hex digits. Paths are built only from parsed <see cref="Digest"/> values, so no input can reach outside the root.
/// </summary>
/// <remarks>
/// A blob is written to a temporary file in its final folder (named <c>.upload-&lt;random&gt;</c>, never a hex name, so never
/// taken for a blob), hashed while it is written, flushed, and renamed into place only when its digest is right: a reader sees
/// either no file or the whole, verified bytes. A wrong digest leaves nothing behind. Rename within one folder is atomic on
/// every file system the store supports. The temporary file stays open (locked against other openers) until it is renamed or
/// deleted; a writer killed mid-write leaves it behind, and GC removes it as a stale upload
/// (<see cref="TemporaryUploads"/>, <see cref="DeleteTemporary"/>) once it is older than the time window and no longer open.
/// </remarks>
internal sealed class FileSystemBlobStore
{
    private const string TemporaryPrefix = ".upload-";
    private const int TemporaryNameLength = 32; // Guid "N"

    private static readonly string[] AlgorithmFolders = ["sha256", "sha512"];

    /// <summary>Creates the store over <paramref name="root"/>, which must exist.</summary>
    /// <param name="root">The folder holding <c>sha256/</c> and <c>sha512/</c>.</param>
    public FileSystemBlobStore(string root) => Root = Path.GetFullPath(root);

    /// <summary>The folder holding <c>sha256/</c> and <c>sha512/</c>.</summary>
    public string Root { get; }

    /// <summary>The path of a blob's bytes.</summary>
    /// <param name="digest">The blob; must not be empty.</param>
    /// <returns>The path.</returns>
    public string PathOf(Digest digest)
    {
        if (digest.IsEmpty)
        {
            throw new ArgumentException("The digest is empty.", nameof(digest));
        }

        var hex = digest.Hex;
        return Path.Combine(Root, digest.Algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256", hex[..2], hex);
    }

    /// <summary>Whether the blob's bytes are there.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>Whether the file exists.</returns>
    public bool Exists(Digest digest) => File.Exists(PathOf(digest));

    /// <summary>Opens the blob's bytes, or returns <see langword="null"/> when they are not there.</summary>
    /// <param name="digest">The blob.</param>
    /// <returns>A stream the caller disposes.</returns>
    public Stream? OpenRead(Digest digest)
    {
        try
        {
            return new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81_920, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes <paramref name="content"/> to a temporary file beside the blob's final path, verifying its digest. The caller
    /// commits it (<see cref="StagedBlob.Commit"/>) or disposes it (the temporary file is deleted).
    /// </summary>
    /// <param name="digest">The digest the bytes must hash to.</param>
    /// <param name="content">The bytes.</param>
    /// <param name="cancellationToken">Stops the write; the temporary file is deleted.</param>
    /// <returns>The staged blob.</returns>
    /// <exception cref="BlobDigestMismatchException">The bytes hash to another digest; nothing is left behind.</exception>
    public async ValueTask<StagedBlob> StageAsync(Digest digest, Stream content, CancellationToken cancellationToken)
    {
        var target = PathOf(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = Path.Combine(Path.GetDirectoryName(target)!, TemporaryPrefix + Guid.NewGuid().ToString("N"));

        // kept open until renamed: other openers are refused (Windows: a sharing violation; Unix: .NET's advisory lock, which
        // DeleteTemporary's exclusive open respects), and FileShare.Delete lets this handle's owner rename it while open
        var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.Delete, 81_920, FileOptions.Asynchronous);
        try
        {
            var size = await BlobContent.CopyVerifiedAsync(digest, content, file, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
            return new StagedBlob(file, temporary, target, size);
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// The temporary files of unfinished writes (<c>ALG/ab/.upload-&lt;random&gt;</c>), as uploads that belong to no repository.
    /// Streams the fan-out folders one by one; names of another form are not this store's and are left alone.
    /// </summary>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The uploads, dated by the files' creation and last write.</returns>
    public IEnumerable<BlobUpload> TemporaryUploads(CancellationToken cancellationToken)
    {
        foreach (var algorithm in AlgorithmFolders)
        {
            var folder = Path.Combine(Root, algorithm);
            if (!Directory.Exists(folder))
            {
                continue;
            }

            foreach (var fanOut in Directory.EnumerateDirectories(folder))
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var file in Directory.EnumerateFiles(fanOut, TemporaryPrefix + "*"))
                {
                    var id = $"{algorithm}-{Path.GetFileName(fanOut)}-{Path.GetFileName(file)[TemporaryPrefix.Length..]}";
                    if (TemporaryPath(id) is not null && ReadTemporary(id) is { } upload)
                    {
                        yield return upload;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Deletes a temporary file <see cref="TemporaryUploads"/> listed, only when it is still exactly as listed (same size, same
    /// times) and nobody has it open: it is opened exclusively first, which fails while its writer holds it.
    /// </summary>
    /// <param name="upload">The upload as the plan saw it.</param>
    /// <returns>What happened: <see cref="UploadDeleteOutcome.Changed"/> for a file written or open since the plan.</returns>
    /// <exception cref="ArgumentException">The id does not name a temporary file of this store (nothing is deleted).</exception>
    public UploadDeleteOutcome DeleteTemporary(BlobUpload upload)
    {
        ArgumentNullException.ThrowIfNull(upload);
        var path = TemporaryPath(upload.Id) ??
            throw new ArgumentException($"'{upload.Id}' is not the id of a temporary blob file (ALG-ab-<32 hex digits>).", nameof(upload));
        FileStream held;
        try
        {
            held = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return UploadDeleteOutcome.NotFound;
        }
        catch (IOException) when (File.Exists(path))
        {
            return UploadDeleteOutcome.Changed; // open: a write in progress
        }

        using (held)
        {
            if (ReadTemporary(upload.Id) != upload)
            {
                return UploadDeleteOutcome.Changed;
            }

            File.Delete(path);
            return UploadDeleteOutcome.Deleted;
        }
    }

    /// <summary>The path a temporary file's id names (<c>ALG-ab-&lt;32 hex&gt;</c>), or null when it names none.</summary>
    private string? TemporaryPath(string id)
    {
        var parts = id.Split('-');
        return parts is [var algorithm, var fanOut, var name] && AlgorithmFolders.Contains(algorithm) &&
            fanOut.Length == 2 && IsLowerHex(fanOut) && name.Length == TemporaryNameLength && IsLowerHex(name)
            ? Path.Combine(Root, algorithm, fanOut, TemporaryPrefix + name)
            : null;

        static bool IsLowerHex(string s) => s.All(char.IsAsciiHexDigitLower);
    }

    /// <summary>Reads a temporary file's size and times, the same way for the listing and for the re-check; null when it is gone.</summary>
    private BlobUpload? ReadTemporary(string id)
    {
        var info = new FileInfo(TemporaryPath(id)!);
        if (!info.Exists)
        {
            return null;
        }

        var written = new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero);
        var created = new DateTimeOffset(info.CreationTimeUtc, TimeSpan.Zero);
        return new BlobUpload(null, id, created < written ? created : written, info.Length, written);
    }

    /// <summary>Deletes a blob's bytes. Idempotent: a blob already gone is fine.</summary>
    /// <param name="digest">The blob.</param>
    public void Delete(Digest digest)
    {
        try
        {
            File.Delete(PathOf(digest));
        }
        catch (DirectoryNotFoundException)
        {
            // the whole fan-out folder is gone: so are the bytes
        }
    }

    /// <summary>Verified bytes in a temporary file, still open, waiting to be renamed into place.</summary>
    /// <param name="file">The open temporary file, closed on disposal.</param>
    /// <param name="temporary">The temporary file.</param>
    /// <param name="target">The blob's final path.</param>
    /// <param name="size">The number of bytes.</param>
    internal sealed class StagedBlob(FileStream file, string temporary, string target, long size) : IDisposable
    {
        private bool _done;

        /// <summary>The number of bytes.</summary>
        public long Size => size;

        /// <summary>Renames the bytes into place (replacing identical bytes that may be there already).</summary>
        public void Commit()
        {
            File.Move(temporary, target, overwrite: true);
            _done = true;
        }

        /// <summary>Closes the file, and deletes it unless it was committed.</summary>
        public void Dispose()
        {
            file.Dispose();
            if (!_done)
            {
                _done = true;
                File.Delete(temporary);
            }
        }
    }
}
