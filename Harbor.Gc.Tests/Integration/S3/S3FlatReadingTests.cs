using System.Diagnostics;
using System.Text;
using Amazon.S3.Model;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The Distribution store's flat reading of a bucket (issue 17, <see cref="ListedLayoutDriver"/>): the layout listed in key ranges,
/// link contents known from their ETags, manifests read in parallel; it reads the same tree the per-folder reading and the folder
/// store read, in a few requests per 1,000 objects.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3FlatReadingTests
{
    private const string Root = "reg/docker/registry/v2";

    [Test]
    public async Task ADryRun_OnAGeneratedTree_ListsAboutOneRequestPerThousandObjects_PlusAGetPerManifest_AndPlansWhatTheFolderByFolderReadingPlans()
    {
        // given a generated tree of about a hundred manifests in a bucket
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var stats = new DistributionTreeGenerator(tree, seed: 17) { Repositories = 8, Manifests = 60, BaseLayers = 16 }.Generate();
        var bucket = await server.CopyTreeAsync(tree.Root, "flat");
        var objects = (await server.KeysAsync(bucket)).Count;

        // when a dry run plans on it reading flat, and another reading folder by folder (Distribution 2.8's way)
        var flat = await DryRunAsync(server, bucket, readsFlat: true);
        var perFolder = await DryRunAsync(server, bucket, readsFlat: false);

        // then both plan the same, and the flat one sends at most one listing request per 1,000 objects, one per key range and
        // top-level listing, one GET per manifest and per tag whose current link the ETag does not give, and a few more; the
        // folder-by-folder one sends about one per folder, many times that
        var listing = flat.Listing!;
        var manifests = flat.Snapshot.Artifacts.Select(a => a.Digest).Distinct().Count();
        var bound = (objects / 1000) + listing.Ranges + listing.FolderListings + manifests + 5;
        TestContext.Progress.WriteLine(
            $"{stats.Manifests} manifests, {stats.Tags} tags, {objects} objects, {listing.Ranges} ranges and {listing.FolderListings} folder listings: flat {flat.Requests} requests " +
            $"({listing.KnownLinks} links known by ETag, {listing.LiveReads} GETs) in {flat.Time.TotalSeconds:0.0} s; " +
            $"per folder {perFolder.Requests} requests in {perFolder.Time.TotalSeconds:0.0} s; bound {bound}");
        flat.Plan.Should().BeEquivalentTo(perFolder.Plan, o => o.WithStrictOrdering());
        flat.Full.Artifacts.Should().NotBeEmpty("the generated tree has untagged manifests");
        flat.Snapshot.Should().BeEquivalentTo(perFolder.Snapshot, o => o.WithStrictOrdering(), "the same records, times and problems");
        listing.LiveReads.Should().Be(manifests, "every link's content is known from its ETag: one GET per manifest");
        flat.Requests.Should().BeLessThanOrEqualTo(bound);
        perFolder.Requests.Should().BeGreaterThan(2 * bound, "Distribution's way lists each folder on its own");
    }

    [Test]
    public async Task DamagedLinks_WrittenIntoTheBucket_AreReadWithAGet_AndGiveTheProblemsAndPlanTheFolderGives()
    {
        // given a tree in a folder and the same files in a bucket, where in both a revision link names another manifest, a layer
        // link holds no digest, one tag's current link is not a digest either, and another tag points at a manifest its history
        // (index) does not name
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var (app, _, layers) = tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a", "layer-b");
        var old = tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var other = tree.Image("other", "x", TimeSpan.FromDays(8), "latest", "layer-x");
        var stray = tree.Image("other", "y", TimeSpan.FromDays(7), null, "layer-y");
        tree.Image("broken", "z", TimeSpan.FromDays(6), "bad", "layer-z");
        tree.Image("broken", "w", TimeSpan.FromDays(6), null, "layer-w");
        var damage = new Dictionary<string, string>
        {
            [$"repositories/team/app/_manifests/revisions/sha256/{old.Manifest.Hex}/link"] = app.ToString(),
            [$"repositories/team/app/_layers/sha256/{layers[1].Hex}/link"] = "sha256:not-a-digest",
            ["repositories/broken/_manifests/tags/bad/current/link"] = "latest",
            ["repositories/other/_manifests/tags/latest/current/link"] = stray.Manifest.ToString(),
        };
        foreach (var (path, content) in damage)
        {
            await File.WriteAllTextAsync(Path.Combine(tree.V2, path), content);
        }

        var bucket = await server.CopyTreeAsync(tree.Root, "flat");
        _ = other;

        // when the folder store, the flat reading and the folder-by-folder reading of the bucket plan a dry run
        var onDisk = await DryRunAsync(new DistributionRegistryStore(tree.Root));
        var flat = await DryRunAsync(server, bucket, readsFlat: true);
        var perFolder = await DryRunAsync(server, bucket, readsFlat: false);

        // then the damaged links and the tag are read from the bucket (their ETags name other contents), and every reading
        // reports the same problems (the three damaged links) and plans the same deletions
        flat.Listing!.LiveReads.Should().Be(flat.Snapshot.Artifacts.Select(a => a.Digest).Distinct().Count() + damage.Count,
            "a GET per manifest and per damaged link, none for the links the ETag gives");
        flat.Snapshot.Should().BeEquivalentTo(perFolder.Snapshot, o => o.WithStrictOrdering());
        flat.Plan.Should().BeEquivalentTo(perFolder.Plan, o => o.WithStrictOrdering());
        flat.Snapshot.Problems.Select(p => p.Message).Should().BeEquivalentTo(onDisk.Snapshot.Problems.Select(p => p.Message)).And.HaveCount(3);
        flat.Snapshot.Problems.Should().Contain(p => p.Message.Contains($"the link names {app}, not the folder's {old.Manifest}", StringComparison.Ordinal));
        flat.Snapshot.Tags.Should().Contain(t => t.Name == "latest" && t.Digest == stray.Manifest, "the tag's current link is read, not guessed from its history");
        Keys(flat.Full).Should().BeEquivalentTo(Keys(onDisk.Full));
        Keys(flat.Full).Artifacts.Should().NotBeEmpty();
    }

    [Test]
    public async Task ALinkWrittenByAMultipartUpload_HasNoMd5ETag_AndIsReadWithAGet()
    {
        // given a tree in a bucket whose revision link and layer link were rewritten (same content) by multipart uploads, whose
        // ETag ("…-1") is no MD5 of the bytes
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var (app, _, layers) = tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a");
        tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var bucket = await server.CopyTreeAsync(tree.Root, "flat");
        string[] rewritten = [$"repositories/team/app/_manifests/revisions/sha256/{app.Hex}/link", $"repositories/team/app/_layers/sha256/{layers[0].Hex}/link"];
        using (var client = server.CreateClient())
        {
            foreach (var path in rewritten)
            {
                var key = $"{Root}/{path}";
                var upload = await client.InitiateMultipartUploadAsync(bucket, key);
                using var body = new MemoryStream(Encoding.ASCII.GetBytes(DigestOf(path).ToString()));
                var part = await client.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = key, UploadId = upload.UploadId, PartNumber = 1, InputStream = body, UseChunkEncoding = false });
                await client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = bucket, Key = key, UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)],
                });
                var listed = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = key });
                listed.S3Objects.Should().ContainSingle().Which.ETag.Should().EndWith("-1\"", "a multipart upload's ETag");
            }
        }

        // when the flat reading and the folder-by-folder reading read it
        var flat = await DryRunAsync(server, bucket, readsFlat: true);
        var perFolder = await DryRunAsync(server, bucket, readsFlat: false);

        // then the two links are read with a GET each (besides the manifests), and read as they are
        flat.Listing!.LiveReads.Should().Be(flat.Snapshot.Artifacts.Count + rewritten.Length);
        flat.Snapshot.Should().BeEquivalentTo(perFolder.Snapshot, o => o.WithStrictOrdering());
        flat.Snapshot.Problems.Should().BeEmpty();
        flat.Snapshot.LayerLinks.Should().Contain(l => l.Digest == layers[0]);
        flat.Plan.Should().BeEquivalentTo(perFolder.Plan, o => o.WithStrictOrdering());
        ListedLayoutDriver.Md5OfETag("\"0123456789abcdef0123456789abcdef-1\"").Should().BeNull();
        ListedLayoutDriver.Md5OfETag("\"0123456789abcdef0123456789abcdef\"").Should().HaveCount(16);

        static Digest DigestOf(string linkPath) => Digest.Parse("sha256:" + linkPath.Split('/')[^2]);
    }

    [Test]
    public async Task TheListingsView_AnswersListStatAndFlatListings_AsTheBucketDoes_ForOddNamesAndFolderMarkers()
    {
        // given a bucket whose layout holds names that sort around "/" ("app", "app.x", "app-y"), a folder marker, an empty
        // segment, names beyond ASCII (a private-use character and one above U+FFFF, which sort differently in UTF-16 and UTF-8),
        // stray objects among the blob folders and a folder of more than 1,000 entries
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("view");
        var hex = new string('a', 64);
        string[] paths =
        [
            $"repositories/app/_manifests/revisions/sha256/{hex}/link", "repositories/app.x/_layers/x", "repositories/app-y/x", "repositories/app/",
            "repositories/odd//double", "repositories/\uE000private/x", "repositories/\U0001F600smile/x", "repositories/file", "repositories/b/_uploads/",
            $"blobs/sha256/aa/{hex}/data", "blobs/sha256/zz/junk", "blobs/sha256/0/x", "blobs/sha256/ab", "blobs/sha256/ab/abc/", "blobs/other/x", "blobs/stray",
            .. Enumerable.Range(0, 1003).Select(i => i % 2 == 0 ? $"repositories/many/e{i:0000}" : $"repositories/many/e{i:0000}/x"),
        ];
        await server.PutAsync(bucket, paths.Select(p => new KeyValuePair<string, byte[]>($"{Root}/{p}", p.EndsWith('/') ? [] : Encoding.UTF8.GetBytes(p))), parallelism: 16);
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = Root, Endpoint = server.Endpoint, Region = S3Server.Region });

        // when the view is listed, and every folder and object path in it asked of both
        var view = await ListedLayoutDriver.ListAsync(driver, CancellationToken.None);
        var asked = paths.SelectMany(p => Enumerable.Range(1, p.Split('/').Length).Select(n => string.Join('/', p.Split('/').Take(n))))
            .Where(p => p.Length > 0 && !p.Split('/').Any(s => s.Length == 0)).Distinct().Take(60).Concat(["repositories/many", "repositories", "blobs", "blobs/sha256"]).ToList();

        // then each answers as the bucket does: the same entries in the same order, the same stats, the same flat listings
        foreach (var path in asked)
        {
            view.List(path).Should().BeEquivalentTo(driver.List(path), o => o.WithStrictOrdering(), path);
            view.Stat(path).Should().Be(driver.Stat(path), path);
        }

        foreach (var folder in new[] { "repositories", "blobs", "repositories/many" })
        {
            view.ListTreeAsync(folder).ToBlockingEnumerable().Should().BeEquivalentTo(driver.ListTreeAsync(folder).ToBlockingEnumerable(), o => o.WithStrictOrdering(), folder);
        }

        view.KeyCount.Should().Be(paths.Length);
        view.Read("repositories/file", 100).Content.Should().Equal(driver.Read("repositories/file", 100).Content);
        view.Read($"repositories/app/_manifests/revisions/sha256/{hex}/link", 200).Content.Should().Equal(driver.Read($"repositories/app/_manifests/revisions/sha256/{hex}/link", 200).Content);
        view.KnownLinks.Should().Be(0, "that link does not hold the digest its path names");
    }

    [Test]
    public async Task ASmallTree_IsListedInAHandfulOfRequests_ItsBlobsInOnePage_NotFolderByFolder()
    {
        // given a small generated tree (fewer than 1,000 keys under blobs/, spread over many two-hex folders)
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        new DistributionTreeGenerator(tree, seed: 5) { Repositories = 3, Manifests = 24, BaseLayers = 8 }.Generate();
        var bucket = await server.CopyTreeAsync(tree.Root, "small");
        var keys = await server.KeysAsync(bucket);
        var blobKeys = keys.Count(k => k.StartsWith($"{Root}/blobs/", StringComparison.Ordinal));
        var shards = keys.Where(k => k.StartsWith($"{Root}/blobs/sha256/", StringComparison.Ordinal)).Select(k => k.Split('/')[6]).Distinct().Count();
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = Root, Endpoint = server.Endpoint, Region = S3Server.Region });

        // when the layout is listed
        var view = await ListedLayoutDriver.ListAsync(driver, CancellationToken.None);

        // then blobs/ took one request (its first page was all of it), and the whole listing one more for repositories/'s names,
        // one per repository range and one for the multipart uploads; every key once
        TestContext.Progress.WriteLine($"{blobKeys} blob keys in {shards} two-hex folders, {keys.Count} keys: {driver.Requests} requests, {view.Ranges} ranges");
        blobKeys.Should().BeInRange(100, 999);
        shards.Should().BeGreaterThan(40);
        view.FolderListings.Should().Be(2, "blobs/'s first page and repositories/'s delimiter listing");
        view.Ranges.Should().Be(3, "a range per top-level repository name, none for blobs/");
        driver.Requests.Should().Be(1 + 1 + 3 + 1);
        view.KeyCount.Should().Be(keys.Count).And.Be(view.ListedEntries);
    }

    [Test]
    public async Task ATreeOfMoreThanAThousandBlobKeys_WithOddKeysAtTheFirstPagesEnd_ReadsAndPlansAsFolderByFolder()
    {
        // given a generated tree with more than 1,000 keys under blobs/, and keys no layout rule expects: beside and between the
        // two-hex folders, a marker, another algorithm's blob, a stray folder and file; and around the key that ends blobs/'s first
        // page of 1,000: a key right after it, and a file, a marker and a key of the next two-hex folder's name
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        new DistributionTreeGenerator(tree, seed: 23) { Repositories = 6, Manifests = 200, BaseLayers = 40 }.Generate();
        var bucket = await server.CopyTreeAsync(tree.Root, "large");
        var hex512 = new string('c', 128);
        string[] odd =
        [
            "blobs/sha256/0", "blobs/sha256/00", "blobs/sha256/0a/", "blobs/sha256/0a.x", "blobs/sha256/ff~", "blobs/sha256/g/x", "blobs/sha256/",
            $"blobs/sha512/cc/{hex512}/data", "blobs/sha256zz/x", "blobs/stray", "blobs/other/",
        ];
        await server.PutAsync(bucket, odd.Select(p => new KeyValuePair<string, byte[]>($"{Root}/{p}", p.EndsWith('/') ? [] : Encoding.UTF8.GetBytes(p))), parallelism: 8);
        var blobKeys = (await server.KeysAsync(bucket)).Where(k => k.StartsWith($"{Root}/blobs/", StringComparison.Ordinal)).Order(StoragePaths.KeyOrder).ToList();
        var end = blobKeys[999][(Root.Length + 1)..];
        var shard = end.Split('/')[2];
        var next = (Convert.ToInt32(shard, 16) + 1).ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
        string[] around = [end + "~", $"blobs/sha256/{next}", $"blobs/sha256/{next}/", $"blobs/sha256/{next}/x"];
        await server.PutAsync(bucket, around.Select(p => new KeyValuePair<string, byte[]>($"{Root}/{p}", p.EndsWith('/') ? [] : Encoding.UTF8.GetBytes(p))), parallelism: 4);
        var keys = await server.KeysAsync(bucket);

        // when a dry run plans on it reading flat, and another reading folder by folder
        var flat = await DryRunAsync(server, bucket, readsFlat: true);
        var perFolder = await DryRunAsync(server, bucket, readsFlat: false);

        // then blobs/ was listed past its first page, every key once, and both readings give the same records, problems and plan
        var listing = flat.Listing!;
        TestContext.Progress.WriteLine(
            $"{blobKeys.Count + around.Length} blob keys, the first page ending at {end}; flat {flat.Requests} requests ({listing.Ranges} ranges, " +
            $"{listing.FolderListings} folder listings), per folder {perFolder.Requests}");
        blobKeys.Count.Should().BeGreaterThan(1000);
        listing.FolderListings.Should().Be(5, "blobs/'s first page, the delimiter listings of repositories/, blobs/, blobs/sha256/ and blobs/sha512/");
        listing.KeyCount.Should().Be(keys.Count).And.Be(listing.ListedEntries, "every key listed exactly once");
        flat.Snapshot.Should().BeEquivalentTo(perFolder.Snapshot, o => o.WithStrictOrdering(), "the same records, times and problems");
        flat.Plan.Should().BeEquivalentTo(perFolder.Plan, o => o.WithStrictOrdering());
        flat.Full.Blobs.Should().NotBeEmpty();
    }

    [Test]
    public async Task WhereverBlobsFirstPageEnds_EveryKeyIsListedOnce_AndTheViewAnswersAsTheBucket()
    {
        // given a bucket whose blobs/ holds blobs in a few two-hex folders, markers, files beside and between the folders, keys of
        // other algorithms and other folders
        var server = S3Server.Shared;
        var bucket = await server.CreateBucketAsync("edges");
        var a = new string('a', 62);
        string[] paths =
        [
            "blobs/", "blobs/other/x", "blobs/other/y/z", "blobs/sha256/", "blobs/sha256/0", "blobs/sha256/00", $"blobs/sha256/00/00{a}/data",
            $"blobs/sha256/00/01{a}/data", "blobs/sha256/00.x", "blobs/sha256/0a/", $"blobs/sha256/0a/0a{a}/data", $"blobs/sha256/0a/0a{a}/x/y",
            "blobs/sha256/0a-", "blobs/sha256/0b", $"blobs/sha256/0b/0b{a}/data", "blobs/sha256/g/", "blobs/sha256/g/x", "blobs/sha256/zz",
            "blobs/sha256/ff~", $"blobs/sha256/ff/ff{a}/data", $"blobs/sha512/cc/{new string('c', 128)}/data", "blobs/sha512/x", "blobs/sha256zz/x",
            "blobs/stray", "blobs/~", "repositories/app/x",
        ];
        await server.PutAsync(bucket, paths.Select(p => new KeyValuePair<string, byte[]>($"{Root}/{p}", p.EndsWith('/') ? [] : Encoding.UTF8.GetBytes(p))), parallelism: 8);
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = Root, Endpoint = server.Endpoint, Region = S3Server.Region });
        var truth = (await driver.ListRangesAsync([new StorageKeyRange("blobs/")])).Select(o => o.Path).ToList();
        truth.Should().HaveCount(paths.Length - 1);
        string[] asked = ["blobs", "blobs/sha256", "blobs/sha256/00", "blobs/sha256/0a", "blobs/sha256/0b", "blobs/sha512", "blobs/other", "blobs/sha256/0", "blobs/sha256/ff~"];
        var expected = asked.ToDictionary(p => p, p => (driver.List(p), driver.Stat(p)));

        // when the layout is listed with blobs/'s first page ending at each of its keys in turn (and once holding them all)
        for (var n = 1; n <= truth.Count; n++)
        {
            var view = await ListedLayoutDriver.ListAsync(driver, CancellationToken.None, firstPageKeys: n);

            // then every key under blobs/ is listed exactly once, and the view answers List and Stat as the bucket
            var listed = (await view.ListRangesAsync([new StorageKeyRange("blobs/")])).Select(o => o.Path).ToList();
            listed.Should().Equal(truth, $"the first page ending at {truth[n - 1]}");
            view.ListedEntries.Should().Be(view.KeyCount, $"no key listed twice with the first page ending at {truth[n - 1]}");
            var algorithms = new[] { "blobs/sha256/", "blobs/sha512/" }.Count(f => !ListedLayoutDriver.WhollyBefore(f, truth[n - 1]));
            view.FolderListings.Should().Be(n == truth.Count ? 2 : 3 + algorithms, "the page, repositories/, and past the page blobs/ and the algorithm folders it did not cover");
            foreach (var (path, (list, stat)) in expected)
            {
                view.List(path).Should().BeEquivalentTo(list, o => o.WithStrictOrdering(), path);
                view.Stat(path).Should().Be(stat, path);
            }
        }
    }

    /// <summary>
    /// The figures of DESIGN.md and the report: a dry run reading flat and one reading folder by folder on one generated tree of
    /// <c>HARBOR_GC_S3FLAT_MANIFESTS</c> manifests (1,000 when unset): requests, wall time and the load average around them.
    /// </summary>
    [Test]
    [Explicit("a measurement, minutes long")]
    public async Task Measure_ADryRun_FlatAndFolderByFolder()
    {
        var manifests = int.TryParse(Environment.GetEnvironmentVariable("HARBOR_GC_S3FLAT_MANIFESTS"), out var n) ? n : 1000;
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var stats = new DistributionTreeGenerator(tree, seed: 17) { Repositories = Math.Max(10, manifests / 30), Manifests = manifests, BaseLayers = 100 }.Generate();
        var bucket = await server.CopyTreeAsync(tree.Root, "flat");
        var objects = (await server.KeysAsync(bucket)).Count;
        var flat = await DryRunAsync(server, bucket, readsFlat: true);
        var flatLoad = await File.ReadAllTextAsync("/proc/loadavg");
        var perFolder = await DryRunAsync(server, bucket, readsFlat: false);
        var perFolderLoad = await File.ReadAllTextAsync("/proc/loadavg");
        TestContext.Progress.WriteLine(
            $"{stats.Repositories} repositories, {stats.Manifests} manifests, {stats.Tags} tags, {objects} objects; flat: {flat.Requests} requests " +
            $"({flat.Listing!.Ranges} ranges, {flat.Listing.FolderListings} folder listings, {flat.Listing.KnownLinks} links known by ETag, " +
            $"{flat.Listing.LiveReads} GETs) in {flat.Time.TotalSeconds:0.0} s, load {flatLoad.Trim()}; folder by folder: {perFolder.Requests} " +
            $"requests in {perFolder.Time.TotalSeconds:0.0} s, load {perFolderLoad.Trim()}");
        flat.Plan.Should().BeEquivalentTo(perFolder.Plan, o => o.WithStrictOrdering());
    }

    private static (HashSet<string> Artifacts, HashSet<string> Blobs) Keys(CollectionPlan plan) =>
        ([.. plan.Artifacts.Select(a => $"{a.Key.Repository}@{a.Key.Digest}")], [.. plan.Blobs.Select(b => b.Digest.ToString())]);

    private static async Task<DryRun> DryRunAsync(S3Server server, string bucket, bool readsFlat)
    {
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = Root, Endpoint = server.Endpoint, Region = S3Server.Region });
        var store = new DistributionRegistryStore(driver, $"s3://{bucket}/reg", TimeProvider.System, driver.Parallelism) { ReadsFlat = readsFlat };
        return await DryRunAsync(store, () => driver.Requests);
    }

    /// <summary>
    /// The plan of a dry run collecting untagged artifacts with no time window, the requests it sent and its time; then what the
    /// store's snapshot holds (read once more).
    /// </summary>
    private static async Task<DryRun> DryRunAsync(DistributionRegistryStore store, Func<long>? requests = null)
    {
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var started = Stopwatch.GetTimestamp();
        var plan = await new GarbageCollector(store, clock).PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        var time = Stopwatch.GetElapsedTime(started);
        var sent = requests?.Invoke() ?? 0;
        var listing = store.LastListing;
        var snapshot = new TestStore.CollectingSink();
        await store.ReadSnapshotAsync(snapshot);
        return new DryRun(plan, Stable(plan), snapshot, time, sent, listing);
    }

    /// <summary>The plan without what differs between two runs at different times (when it was made).</summary>
    private static object Stable(CollectionPlan plan) => new { plan.Artifacts, plan.Blobs, plan.LayerLinks, plan.Uploads, plan.Warnings, plan.Summary };

    private sealed record DryRun(CollectionPlan Full, object Plan, TestStore.CollectingSink Snapshot, TimeSpan Time, long Requests, ListedLayoutDriver? Listing);
}
