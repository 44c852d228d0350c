using System.Globalization;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;
using static Harbor.Gc.Storage.Blobs.BlobLeftoverIds;

namespace Harbor.Gc.Storage.Blobs;

/// <summary>
/// Content-addressed blob bytes in an S3 bucket (issue 17): <c>PREFIX/sha256/ab/&lt;hex&gt;</c> (and <c>sha512</c>), the layout of
/// <see cref="LiteDb.FileSystemBlobStore"/> as keys. The requests go through <see cref="S3StorageDriver"/>: its client (endpoint,
/// region, the SDK's standard credential chain), its retries with backoff on throttling and transient errors, and its request count.
/// </summary>
/// <remarks>
/// <para>
/// A blob's bytes are hashed while they are read from the pusher and become visible under the blob's key only once they match its
/// digest (DESIGN.md, "S3 blob bytes"): a blob of at most <see cref="S3BlobStoreOptions.PartSize"/> bytes is held in memory, verified,
/// and written by one PutObject at commit; a larger one is sent as the parts of a multipart upload of its final key while it is read,
/// and the upload is completed at commit only when the digest matched (aborted otherwise). A PutObject and a
/// CompleteMultipartUpload are atomic: a reader sees no object or the whole one.
/// </para>
/// <para>
/// What a crash leaves: nothing (killed before a PutObject), an unfinished multipart upload of a blob's key (killed while sending
/// parts, or before the completion), or a whole object without a record (killed between the commit and the metadata's record). The
/// last two are listed as uploads of no repository (<see cref="Leftovers"/>: id <c>ALG-&lt;hex&gt;-&lt;upload id&gt;</c>, dated by its
/// initiation and its last part; id <c>ALG-&lt;hex&gt;</c>, dated by its Last-Modified), and deleted once older than the time window
/// when still as listed (<see cref="DeleteLeftover"/>).
/// </para>
/// </remarks>
internal sealed class S3BlobStore : IBlobContentStore
{
    /// <summary>The object under the prefix that holds the id of the store the prefix belongs to.</summary>
    public const string OwnerObject = ".harbor-gc-store";

    private readonly S3StorageDriver _driver;
    private readonly int _partSize;
    private readonly string _where;

    /// <summary>Creates the store over the options' bucket and prefix; sends nothing yet.</summary>
    /// <param name="options">Where.</param>
    /// <param name="time">The clock the retries wait on.</param>
    public S3BlobStore(S3BlobStoreOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _driver = new S3StorageDriver(options.ToDriverOptions(time));
        _partSize = options.PartSize;
        _where = options.Endpoint is { } endpoint ? $"{_driver.Root} at {endpoint}" : $"{_driver.Root} (AWS, {options.Region ?? "us-east-1"})";
    }

    /// <inheritdoc />
    public string Root => _driver.Root;

    /// <summary>The requests sent so far (each try counted).</summary>
    public long Requests => _driver.Requests;

    /// <summary>The key path (below the prefix) of a blob's bytes.</summary>
    /// <param name="digest">The blob; must not be empty.</param>
    /// <returns><c>ALG/ab/&lt;hex&gt;</c>.</returns>
    public static string PathOf(Digest digest)
    {
        if (digest.IsEmpty)
        {
            throw new ArgumentException("The digest is empty.", nameof(digest));
        }

        var hex = digest.Hex;
        return $"{(digest.Algorithm == DigestAlgorithm.Sha512 ? "sha512" : "sha256")}/{hex[..2]}/{hex}";
    }

    /// <inheritdoc />
    public bool Exists(Digest digest) => Head(PathOf(digest)) is not null;

