using Harbor.Gc.Model;
using Harbor.Gc.Storage.Blobs;
using static Harbor.Gc.Storage.Blobs.BlobLeftoverIds;

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
/// deleted; a writer killed mid-write leaves it behind, and GC removes it as a stale upload (<see cref="Leftovers"/>,
/// <see cref="DeleteLeftover"/>) once it is older than the time window and no longer open. So does a blob file whose writer was
/// killed after the rename but before the metadata store recorded it.
/// </remarks>
internal sealed class FileSystemBlobStore : IBlobContentStore
{
    private const string TemporaryPrefix = ".upload-";
    private const int TemporaryNameLength = 32; // Guid "N"

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
    public async ValueTask<IStagedBlob> StageAsync(Digest digest, Stream content, CancellationToken cancellationToken)
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
    /// What interrupted writes leave in the fan-out folders (<c>ALG/ab/</c>), as uploads that belong to no repository: the
    /// temporary files of writes killed before the rename (<c>.upload-&lt;random&gt;</c>, id <c>ALG-ab-&lt;random&gt;</c>), and, when
    /// <paramref name="mayBeRecorded"/> is given, blob files that have no record (a write killed between the rename and the
    /// record; id <c>ALG-&lt;hex&gt;</c>). Streams the folders one by one; names of another form are not this store's and are left
    /// alone.
    /// </summary>
    /// <param name="mayBeRecorded">
    /// Tells, from a blob file's algorithm folder and hex name, whether the blob may have a record; a file it says
    /// <see langword="false"/> for is listed. It may err towards <see langword="true"/> (the file is then only not listed);
    /// <see langword="null"/> lists temporary files only.
    /// </param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>The uploads, dated by the files' creation and last write.</returns>
    public IEnumerable<BlobUpload> Leftovers(Func<string, string, bool>? mayBeRecorded, CancellationToken cancellationToken)
    {
        foreach (var algorithm in Algorithms)
        {
            var folder = Path.Combine(Root, algorithm);
            if (!Directory.Exists(folder))
            {
                continue;
            }

            var hexLength = HexLength(algorithm);
            foreach (var fanOut in Directory.EnumerateDirectories(folder))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var fanOutName = Path.GetFileName(fanOut);
                foreach (var file in Directory.EnumerateFiles(fanOut))
                {
                    var name = Path.GetFileName(file);
                    string id;
                    if (name.StartsWith(TemporaryPrefix, StringComparison.Ordinal))
                    {
                        id = $"{algorithm}-{fanOutName}-{name[TemporaryPrefix.Length..]}";
                    }
                    else if (mayBeRecorded is not null && name.Length == hexLength && name.StartsWith(fanOutName, StringComparison.Ordinal) &&
                        IsLowerHex(name) && !mayBeRecorded(algorithm, name))
                    {
                        id = $"{algorithm}-{name}";
                    }
                    else
                    {
                        continue;
                    }

                    if (LeftoverPath(id) is { } path && Read(path, id) is { } upload)
                    {
                        yield return upload;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Deletes a file <see cref="Leftovers"/> listed, only when it is still exactly as listed (same size, same times) and nobody
    /// has it open: it is opened exclusively first, which fails while its writer (or a reader) holds it. For an unrecorded blob
    /// file the caller makes sure, under the lock its writers take, that it still has no record.
    /// </summary>
    /// <param name="upload">The upload as the plan saw it.</param>
    /// <returns>What happened: <see cref="UploadDeleteOutcome.Changed"/> for a file written or open since the plan.</returns>
    /// <exception cref="ArgumentException">The id names neither kind of leftover of this store (nothing is deleted).</exception>
    public UploadDeleteOutcome DeleteLeftover(BlobUpload upload)
    {
        ArgumentNullException.ThrowIfNull(upload);
        var path = LeftoverPath(upload.Id) ?? throw new ArgumentException(
            $"'{upload.Id}' is not the id of a temporary blob file (ALG-ab-<32 hex digits>) or of an unrecorded blob file (ALG-<hex digest>).",
            nameof(upload));
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
            return UploadDeleteOutcome.Changed; // open: a write (or a read) in progress
        }

        using (held)
        {
            if (Read(path, upload.Id) != upload)
            {
                return UploadDeleteOutcome.Changed;
            }

            File.Delete(path);
            return UploadDeleteOutcome.Deleted;
        }
    }

    /// <summary>
    /// The path a leftover's id names: <c>ALG-ab-&lt;32 hex&gt;</c> a temporary file, <c>ALG-&lt;hex digest&gt;</c> a blob file; null
    /// when it names neither.
    /// </summary>
    private string? LeftoverPath(string id)
    {
        var parts = id.Split('-');
        if (parts is [var algorithm, var fanOut, var name] && Algorithms.Contains(algorithm) &&
            fanOut.Length == 2 && IsLowerHex(fanOut) && name.Length == TemporaryNameLength && IsLowerHex(name))
        {
            return Path.Combine(Root, algorithm, fanOut, TemporaryPrefix + name);
        }

        return UnrecordedParts(id) is var (blobAlgorithm, hex) ? Path.Combine(Root, blobAlgorithm, hex[..2], hex) : null;
    }

    /// <summary>Reads a leftover's size and times, the same way for the listing and for the re-check; null when it is gone.</summary>
    private static BlobUpload? Read(string path, string id)
    {
        var info = new FileInfo(path);
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

    /// <summary>Nothing to release: the store holds no open file between calls.</summary>
    public void Dispose()
    {
    }

    /// <summary>Verified bytes in a temporary file, still open, waiting to be renamed into place.</summary>
    /// <param name="file">The open temporary file, closed on disposal.</param>
    /// <param name="temporary">The temporary file.</param>
    /// <param name="target">The blob's final path.</param>
    /// <param name="size">The number of bytes.</param>
    private sealed class StagedBlob(FileStream file, string temporary, string target, long size) : IStagedBlob
    {
        private bool _done;

        /// <summary>The number of bytes.</summary>
        public long Size => size;

        /// <summary>Renames the bytes into place (replacing identical bytes that may be there already).</summary>
        public void Commit()
        {
            if (_done)
            {
                return;
            }

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
