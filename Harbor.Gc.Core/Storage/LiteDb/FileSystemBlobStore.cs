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
/// every file system the store supports.
/// </remarks>
internal sealed class FileSystemBlobStore
{
    private const string TemporaryPrefix = ".upload-";

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
        try
        {
            long size;
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81_920, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                size = await BlobContent.CopyVerifiedAsync(digest, content, file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            return new StagedBlob(temporary, target, size);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
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

    /// <summary>Verified bytes in a temporary file, waiting to be renamed into place.</summary>
    /// <param name="temporary">The temporary file.</param>
    /// <param name="target">The blob's final path.</param>
    /// <param name="size">The number of bytes.</param>
    internal sealed class StagedBlob(string temporary, string target, long size) : IDisposable
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

        /// <summary>Deletes the temporary file unless it was committed.</summary>
        public void Dispose()
        {
            if (!_done)
            {
                _done = true;
                File.Delete(temporary);
            }
        }
    }
}