    /// <inheritdoc />
    public Stream? OpenRead(Digest digest)
    {
        var key = _driver.Key(PathOf(digest));
        try
        {
            var response = Wait(ct => _driver.Client.GetObjectAsync(new GetObjectRequest { BucketName = _driver.Bucket, Key = key }, ct));
            return new ObjectStream(response);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async ValueTask<IStagedBlob> StageAsync(Digest digest, Stream content, CancellationToken cancellationToken)
    {
        var path = PathOf(digest);
        var sink = new PartSink(this, path);
        try
        {
            var size = await BlobContent.CopyVerifiedAsync(digest, content, sink, cancellationToken).ConfigureAwait(false);
            return await sink.FinishAsync(size, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await sink.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// One ListMultipartUploads per algorithm and one ListParts per unfinished upload; with <paramref name="mayBeRecorded"/>, also a
    /// flat listing of the blob keys (one request per 1,000). Keys and uploads of another form are not this store's and are left alone.
    /// </remarks>
    public IEnumerable<BlobUpload> Leftovers(Func<string, string, bool>? mayBeRecorded, CancellationToken cancellationToken)
    {
        foreach (var algorithm in Algorithms)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var upload in _driver.ListMultipartUploads(algorithm + "/"))
            {
                if (BlobParts(upload.Path) is { } hex && upload.UploadId.Length > 0)
                {
                    var (size, last) = _driver.ReadMultipartUpload(upload);
                    yield return new BlobUpload(null, $"{algorithm}-{hex}-{upload.UploadId}", upload.InitiatedAt, size, last);
                }
            }
        }

        if (mayBeRecorded is null)
        {
            yield break;
        }

        foreach (var algorithm in Algorithms)
        {
            foreach (var item in _driver.ListTreeAsync(algorithm, cancellationToken).ToBlockingEnumerable(cancellationToken))
            {
                if (item.HasValidPath && BlobParts(item.Path) is { } hex && !mayBeRecorded(algorithm, hex))
                {
                    yield return new BlobUpload(null, $"{algorithm}-{hex}", item.ModifiedAt, item.Size, item.ModifiedAt);
                }
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// An unrecorded blob's object is looked at again (HeadObject: the same size, the same time to the second, the servers' time
    /// granularity) and deleted; the caller makes sure, under the lock its writers take, that it still has no record. An unfinished
    /// multipart upload is looked up again (ListMultipartUploads of its key, ListParts: the same parts' size and last time) and
    /// aborted. A writer that sends a part between the look and the abort (one idle for longer than the time window until then)
    /// fails, and its push with it; nothing visible changes.
    /// </remarks>
    public UploadDeleteOutcome DeleteLeftover(BlobUpload upload)
    {
        ArgumentNullException.ThrowIfNull(upload);
        return ForItem(upload.Id, () => DeleteLeftoverCore(upload));
    }

    private UploadDeleteOutcome DeleteLeftoverCore(BlobUpload upload)
    {
        if (UnrecordedParts(upload.Id) is var (algorithm, hex))
        {
            var path = $"{algorithm}/{hex[..2]}/{hex}";
            if (Head(path) is not { } head)
            {
                return UploadDeleteOutcome.NotFound;
            }

            if (head.ContentLength != upload.Size || !SameSecond(ToTime(head.LastModified), upload.LastWrittenAt))
            {
                return UploadDeleteOutcome.Changed;
            }

            DeleteObject(path);
            return UploadDeleteOutcome.Deleted;
        }

        if (MultipartParts(upload.Id) is var (uploadAlgorithm, uploadHex, uploadId))
        {
            var path = $"{uploadAlgorithm}/{uploadHex[..2]}/{uploadHex}";
            if (_driver.ListMultipartUploads(path).FirstOrDefault(u => u.Path == path && u.UploadId == uploadId) is not { UploadId.Length: > 0 } found)
            {
                return UploadDeleteOutcome.NotFound;
            }

            var (size, last) = _driver.ReadMultipartUpload(found);
            if (size != upload.Size || !SameSecond(last, upload.LastWrittenAt))
            {
                return UploadDeleteOutcome.Changed;
            }

            _driver.AbortMultipartUpload(found);
            return UploadDeleteOutcome.Deleted;
        }

        throw new ArgumentException(
            $"'{upload.Id}' is not the id of an unfinished blob upload (ALG-<hex digest>-<upload id>) or of an unrecorded blob object (ALG-<hex digest>) of {Root}.",
            nameof(upload));
    }

    /// <inheritdoc />
    public void Delete(Digest digest) => ForItem(PathOf(digest), () =>
    {
        DeleteObject(PathOf(digest));
        return true;
    });

    /// <summary>
    /// Runs a deletion the sweep makes for one blob or leftover: what the server refuses (a 403 of a bucket policy) and what still
    /// fails after the retries (a 5xx, a lost connection) becomes an <see cref="IOException"/> naming the object, as a folder's
    /// refusal is one, so that blob fails (reported, marked delete-failed, tried again by the next run) and the run goes on; the
    /// SDK's own exception used to end the whole run without a report.
    /// </summary>
    private T ForItem<T>(string what, Func<T> deletion)
    {
        try
        {
            return deletion();
        }
        catch (AmazonServiceException e)
        {
            throw new IOException(string.Create(CultureInfo.InvariantCulture, $"the S3 server refused to delete '{Root}/{what}': {e.ErrorCode} (HTTP {(int)e.StatusCode}): {e.Message}"), e);
        }
        catch (Exception e) when (e is AmazonClientException or HttpRequestException or TaskCanceledException)
        {
            // a connection, or the SDK's timeout (a deletion runs without a caller's token, so no cancel reaches it as one)
            throw new IOException($"deleting '{Root}/{what}' failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// The id of the store the prefix belongs to (<see cref="OwnerObject"/>), or null when it has none: the first request an opening
    /// sends, tried at most three times, so a wrong endpoint, bucket or credentials fail fast.
    /// </summary>
    /// <exception cref="InvalidDataException">The server cannot be reached, or refuses (no such bucket, bad credentials); the message names the bucket and endpoint and says what is wrong. Nothing was written.</exception>
    public string? ReadClaim()
    {
        var key = _driver.Key(OwnerObject);
        try
        {
            using var response = _driver.Retry(ct => _driver.Client.GetObjectAsync(new GetObjectRequest { BucketName = _driver.Bucket, Key = key }, ct), CancellationToken.None, maxAttempts: 3)
                .GetAwaiter().GetResult();
            using var reader = new StreamReader(response.ResponseStream);
            return reader.ReadToEnd().Trim();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            return null;
        }
        catch (AmazonServiceException e)
        {
            throw new InvalidDataException($"The S3 server of the blob store {_where} refused to read it: {e.ErrorCode} (HTTP {(int)e.StatusCode}): {e.Message}. Check the bucket and the credentials (the AWS SDK's standard chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role). Nothing was changed.", e);
        }
        catch (Exception e) when (e is AmazonClientException or HttpRequestException or IOException or TaskCanceledException)
        {
            throw new InvalidDataException($"Cannot reach the S3 blob store {_where}: {e.Message}. Check the endpoint, the region and the credentials (the AWS SDK's standard chain). Nothing was changed.", e);
        }
    }

    /// <summary>
    /// Checks that the prefix is this store's: <see cref="OwnerObject"/> holds <paramref name="storeId"/>. A prefix with no owner is
    /// claimed (unless <paramref name="readOnly"/>).
    /// </summary>
    /// <param name="storeId">The id the store's metadata holds.</param>
    /// <param name="readOnly">Claim nothing.</param>
    /// <param name="owner">The store, for messages.</param>
    /// <exception cref="InvalidDataException">The prefix belongs to another store, or the server cannot be reached or refuses.</exception>
    public void Claim(string storeId, bool readOnly, string owner)
    {
        var claimed = ReadClaim();
        if (string.IsNullOrEmpty(claimed))
        {
            if (!readOnly)
            {
                var key = _driver.Key(OwnerObject);
                _driver.BeforeWriteOf("put", OwnerObject);
                Wait(ct => _driver.Client.PutObjectAsync(new PutObjectRequest { BucketName = _driver.Bucket, Key = key, ContentBody = storeId + "\n", UseChunkEncoding = false }, ct));
            }

            return;
        }

        if (!string.Equals(claimed, storeId, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"The S3 blob store {Root} belongs to another store (id {claimed}), not to {owner} (id {storeId}); give each store its own prefix. Nothing was changed.");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _driver.Dispose();

    private GetObjectMetadataResponse? Head(string path)
    {
        var key = _driver.Key(path);
        try
        {
            return Wait(ct => _driver.Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _driver.Bucket, Key = key }, ct));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private void DeleteObject(string path)
    {
        var key = _driver.Key(path);
        _driver.BeforeWriteOf("delete", path);
        try
        {
            Wait(ct => _driver.Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _driver.Bucket, Key = key }, ct));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // already gone
        }
    }

    private T Wait<T>(Func<CancellationToken, Task<T>> call) => _driver.Retry(call, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The hex digest a key path <c>ALG/ab/&lt;hex&gt;</c> names, or null when it is of another form.</summary>
    private static string? BlobParts(string path) =>
        path.Split('/') is [var algorithm, var fanOut, var hex] && Algorithms.Contains(algorithm) && hex.Length == HexLength(algorithm)
        && IsLowerHex(hex) && hex.StartsWith(fanOut, StringComparison.Ordinal) && fanOut.Length == 2
            ? hex
            : null;

    /// <summary>The algorithm, hex digest and upload id an unfinished upload's id (<c>ALG-&lt;hex&gt;-&lt;upload id&gt;</c>) names, or null.</summary>
    private static (string Algorithm, string Hex, string UploadId)? MultipartParts(string id) =>
        id.Split('-', 3) is [var algorithm, var hex, { Length: > 0 } uploadId] && Algorithms.Contains(algorithm) && hex.Length == HexLength(algorithm) && IsLowerHex(hex)
            ? (algorithm, hex, uploadId)
            : null;

    private static bool SameSecond(DateTimeOffset a, DateTimeOffset b) => (a - b).Duration() < TimeSpan.FromSeconds(1);

    private static DateTimeOffset ToTime(DateTime? time) => time is { } t
        ? new DateTimeOffset(t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime())
        : DateTimeOffset.UnixEpoch;

    /// <summary>
    /// Where <see cref="BlobContent.CopyVerifiedAsync"/> writes: bytes gather in one part's buffer; each full part is sent as a part of a
    /// multipart upload of the blob's key (started with the first), and what is left at the end is sent at <see cref="FinishAsync"/>,
    /// after the digest was checked: as the last part, or, when no part was sent, kept for one PutObject at commit.
    /// </summary>
    private sealed class PartSink(S3BlobStore store, string path) : Stream
    {
        private readonly string _key = store._driver.Key(path);
        private readonly List<PartETag> _parts = [];
        private byte[] _buffer = new byte[Math.Min(store._partSize, 64 * 1024)];
        private int _filled;
        private string? _uploadId;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (buffer.Length > 0)
            {
                if (_filled == store._partSize)
                {
                    await SendPartAsync(cancellationToken).ConfigureAwait(false);
                }

                var room = store._partSize - _filled;
                if (_buffer.Length - _filled < Math.Min(room, buffer.Length))
                {
                    Array.Resize(ref _buffer, (int)Math.Min(store._partSize, Math.Max(_buffer.Length * 2L, _filled + (long)Math.Min(room, buffer.Length))));
                }

                var take = Math.Min(room, buffer.Length);
                buffer[..take].CopyTo(_buffer.AsMemory(_filled));
                _filled += take;
                buffer = buffer[take..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        /// <summary>The staged blob, once the digest matched: the last part sent, or the bytes kept for one PutObject.</summary>
        public async ValueTask<IStagedBlob> FinishAsync(long size, CancellationToken cancellationToken)
        {
            if (_uploadId is null)
            {
                return new PutStaged(store, path, _buffer, _filled, size);
            }

            if (_filled > 0)
            {
                await SendPartAsync(cancellationToken).ConfigureAwait(false);
            }

            return new MultipartStaged(store, path, _uploadId, _parts, size);
        }

        /// <summary>Aborts the multipart upload, if one was started; a failure leaves it for GC (a leftover).</summary>
        public async ValueTask AbortAsync()
        {
            if (_uploadId is { } id)
            {
                _uploadId = null;
                await store.TryAbortAsync(path, id).ConfigureAwait(false);
            }
        }

        private async Task SendPartAsync(CancellationToken cancellationToken)
        {
            var driver = store._driver;
            if (_uploadId is null)
            {
                driver.BeforeWriteOf("initiate", path);
                var started = await driver.Retry(
                    ct => driver.Client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = driver.Bucket, Key = _key }, ct), cancellationToken).ConfigureAwait(false);
                _uploadId = started.UploadId;
            }

            var number = _parts.Count + 1;
            var length = _filled;
            driver.BeforeWriteOf("part", path);
            var sent = await driver.Retry(
                ct => driver.Client.UploadPartAsync(
                    new UploadPartRequest
                    {
                        BucketName = driver.Bucket, Key = _key, UploadId = _uploadId, PartNumber = number, UseChunkEncoding = false,
                        InputStream = new MemoryStream(_buffer, 0, length, writable: false),
                    },
                    ct),
                cancellationToken).ConfigureAwait(false);
            _parts.Add(new PartETag(number, sent.ETag));
            _filled = 0;
        }
    }

    private async Task TryAbortAsync(string path, string uploadId)
    {
        try
        {
            _driver.BeforeWriteOf("abort", path);
            await _driver.Retry(ct => _driver.Client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _driver.Bucket, Key = _driver.Key(path), UploadId = uploadId }, ct), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            // left behind: GC lists and aborts it once it is older than the time window
        }
    }

    /// <summary>A staged blob committed at most once: a second <see cref="Commit"/>, or one after disposal, does nothing.</summary>
    private abstract class OnceStaged(long size) : IStagedBlob
    {
        private bool _done;

        public long Size => size;

        public void Commit()
        {
            if (_done)
            {
                return;
            }

            Write();
            _done = true;
        }

        public void Dispose()
        {
            if (!_done)
            {
                _done = true;
                Discard();
            }
        }

        /// <summary>Makes the bytes visible under the blob's key.</summary>
        protected abstract void Write();

        /// <summary>Removes what staging wrote, when the blob was never committed.</summary>
        protected virtual void Discard()
        {
        }
    }

    /// <summary>Verified bytes of at most one part, in memory: one PutObject at commit.</summary>
    private sealed class PutStaged(S3BlobStore store, string path, byte[] buffer, int length, long size) : OnceStaged(size)
    {
        protected override void Write()
        {
            var driver = store._driver;
            var key = driver.Key(path);
            driver.BeforeWriteOf("put", path);
            store.Wait(ct => driver.Client.PutObjectAsync(
                new PutObjectRequest { BucketName = driver.Bucket, Key = key, UseChunkEncoding = false, InputStream = new MemoryStream(buffer, 0, length, writable: false), AutoCloseStream = true }, ct));
        }
    }

    /// <summary>Verified bytes sent as the parts of a multipart upload of the blob's key: completed at commit, aborted on disposal otherwise.</summary>
    private sealed class MultipartStaged(S3BlobStore store, string path, string uploadId, List<PartETag> parts, long size) : OnceStaged(size)
    {
        protected override void Write()
        {
            var driver = store._driver;
            var key = driver.Key(path);
            driver.BeforeWriteOf("complete", path);
            try
            {
                store.Wait(ct => driver.Client.CompleteMultipartUploadAsync(
                    new CompleteMultipartUploadRequest { BucketName = driver.Bucket, Key = key, UploadId = uploadId, PartETags = parts }, ct));
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && store.Head(path) is { } head && head.ContentLength == Size)
            {
                // an earlier try completed it and its answer was lost (or a retried transaction commits again)
            }
        }

        protected override void Discard() => store.TryAbortAsync(path, uploadId).GetAwaiter().GetResult();
    }

    /// <summary>An object's bytes as the GetObject answer streams them; disposing it closes the answer.</summary>
    private sealed class ObjectStream(GetObjectResponse response) : Stream
    {
        private readonly Stream _inner = response.ResponseStream;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => response.ContentLength;

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => _inner.Read(buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                response.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
