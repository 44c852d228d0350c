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
