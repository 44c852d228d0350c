using System.Security.Cryptography;
using Amazon.S3.Model;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// A run killed in the middle of a multipart copy into the quarantine (an object over the one-copy limit, 5 GiB on S3, here 5 MiB
/// with 5 MiB parts as in <see cref="S3MultipartMoveTests"/>) leaves an unfinished multipart upload under <c>_harbor-gc/</c> that
/// holds the parts copied so far (issue 17). A later run lists it as a stale upload and aborts it once it is older than the time
/// window; an abort that lands under a live copy fails that copy's move and leaves its source where it was.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3QuarantineCopyTests
{
    private const int MiB = 1 << 20;
    private const string Root = "reg/docker/registry/v2";

    private S3Server _server = null!;
    private string _bucket = null!;
    private byte[] _bytes = null!;
    private string _data = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("qcp");
        _bytes = new byte[(11 * MiB) + 321];
        new Random(17).NextBytes(_bytes);
        var hex = Convert.ToHexStringLower(SHA256.HashData(_bytes));
        _data = $"blobs/sha256/{hex[..2]}/{hex}/data";
        await _server.PutAsync(_bucket, [new($"{Root}/{_data}", _bytes)]); // a blob no repository links: garbage
    }

    [Test]
    public async Task AKilledRunsMultipartCopy_IsLeftAloneWhileYoung_ThenAbortedByALaterRunOnceOlderThanTheWindow_AndReported()
    {
        // given a real run killed while it copied the blob into the quarantine in parts (after its first part, before its second)
        using (var killed = Driver(what => !what.StartsWith("copy part 2 ", StringComparison.Ordinal)))
        {
            var act = () => RunAsync(killed, TimeSpan.Zero);
            await act.Should().ThrowAsync<Exception>("every request after the kill fails, the lease's release too");
        }

        await DeleteClaimsAsync(); // the killed run's lease has ended
        var left = await UploadsAsync();
        left.Should().ContainSingle().Which.Key.Should().StartWith($"{Root}/_harbor-gc/quarantine/").And.EndWith("/Blob/" + _data);
        (await ReadAsync(_data)).Should().Equal(_bytes, "nothing of the source was deleted");
        var run = left[0].Key[$"{Root}/_harbor-gc/quarantine/".Length..].Split('/')[0];

        // when a run with a time window of an hour comes first, then one with 30 s (its clock a minute ahead)
        using var driver = Driver(_ => true);
        var young = await RunAsync(driver, TimeSpan.FromHours(1));
        var keptUploads = await UploadsAsync();
        using var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var old = await RunAsync(driver, TimeSpan.FromSeconds(30), factory.CreateLogger<GarbageCollector>());

        // then the first left it alone (younger than its window; reported, not planned), and the second aborted it as a stale upload,
        // its plan naming the killed run's folder and its report the key; the blob itself went as garbage (moved in parts and
        // deleted), and no unfinished upload is left in the bucket
        young.Plan.Uploads.Should().BeEmpty();
        young.UploadsDeleted.Should().Be(0);
        young.Plan.Warnings.Should().Contain(w => w.Location.Contains(run, StringComparison.Ordinal) && w.Message.Contains("unfinished multipart copy", StringComparison.Ordinal));
        keptUploads.Should().ContainSingle().Which.UploadId.Should().Be(left[0].UploadId);
        var planned = old.Plan.Uploads.Should().ContainSingle().Subject;
        planned.Repository.Should().BeNull();
        planned.Id.Should().StartWith("harbor-gc-copy-" + run + "-");
        planned.Size.Should().Be(5 * MiB, "one part was copied before the kill");
        old.Plan.Warnings.Should().Contain(w => w.Message.Contains(planned.Id, StringComparison.Ordinal));
        var leftKey = left[0].Key[(Root.Length + 1)..];
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains(leftKey, StringComparison.Ordinal)
            && e.Message.Contains(planned.Id, StringComparison.Ordinal), "the log names the key and the upload id it is aborted as");
        old.UploadsDeleted.Should().Be(1);
        old.UploadBytesFreed.Should().Be(5 * MiB);
        old.BlobsDeleted.Should().Be(1);
        (await UploadsAsync()).Should().BeEmpty();
        (await _server.KeysAsync(_bucket)).Should().BeEmpty();
    }

    [TestCase("copy part 2 ")]
    [TestCase("complete ")]
    public async Task AnAbortUnderALiveCopy_FailsTheMove_AndLeavesTheSourceWhole(string abortBefore)
    {
        // given a move in parts, and another run aborting its upload just before its second part or its completion
        var aborted = 0;
        using var driver = Driver(what =>
        {
            if (what.StartsWith(abortBefore, StringComparison.Ordinal) && Interlocked.Increment(ref aborted) == 1)
            {
                AbortAllAsync().GetAwaiter().GetResult();
            }

            return true;
        });

        // when the blob is moved into the quarantine
        var move = () => driver.Move(_data[..^"/data".Length], "_harbor-gc/quarantine/run/Blob/" + _data[..^"/data".Length]);

        // then the move fails (not "the source was gone", which a run takes as nothing to delete), the source is whole where the
        // registry reads it, and nothing is in the quarantine
        move.Should().Throw<IOException>().WithMessage("*aborted by someone else*the source stays*");
        aborted.Should().Be(1);
        (await ReadAsync(_data)).Should().Equal(_bytes);
        (await _server.KeysAsync(_bucket)).Should().Equal($"{Root}/{_data}");
        (await UploadsAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task ACopyWhoseRunLostItsLeaseMidway_StopsBeforeItsNextPart_AbortsItsUpload_AndLeavesTheSource()
    {
        // given a run holding the lease (its clock a fake one) whose renewals start failing while it copies the blob in parts, and
        // whose clock then passes the lease: a run paused that long, or cut off from the server, while another takes the bucket
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        var renewalsFail = false;
        using var driver = new S3StorageDriver(new S3StorageOptions
        {
            Bucket = _bucket, RootPrefix = Root, Endpoint = _server.Endpoint, Region = S3Server.Region, LeaseDuration = TimeSpan.FromSeconds(8),
            MultipartCopyThreshold = 5 * MiB, CopyPartSize = 5 * MiB, TimeProvider = clock,
            BeforeWrite = what =>
            {
                if (what.StartsWith("put _harbor-gc/lease/", StringComparison.Ordinal) && renewalsFail)
                {
                    throw new IOException("the server is out of reach (test)");
                }

                if (what.StartsWith("copy part 2 ", StringComparison.Ordinal) && !renewalsFail)
                {
                    renewalsFail = true;
                    clock.Advance(TimeSpan.FromSeconds(8));
                }

                return true;
            },
        });
        using var lease = driver.TryLock(string.Empty);
        lease.Should().NotBeNull();

        // when it moves the blob into the quarantine
        var move = () => driver.Move(_data[..^"/data".Length], "_harbor-gc/quarantine/run/Blob/" + _data[..^"/data".Length]);

        // then it stops before the second part (the lease is lost), aborts its upload, and the source is whole where it was
        move.Should().Throw<IOException>().WithMessage("*lease*");
        (await ReadAsync(_data)).Should().Equal(_bytes);
        (await UploadsAsync()).Should().BeEmpty();
        (await _server.KeysAsync(_bucket)).Should().Contain($"{Root}/{_data}").And.NotContain(k => k.Contains("/quarantine/", StringComparison.Ordinal));
    }

    [Test]
    public async Task ACopyThatReceivedAPartSinceThePlan_IsKept()
    {
        // given an unfinished copy into the quarantine, planned for deletion
        using var client = _server.CreateClient();
        var key = $"{Root}/_harbor-gc/quarantine/20261205T000000Z-0123456789abcdef0123456789abcdef/Blob/{_data}";
        var upload = await client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key });
        await CopyPartAsync(client, key, upload.UploadId, 1);
        using var driver = Driver(_ => true);
        var store = new DistributionRegistryStore(driver, $"s3://{_bucket}/reg", TimeProvider.System) { GracePeriod = TimeSpan.Zero };
        var plan = await new GarbageCollector(store, Later()).PlanAsync(new GcOptions { TimeWindow = TimeSpan.Zero });
        var planned = plan.Uploads.Should().ContainSingle().Subject;

        // when a live run copies its next part before the deletion
        await CopyPartAsync(client, key, upload.UploadId, 2);
        var outcome = await store.DeleteUploadAsync(planned);

        // then the deletion looks it up again, sees more parts, and keeps it
        outcome.Should().Be(UploadDeleteOutcome.Changed);
        (await UploadsAsync()).Should().ContainSingle().Which.UploadId.Should().Be(upload.UploadId);
        var again = (await new GarbageCollector(store, Later()).PlanAsync(new GcOptions { TimeWindow = TimeSpan.Zero })).Uploads.Single();
        (await store.DeleteUploadAsync(again)).Should().Be(UploadDeleteOutcome.Deleted);
        (await UploadsAsync()).Should().BeEmpty();
    }

    private async Task CopyPartAsync(Amazon.S3.IAmazonS3 client, string key, string uploadId, int part) =>
        await client.CopyPartAsync(new CopyPartRequest
        {
            SourceBucket = _bucket, SourceKey = $"{Root}/{_data}", DestinationBucket = _bucket, DestinationKey = key, UploadId = uploadId,
            PartNumber = part, FirstByte = (part - 1) * 5L * MiB, LastByte = (part * 5L * MiB) - 1,
        });

    private static FakeTimeProvider Later() => new(TimeProvider.System.GetUtcNow().AddMinutes(1));

    /// <summary>A real run in process (untagged collected, no grace period), its clock a minute ahead of the server's.</summary>
    private async Task<GcResult> RunAsync(S3StorageDriver driver, TimeSpan window, ILogger<GarbageCollector>? logger = null)
    {
        var store = new DistributionRegistryStore(driver, $"s3://{_bucket}/reg", TimeProvider.System) { GracePeriod = TimeSpan.Zero };
        var result = await new GarbageCollector(store, Later(), logger).RunAsync(new GcOptions { DeleteUntagged = true, TimeWindow = window });
        result.BlobsFailed.Should().BeEmpty();
        return result;
    }

    private S3StorageDriver Driver(Func<string, bool> beforeWrite) => new(new S3StorageOptions
    {
        Bucket = _bucket, RootPrefix = Root, Endpoint = _server.Endpoint, Region = S3Server.Region, LeaseDuration = TimeSpan.FromSeconds(6),
        MultipartCopyThreshold = 5 * MiB, CopyPartSize = 5 * MiB, BeforeWrite = beforeWrite,
    });

    private async Task DeleteClaimsAsync()
    {
        using var client = _server.CreateClient();
        foreach (var key in (await _server.KeysAsync(_bucket)).Where(k => k.StartsWith($"{Root}/_harbor-gc/lease/", StringComparison.Ordinal)))
        {
            await client.DeleteObjectAsync(_bucket, key);
        }
    }

    private async Task AbortAllAsync()
    {
        using var client = _server.CreateClient();
        foreach (var upload in await UploadsAsync())
        {
            await client.AbortMultipartUploadAsync(_bucket, upload.Key, upload.UploadId);
        }
    }

    private async Task<List<MultipartUpload>> UploadsAsync()
    {
        using var client = _server.CreateClient();
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _bucket });
        return [.. uploads.MultipartUploads ?? []];
    }

    private async Task<byte[]> ReadAsync(string path)
    {
        using var client = _server.CreateClient();
        using var response = await client.GetObjectAsync(_bucket, $"{Root}/{path}");
        using var memory = new MemoryStream();
        await response.ResponseStream.CopyToAsync(memory);
        return memory.ToArray();
    }
}
