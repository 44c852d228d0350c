using System.Net;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The S3 storage driver (issue 17) against a real S3 server (<see cref="S3Server"/>: Swift's s3api): the driver seam's contract
/// (list, stat, read with a cap, delete, a move per object that keeps times and loses no later write, a lease), the flat and sharded listings and the batch delete past 1,000 keys, the
/// retries on throttling, and paths that would leave the root refused.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3StorageDriverTests
{
    private S3Server _server = null!;
    private string _bucket = null!;
    private S3StorageDriver _driver = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = S3Server.Shared;
        _bucket = await _server.CreateBucketAsync("drv");
        await _server.PutAsync(_bucket, new Dictionary<string, byte[]>
        {
            ["root/v2/a/b/file"] = "inside"u8.ToArray(),
            ["root/v2/a/bb/sibling"] = "sibling"u8.ToArray(),
            ["root/v2/a/plain"] = "x"u8.ToArray(),
            ["root/v2/a/c/d/deep"] = "deep"u8.ToArray(),
            ["root/v2/empty"] = [],
            ["root/v2x/outside"] = "outside the root, beside it"u8.ToArray(),
            ["elsewhere/precious"] = "outside the root"u8.ToArray(),
        });
        _driver = Open();
    }

    [TearDown]
    public void TearDown() => _driver.Dispose();

    [Test]
    public void List_NamesFoldersAndFiles_OfOneFolder_WithinTheRoot()
    {
        _driver.List("a")!.ToDictionary(e => e.Name, e => e.Kind).Should().BeEquivalentTo(new Dictionary<string, StorageEntryKind>
        {
            ["b"] = StorageEntryKind.Directory,
            ["bb"] = StorageEntryKind.Directory,
            ["c"] = StorageEntryKind.Directory,
            ["plain"] = StorageEntryKind.File,
        });
        _driver.List(string.Empty)!.Select(e => e.Name).Should().BeEquivalentTo(["a", "empty"], "the root is root/v2, not root/v2x beside it");
        _driver.List("missing").Should().BeNull();
        _driver.List("a/plain").Should().BeNull("a file is no folder to list");
        _driver.Root.Should().Be($"s3://{_bucket}/root/v2");
    }

    [Test]
    public async Task Stat_GivesSizeAndLastModified_OfAFile_AndSaysWhatAFolderIs()
    {
        using var client = _server.CreateClient();
        var head = await client.GetObjectMetadataAsync(_bucket, "root/v2/a/b/file");

        var file = _driver.Stat("a/b/file")!.Value;

        file.Kind.Should().Be(StorageEntryKind.File);
        file.Size.Should().Be(6);
        file.ModifiedAt.Should().Be(new DateTimeOffset(head.LastModified!.Value.ToUniversalTime()));
        file.ModifiedAt.Should().BeCloseTo(TimeProvider.System.GetUtcNow(), TimeSpan.FromMinutes(5));
        _driver.Stat("a/b")!.Value.Kind.Should().Be(StorageEntryKind.Directory);
        _driver.Stat("a")!.Value.Kind.Should().Be(StorageEntryKind.Directory);
        _driver.Stat("a/nothing").Should().BeNull();
        _driver.Stat("a/b/file/under-a-file").Should().BeNull();
        _driver.Stat("a/b/fi").Should().BeNull("a key prefix is not a folder unless a '/' follows it");
    }

    [Test]
    public async Task TheFlatListing_GivesEachObjectTheTimeAndSizeStatGives()
    {
        var listed = new List<StorageObject>();
        await foreach (var item in _driver.ListTreeAsync("a"))
        {
            listed.Add(item);
        }

        listed.Select(o => o.Path).Should().Equal("a/b/file", "a/bb/sibling", "a/c/d/deep", "a/plain");
        foreach (var item in listed)
        {
            var stat = _driver.Stat(item.Path)!.Value;
            TestContext.Progress.WriteLine($"{item.Path}: listed {item.ModifiedAt:O}, stat {stat.ModifiedAt:O}");
            item.Size.Should().Be(stat.Size);
            item.ModifiedAt.Should().Be(stat.ModifiedAt, "a sweep re-checks a listed object's time with Stat");
        }
    }

    [Test]
    public void Read_ReadsAnObjectWhole_AndNeverMoreThanTheCap()
    {
        var read = _driver.Read("a/b/file", 100);
        read.Status.Should().Be(StorageReadStatus.Read);
        Encoding.ASCII.GetString(read.Content).Should().Be("inside");
        read.Stat.Should().BeEquivalentTo(new { Kind = StorageEntryKind.File, Size = 6L });

        _driver.Read("a/b/file", 6).Status.Should().Be(StorageReadStatus.Read, "the cap is the most bytes read, inclusive");
        _driver.Read("a/b/file", 5).Should().BeEquivalentTo(new { Status = StorageReadStatus.TooLarge, Content = Array.Empty<byte>(), Stat = new { Size = 6L } });
        _driver.Read("empty", 10).Should().BeEquivalentTo(new { Status = StorageReadStatus.Read, Content = Array.Empty<byte>(), Stat = new { Size = 0L } });
        _driver.Read("a/b", 100).Should().BeEquivalentTo(new { Status = StorageReadStatus.NotAFile, Stat = new { Kind = StorageEntryKind.Directory } });
        _driver.Read("a/missing", 100).Status.Should().Be(StorageReadStatus.Missing);
    }

    [Test]
    public async Task Read_OfALargeObject_ReadsOnlyTheCapAndOneByte_ReportingItsWholeSize()
    {
        await _server.PutAsync(_bucket, [new("root/v2/big", new byte[3 << 20])]);
        var before = _driver.Requests;

        var read = _driver.Read("big", 1024);

        read.Should().BeEquivalentTo(new { Status = StorageReadStatus.TooLarge, Stat = new { Size = 3L << 20 } });
        (_driver.Requests - before).Should().Be(1, "one ranged GET says both the size and that it is too large");
    }

    [Test]
    public async Task Delete_RemovesAFolderWithEverythingUnderIt_ButNotASiblingThatSharesItsPrefix()
    {
        _driver.Delete("a/b");
        _driver.Delete("a/c");
        _driver.Delete("a/plain");
        _driver.Delete("a/nothing-there");

        (await _server.KeysAsync(_bucket)).Should().BeEquivalentTo(
            "root/v2/a/bb/sibling", "root/v2/empty", "root/v2x/outside", "elsewhere/precious");
    }

    [Test]
    public async Task PathsThatLeaveTheRoot_AreRefused_AndChangeNothing()
    {
        foreach (var path in new[] { "..", "../v2x/outside", "a/../../elsewhere", "/elsewhere/precious", "a//b", "a/./b", "a/b/" })
        {
            _driver.Invoking(d => d.Delete(path)).Should().Throw<ArgumentException>(path);
            _driver.Invoking(d => d.Read(path, 100)).Should().Throw<ArgumentException>(path);
            _driver.Invoking(d => d.Stat(path)).Should().Throw<ArgumentException>(path);
            _driver.Invoking(d => d.List(path)).Should().Throw<ArgumentException>(path);
            _driver.Invoking(d => d.Move("a/plain", path)).Should().Throw<ArgumentException>(path);
            await _driver.Awaiting(d => d.DeleteManyAsync([path])).Should().ThrowAsync<ArgumentException>(path);
        }

        _driver.Invoking(d => d.Delete(string.Empty)).Should().Throw<StorageRefusedException>("the root is never deleted whole");
        (await _server.KeysAsync(_bucket)).Should().HaveCount(7);
    }

    [Test]
    public async Task Move_CopiesThenDeletes_AFileOrAFolder_NeverOverSomething()
    {
        _driver.Move("a/b", "q/1/b").Should().Be(StorageMoveOutcome.Moved);
        _driver.Move("a/plain", "q/plain").Should().Be(StorageMoveOutcome.Moved);
        _driver.Move("a/missing", "q/missing").Should().Be(StorageMoveOutcome.SourceMissing);
        _driver.Move("a/c", "q/1").Should().Be(StorageMoveOutcome.TargetExists);

        (await _server.KeysAsync(_bucket)).Should().BeEquivalentTo(
            "root/v2/q/1/b/file", "root/v2/q/plain", "root/v2/a/bb/sibling", "root/v2/a/c/d/deep", "root/v2/empty", "root/v2x/outside", "elsewhere/precious");
        Encoding.ASCII.GetString(_driver.Read("q/1/b/file", 100).Content).Should().Be("inside");
    }

    [Test]
    public async Task Move_KeepsEachObjectsTime_AndLeavesASourceWrittenAfterItsCopy_WhereItsWriterPutIt()
    {
        // given a folder of two objects, and a writer that writes one of them again just after the move copied it
        var before = _driver.Stat("a/b/file")!.Value.ModifiedAt;
        await Task.Delay(TimeSpan.FromSeconds(1.1), TimeProvider.System); // the server dates objects in whole seconds
        using var client = _server.CreateClient();
        _driver.Dispose();
        _driver = new S3StorageDriver(new S3StorageOptions
        {
            Bucket = _bucket, RootPrefix = "root/v2", Endpoint = _server.Endpoint, Region = S3Server.Region,
            BeforeWrite = what =>
            {
                if (what == "delete a/c/d/deep")
                {
                    client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = _bucket, Key = "root/v2/a/c/d/deep", ContentBody = "written again", UseChunkEncoding = false })
                        .GetAwaiter().GetResult();
                }

                return true;
            },
        });

        // when both are moved into the driver's own folder (where the quarantine is), and one is moved back out
        _driver.Move("a/b", "_harbor-gc/q/b").Should().Be(StorageMoveOutcome.Moved);
        _driver.Move("a/c", "_harbor-gc/q/c").Should().Be(StorageMoveOutcome.Moved);
        var inside = (_driver.Stat("_harbor-gc/q/b/file")!.Value.ModifiedAt, _driver.Read("_harbor-gc/q/b/file", 100).Stat.ModifiedAt);
        var deepAfter = Encoding.ASCII.GetString(_driver.Read("a/c/d/deep", 100).Content);
        var copied = Encoding.ASCII.GetString(_driver.Read("_harbor-gc/q/c/d/deep", 100).Content);
        var sourceGone = _driver.Stat("a/b/file");
        _driver.Move("_harbor-gc/q/b", "a/b").Should().Be(StorageMoveOutcome.Moved);

        // then the moved copy carries its source's time, as a rename keeps a file's, and the object written after its copy stays
        // where it was written (its delete named the copied version's ETag), while the copy holds the version moved; the object
        // moved back out is dated by its Last-Modified, the time a flat listing gives it
        inside.Should().Be((before, before));
        deepAfter.Should().Be("written again");
        copied.Should().Be("deep");
        sourceGone.Should().BeNull();
        var back = _driver.Stat("a/b/file")!.Value.ModifiedAt;
        back.Should().BeAfter(before);
        _driver.ListTreeAsync("a/b").ToBlockingEnumerable().Single().ModifiedAt.Should().Be(back);
    }

    [Test]
    public async Task TryLock_IsALease_ASecondClaimIsRefused_UntilTheFirstIsReleased()
    {
        var first = _driver.TryLock(string.Empty);
        first.Should().BeAssignableTo<IStorageLease>();
        using var other = Open();
        other.TryLock(string.Empty).Should().BeNull();
        other.LockRefusal.Should().Contain("holds the lease").And.Contain("_harbor-gc/lease/60-");
        (await _server.KeysAsync(_bucket)).Count(k => k.Contains("_harbor-gc/lease/", StringComparison.Ordinal)).Should().Be(1, "the refused claim is withdrawn");

        first!.Dispose();
        using var second = other.TryLock(string.Empty);
        second.Should().NotBeNull();
        ((IStorageLease)second!).ThrowIfLost();
    }

    [Test]
    public async Task ListingAndBatchDelete_PastAThousandKeys_TakeAThousandKeysARequest()
    {
        const int count = 1234;
        var digests = Enumerable.Range(0, count).Select(i => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i))).ToLowerInvariant()).ToList();
        var seed = TimeProvider.System.GetTimestamp();
        await _server.PutAsync(_bucket, digests.Select(d => new KeyValuePair<string, byte[]>($"root/v2/blobs/sha256/{d[..2]}/{d}/data", Encoding.ASCII.GetBytes(d))));
        TestContext.Progress.WriteLine($"seeded {count} objects in {TimeProvider.System.GetElapsedTime(seed).TotalSeconds:0.0} s");
        var expected = digests.Select(d => $"blobs/sha256/{d[..2]}/{d}/data").Order(StringComparer.Ordinal).ToList();

        var before = _driver.Requests;
        var flat = new List<StorageObject>();
        await foreach (var item in _driver.ListTreeAsync("blobs"))
        {
            flat.Add(item);
        }

        flat.Select(o => o.Path).Should().Equal(expected);
        flat.Should().OnlyContain(o => o.Size == 64 && o.HasValidPath);
        (_driver.Requests - before).Should().Be(2, "1,234 keys are two pages of 1,000");

        before = _driver.Requests;
        var sharded = await _driver.ListTreeAsync("blobs/sha256", StorageShards.Hex(2));
        sharded.Select(o => o.Path).Should().Equal(expected);
        (_driver.Requests - before).Should().Be(256, "one request per two-digit prefix");

        before = _driver.Requests;
        _driver.List("blobs/sha256")!.Should().HaveCount(digests.Select(d => d[..2]).Distinct().Count());
        (_driver.Requests - before).Should().Be(1, "at most 256 folders fit one page");

        before = _driver.Requests;
        var failures = await _driver.DeleteManyAsync(expected);
        failures.Should().BeEmpty();
        (_driver.Requests - before).Should().Be(2, "1,234 keys are two DeleteObjects of at most 1,000");
        (await _server.KeysAsync(_bucket)).Should().HaveCount(7);
    }

    [Test]
    public void Throttling_IsRetriedWithBackoff_AndGivenUpAfterTheLastAttempt()
    {
        var throttle = new ThrottlingHandler(throttled: 3);
        using var patient = Open(throttle, maxAttempts: 5);

        patient.List("a")!.Should().HaveCount(4);
        patient.Retries.Should().Be(3);
        throttle.Answered.Should().Be(3);

        var always = new ThrottlingHandler(throttled: int.MaxValue);
        using var impatient = Open(always, maxAttempts: 3);
        impatient.Invoking(d => d.Stat("a/plain")).Should().Throw<AmazonS3Exception>().Which.ErrorCode.Should().Be("SlowDown");
        always.Answered.Should().Be(3);
    }

    private S3StorageDriver Open(HttpMessageHandler? handler = null, int maxAttempts = 8) => new(new S3StorageOptions
    {
        Bucket = _bucket,
        RootPrefix = "root/v2",
        Endpoint = _server.Endpoint,
        Region = S3Server.Region,
        Parallelism = 8,
        MaxAttempts = maxAttempts,
        FirstRetryDelay = TimeSpan.FromMilliseconds(5),
        HttpClientFactory = handler is null ? null : new HandlerFactory(handler),
    });

    /// <summary>Answers the first requests itself with 503 SlowDown, as a throttled S3 does, and passes the rest to the server.</summary>
    private sealed class ThrottlingHandler(int throttled) : DelegatingHandler(new HttpClientHandler())
    {
        private int _answered;

        public int Answered => _answered;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _answered) <= throttled)
            {
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                {
                    Content = new StringContent("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                        Encoding.UTF8, "application/xml"),
                });
            }

            Interlocked.Decrement(ref _answered);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class HandlerFactory(HttpMessageHandler handler) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(handler, disposeHandler: false);

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => true;
    }
}
