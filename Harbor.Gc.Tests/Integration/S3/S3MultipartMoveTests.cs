using Amazon.S3.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The S3 driver's move of an object larger than one CopyObject copies (5 GiB on S3; issue 17), against the real server: the
/// driver is given a limit of 5 MiB and parts of 5 MiB (S3's smallest part but the last), so an object of 11 MiB is copied in three
/// parts by UploadPartCopy with byte ranges, as a blob over 5 GiB is with the default limit.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3MultipartMoveTests
{
    private const int MiB = 1 << 20;
    private const int Size = (11 * MiB) + 123;
    private const string Data = "blobs/sha256/ab/big/data";
    private const string Quarantined = "_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big/data";

    private S3Server _server = null!;
    private string _bucket = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("mpc");
    }

    [Test]
    public async Task Move_OfAnObjectOverTheCopyLimit_CopiesItInParts_ByteIdentical_KeepingItsTimeInTheQuarantine_AndPutsItBack()
    {
        // given an object over the driver's one-copy limit, written by one PutObject, and its time
        var bytes = Bytes(1);
        await _server.PutAsync(_bucket, [new("root/v2/" + Data, bytes)]);
        var writes = new List<string>();
        using var driver = Open(what =>
        {
            lock (writes)
            {
                writes.Add(what);
            }

            return true;
        });
        var written = driver.Stat(Data)!.Value.ModifiedAt;
        await Task.Delay(TimeSpan.FromSeconds(1.1), TimeProvider.System); // the server dates objects in whole seconds

        // when it is moved out of the registry's sight, then put back, then moved out again and deleted, as a run does
        var movedOut = driver.Move("blobs/sha256/ab/big", "_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big");
        var outside = await ReadAsync(Quarantined);
        var outsideTime = driver.Stat(Quarantined)!.Value.ModifiedAt;
        var sourceAfterMove = driver.Stat(Data);
        var movedBack = driver.Move("_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big", "blobs/sha256/ab/big");
        var back = await ReadAsync(Data);

        // then each move copied it in three parts (S3 names such an object's ETag "…-3") byte for byte, and deleted the source; the
        // quarantined copy carries the source's time, as a single copy's does, and the one put back its own Last-Modified (the
        // dating rule of the flat reader: kept times count inside _harbor-gc/ only); nothing of an upload is left
        movedOut.Should().Be(StorageMoveOutcome.Moved);
        sourceAfterMove.Should().BeNull();
        outside.Bytes.Should().Equal(bytes);
        outside.ETag.Should().EndWith("-3\"");
        outsideTime.Should().Be(written);
        movedBack.Should().Be(StorageMoveOutcome.Moved);
        back.Bytes.Should().Equal(bytes);
        var backTime = driver.Stat(Data)!.Value.ModifiedAt;
        backTime.Should().BeAfter(written, "put back out of _harbor-gc/, it is dated by its Last-Modified, the time a flat listing gives it");
        driver.ListTreeAsync("blobs/sha256/ab/big").ToBlockingEnumerable().Single().ModifiedAt.Should().Be(backTime);
        driver.Stat(Quarantined).Should().BeNull();
        writes.Count(w => w.StartsWith("copy part ", StringComparison.Ordinal)).Should().Be(6);
        (await UploadsAsync()).Should().BeEmpty();

        // and a delete removes it
        driver.Delete("blobs/sha256/ab/big");
        (await _server.KeysAsync(_bucket)).Should().BeEmpty();
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public async Task Move_InParts_OfASourceWrittenDuringTheCopy_IsRefusedByThePartThatReadsIt_AndCopiesTheNewVersionWhole(int part)
    {
        // given an object over the limit, and a writer that writes a new version of it just before the move copies one of its parts
        var old = Bytes(2);
        var fresh = Bytes(3);
        await _server.PutAsync(_bucket, [new("root/v2/" + Data, old)]);
        var rewrites = 0;
        var aborts = 0;
        using var driver = Open(what =>
        {
            if (what == $"copy part {part} {Data}" && Interlocked.Increment(ref rewrites) == 1)
            {
                _server.PutAsync(_bucket, [new("root/v2/" + Data, fresh)]).GetAwaiter().GetResult();
            }

            if (what == $"abort {Quarantined}")
            {
                Interlocked.Increment(ref aborts);
            }

            return true;
        });

        // when it is moved
        var moved = driver.Move("blobs/sha256/ab/big", "_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big");

        // then the part that read the new version was refused (copy-source-if-match the ETag the move saw), the upload was aborted,
        // and the move looked again and moved the new version whole: never parts of two versions, never an old copy with the new
        // version deleted or left behind
        moved.Should().Be(StorageMoveOutcome.Moved);
        var copy = await ReadAsync(Quarantined);
        var from = copy.Bytes.SequenceEqual(fresh) ? "the new version" : copy.Bytes.SequenceEqual(old) ? "the old version" : "neither version (parts of both)";
        from.Should().Be("the new version", "the copy holds the version written during the first try, whole");
        driver.Stat(Data).Should().BeNull("the version copied is the one deleted");
        aborts.Should().Be(1);
        (await UploadsAsync()).Should().BeEmpty("the refused upload was aborted");
    }

    [Test]
    public async Task Move_OfAnObjectWrittenByAMultipartUpload_WrittenAgainBeforeItsCopy_IsLookedAtAgain_AndMovedWithItsNewTime()
    {
        // given blob data written by a multipart upload (ETag "…-2", which no If-Match matches on Swift's s3api), and a writer that
        // writes it again (a second later: the server dates objects in whole seconds) just before the move copies it
        await PutInPartsAsync(Data, Bytes(4, 6 * MiB));
        await Task.Delay(TimeSpan.FromSeconds(1.1), TimeProvider.System);
        var fresh = Bytes(5, 6 * MiB);
        DateTimeOffset? rewrittenAt = null;
        using var driver = Open(what =>
        {
            if (what == $"copy {Data}" && rewrittenAt is null)
            {
                PutInPartsAsync(Data, fresh).GetAwaiter().GetResult();
                rewrittenAt = new DateTimeOffset(HeadAsync(Data).GetAwaiter().GetResult().LastModified!.Value.ToUniversalTime(), TimeSpan.Zero);
            }

            return true;
        });

        // when it is moved (one copy: under the driver's limit)
        var moved = driver.Move("blobs/sha256/ab/big", "_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big");

        // then the copy under copy-source-if-unmodified-since its Last-Modified was refused, and the move looked again: the copy is
        // the new version with the new version's time (not the new bytes dated as the old ones, which settling would take as unchanged)
        moved.Should().Be(StorageMoveOutcome.Moved);
        (await ReadAsync(Quarantined)).Bytes.SequenceEqual(fresh).Should().BeTrue("the copy holds the version written before it");
        driver.Stat(Quarantined)!.Value.ModifiedAt.Should().Be(rewrittenAt!.Value, "the copy carries the time of the version it holds");
        driver.Stat(Data).Should().BeNull();
    }

    [Test]
    public async Task Move_OfAnObjectWrittenByAMultipartUpload_WrittenAgainAfterItsCopy_StaysWhereItsWriterPutIt()
    {
        // given blob data written by a multipart upload, and a writer that writes it again a second later, just after the move copied it
        var old = Bytes(6, 6 * MiB);
        await PutInPartsAsync(Data, old);
        await Task.Delay(TimeSpan.FromSeconds(1.1), TimeProvider.System);
        var fresh = Bytes(7, 6 * MiB);
        var rewrites = 0;
        using var driver = Open(what =>
        {
            if (what == $"delete {Data}" && Interlocked.Increment(ref rewrites) == 1)
            {
                PutInPartsAsync(Data, fresh).GetAwaiter().GetResult();
            }

            return true;
        });

        // when it is moved
        var moved = driver.Move("blobs/sha256/ab/big", "_harbor-gc/quarantine/run/1-Blob/blobs/sha256/ab/big");

        // then the move looked at the source again before deleting it, saw another ETag and Last-Modified, and left it: the new
        // version stays where the registry reads it, the copy holds the old one (as a 412 on the delete does for other objects)
        moved.Should().Be(StorageMoveOutcome.Moved);
        (await ReadAsync(Data)).Bytes.SequenceEqual(fresh).Should().BeTrue("the version written after the copy stays where it was written");
        (await ReadAsync(Quarantined)).Bytes.SequenceEqual(old).Should().BeTrue();
    }

    /// <summary>Writes an object by a multipart upload of 5 MiB parts (its ETag "…-N"), as the registry writes blob data.</summary>
    private async Task PutInPartsAsync(string path, byte[] bytes)
    {
        using var client = _server.CreateClient();
        var key = "root/v2/" + path;
        var upload = await client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key });
        var parts = new List<PartETag>();
        for (var (offset, number) = (0, 1); offset < bytes.Length; offset += 5 * MiB, number++)
        {
            using var body = new MemoryStream(bytes, offset, Math.Min(5 * MiB, bytes.Length - offset));
            var part = await client.UploadPartAsync(new UploadPartRequest { BucketName = _bucket, Key = key, UploadId = upload.UploadId, PartNumber = number, InputStream = body, UseChunkEncoding = false });
            parts.Add(new PartETag(number, part.ETag));
        }

        await client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = upload.UploadId, PartETags = parts });
        (await HeadAsync(path)).ETag.Should().EndWith($"-{parts.Count}\"");
    }

    private async Task<GetObjectMetadataResponse> HeadAsync(string path)
    {
        using var client = _server.CreateClient();
        return await client.GetObjectMetadataAsync(_bucket, "root/v2/" + path);
    }

    private S3StorageDriver Open(Func<string, bool> beforeWrite) => new(new S3StorageOptions
    {
        Bucket = _bucket,
        RootPrefix = "root/v2",
        Endpoint = _server.Endpoint,
        Region = S3Server.Region,
        MultipartCopyThreshold = 5 * MiB,
        CopyPartSize = 5 * MiB,
        BeforeWrite = beforeWrite,
    });

    private static byte[] Bytes(int seed, int size = Size)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<(byte[] Bytes, string ETag)> ReadAsync(string path)
    {
        using var client = _server.CreateClient();
        using var response = await client.GetObjectAsync(_bucket, "root/v2/" + path);
        using var memory = new MemoryStream();
        await response.ResponseStream.CopyToAsync(memory);
        return (memory.ToArray(), response.ETag);
    }

    private async Task<List<string>> UploadsAsync()
    {
        using var client = _server.CreateClient();
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _bucket });
        return [.. (uploads.MultipartUploads ?? []).Select(u => u.Key)];
    }
}
