using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The manifest cache of a <c>distribution:s3://</c> store's flat reading (<c>cache=DIR</c>, <see cref="ManifestCache"/>): a second
/// dry run sends no manifest GET and plans what a run without the cache plans; a poisoned entry is ignored and overwritten; the
/// cache never answers for a manifest the listing does not show as it is.
/// </summary>
[TestFixture]
[NonParallelizable]
internal sealed class S3ManifestCacheTests
{
    private const string Root = "reg/docker/registry/v2";

    [Test]
    public async Task ASecondDryRun_WithTheCache_SendsNoManifestGet_AndPlansWhatARunWithoutTheCachePlans()
    {
        // given a generated tree in a bucket, and the plan of a dry run without a cache
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        new DistributionTreeGenerator(tree, seed: 23) { Repositories = 4, Manifests = 30, BaseLayers = 8 }.Generate();
        var bucket = await server.CopyTreeAsync(tree.Root, "cache");
        using var folder = new TempFolder();
        var without = await DryRunAsync(server, bucket, cacheFolder: null);
        var manifests = without.Listing.LiveReads;

        // when two dry runs use a cache in a folder that does not exist yet
        var cacheFolder = Path.Combine(folder.Path, "manifests");
        var first = await DryRunAsync(server, bucket, cacheFolder);
        var second = await DryRunAsync(server, bucket, cacheFolder);

        // then the first reads every manifest from the bucket and keeps it, the second reads none and sends that many fewer requests,
        // and all three plan the same
        manifests.Should().BeGreaterThan(20, "one GET per manifest without a cache");
        first.Listing.LiveReads.Should().Be(manifests);
        first.Cache!.Written.Should().Be(manifests);
        Directory.GetFiles(Path.Combine(cacheFolder, "sha256")).Should().HaveCount((int)manifests).And.OnlyContain(f => !Path.GetFileName(f).StartsWith('.'));
        second.Listing.LiveReads.Should().Be(0, "every manifest comes from the cache");
        second.Cache!.Hits.Should().Be(manifests);
        second.Requests.Should().Be(without.Requests - manifests);
        first.Plan.Should().BeEquivalentTo(without.Plan, o => o.WithStrictOrdering());
        second.Plan.Should().BeEquivalentTo(without.Plan, o => o.WithStrictOrdering());
        without.Full.Artifacts.Should().NotBeEmpty("the generated tree has untagged manifests");
    }

    [Test]
    public async Task APoisonedEntry_OtherBytesALinkAFolderOrAnOversizedFile_IsIgnoredAndOverwritten_AndAManifestTheListingDoesNotShowAsCachedIsNotTakenFromTheCache()
    {
        // given a bucket with tagged and untagged images, and a cache filled by a first dry run
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var images = Enumerable.Range(0, 7).Select(i => tree.Image($"team/app{i % 2}", $"m{i}", TimeSpan.FromDays(3 + i), i % 2 == 0 ? $"v{i}" : null, $"layer-{i}", "base").Manifest).ToList();
        var bucket = await server.CopyTreeAsync(tree.Root, "cache");
        using var folder = new TempFolder();
        var cacheFolder = Path.Combine(folder.Path, "cache");
        (await DryRunAsync(server, bucket, cacheFolder)).Cache!.Written.Should().Be(images.Count);

        // when one entry holds other bytes of the same size, one is a symbolic link to a file holding the right bytes, one is a folder,
        // one is its right bytes followed by more than the manifest cap,
        // one manifest's data is deleted from the bucket and another's rewritten there with other bytes (its entry still the old bytes)
        string Entry(Digest d) => Path.Combine(cacheFolder, "sha256", d.Hex);
        var right = File.ReadAllBytes(Entry(images[0]));
        var other = (byte[])right.Clone();
        other[^2] ^= 0x20;
        File.WriteAllBytes(Entry(images[0]), other);
        var outside = Path.Combine(folder.Path, "outside");
        File.WriteAllBytes(outside, File.ReadAllBytes(Entry(images[1])));
        File.Delete(Entry(images[1]));
        File.CreateSymbolicLink(Entry(images[1]), outside);
        File.Delete(Entry(images[2]));
        Directory.CreateDirectory(Path.Combine(Entry(images[2]), "inner"));
        File.WriteAllBytes(Path.Combine(Entry(images[2]), "inner", "x"), right);
        File.WriteAllBytes(Entry(images[6]), [.. File.ReadAllBytes(Entry(images[6])), .. new byte[DistributionLayout.MaxManifestLength]]);
        using (var client = server.CreateClient())
        {
            await client.DeleteObjectAsync(bucket, $"{Root}/{DistributionLayout.BlobData(images[3])}");
        }

        await server.PutAsync(bucket, [new KeyValuePair<string, byte[]>($"{Root}/{DistributionLayout.BlobData(images[4])}", "{\"schemaVersion\":2,\"rewritten\":true}"u8.ToArray())], parallelism: 1);

        var without = await DryRunAsync(server, bucket, cacheFolder: null);
        var poisoned = await DryRunAsync(server, bucket, cacheFolder);
        var again = await DryRunAsync(server, bucket, cacheFolder);

        // then the poisoned entries and the rewritten manifest are read from the bucket, the missing one is not answered from the cache,
        // the plan is the one without a cache, and the entries now hold the right bytes as regular files (the link's target untouched)
        poisoned.Plan.Should().BeEquivalentTo(without.Plan, o => o.WithStrictOrdering());
        again.Plan.Should().BeEquivalentTo(without.Plan, o => o.WithStrictOrdering());
        poisoned.Listing.LiveReads.Should().Be(5, "four poisoned entries and the rewritten manifest; the deleted one is answered from the listing");
        poisoned.Cache!.Hits.Should().Be(1, "only the untouched entry");
        poisoned.Cache.Written.Should().Be(4, "the rewritten manifest's bytes do not hash to its digest and are not kept");
        again.Listing.LiveReads.Should().Be(1, "only the rewritten manifest, whose bucket bytes are not cached");
        foreach (var digest in images.Take(3).Append(images[6]))
        {
            var info = new FileInfo(Entry(digest));
            info.Exists.Should().BeTrue(digest.ToString());
            info.LinkTarget.Should().BeNull();
            Digest.Sha256Of(File.ReadAllBytes(Entry(digest))).Should().Be(digest);
        }

        File.ReadAllBytes(outside).Should().Equal(File.ReadAllBytes(Entry(images[1])), "the link was replaced, its target not written");
    }

    [Test]
    public void ACacheFolderThatIsAFile_OrWhoseShaFolderIsALink_IsRefused_AndAMissingOneIsMade()
    {
        using var folder = new TempFolder();
        var file = Path.Combine(folder.Path, "file");
        File.WriteAllText(file, "x");
        var missing = Path.Combine(folder.Path, "a", "b");
        var linked = Path.Combine(folder.Path, "linked");
        Directory.CreateDirectory(linked);
        File.CreateSymbolicLink(Path.Combine(linked, "sha256"), Path.Combine(folder.Path, "a"));

        using (ManifestCache.Open(missing))
        {
            Directory.Exists(Path.Combine(missing, "sha256")).Should().BeTrue();
        }

        FluentActions.Invoking(() => ManifestCache.Open(file)).Should().Throw<IOException>().WithMessage("*is a file*");
        FluentActions.Invoking(() => ManifestCache.Open(linked)).Should().Throw<IOException>().WithMessage("*not a folder*");
    }

    [Test]
    public async Task Gc_WithCacheInTheAddress_MakesTheFolder_FillsIt_AndPlansAsWithout_AndAFileThereExitsWith2()
    {
        // given a tree in a bucket and a cache folder that does not exist
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        tree.Image("team/app", "v1", TimeSpan.FromDays(3), "v1", "layer-a");
        tree.Image("team/app", "old", TimeSpan.FromDays(9), null, "layer-old");
        var bucket = await server.CopyTreeAsync(tree.Root, "cache");
        using var folder = new TempFolder();
        var cacheFolder = Path.Combine(folder.Path, "new", "cache");
        var spec = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";
        var file = Path.Combine(folder.Path, "file");
        await File.WriteAllTextAsync(file, "x");

        // when harbor-gc plans without a cache, twice with one, and once with a file as the cache
        var without = await RunAsync("gc", "--store", spec, "--delete-untagged", "--dry-run", "--time-window", "0s");
        var first = await RunAsync("gc", "--store", $"{spec}&cache={Uri.EscapeDataString(cacheFolder)}", "--delete-untagged", "--dry-run", "--time-window", "0s");
        var second = await RunAsync("gc", "--store", $"{spec}&cache={Uri.EscapeDataString(cacheFolder)}", "--delete-untagged", "--dry-run", "--time-window", "0s");
        var refused = await RunAsync("gc", "--store", $"{spec}&cache={Uri.EscapeDataString(file)}", "--delete-untagged", "--dry-run", "--time-window", "0s");

        // then the folder is made and holds both manifests, the plans agree, and the file is refused before anything is read
        without.Code.Should().Be(0, without.Err);
        first.Code.Should().Be(0, first.Err);
        second.Code.Should().Be(0, second.Err);
        Directory.GetFiles(Path.Combine(cacheFolder, "sha256")).Should().HaveCount(2);
        Eligible(first.Out).Should().Be(Eligible(without.Out)).And.NotStartWith("0 blobs", "the untagged image is eligible");
        Eligible(second.Out).Should().Be(Eligible(without.Out));
        refused.Code.Should().Be(2, refused.Err);
        refused.Err.Should().Contain("cache= takes a folder").And.Contain("is a file");

        static string Eligible(string output) => output.Split('\n').Single(l => l.Contains("eligible for deletion", StringComparison.Ordinal)).Trim();
    }

    [Test]
    public async Task AfterACompletedSnapshot_CollectedManifestsEntriesAndOldTemporaryFilesAreRemoved_LinksThemselvesNotTheirTargets_AndNothingElse()
    {
        // given a bucket of seven images and a cache filled by a first dry run
        var server = S3Server.Shared;
        using var tree = new DistributionTree(TimeProvider.System.GetUtcNow());
        var images = Enumerable.Range(0, 7).Select(i => tree.Image($"team/app{i % 2}", $"m{i}", TimeSpan.FromDays(3 + i), i % 2 == 0 ? $"v{i}" : null, $"layer-{i}", "base").Manifest).ToList();
        var bucket = await server.CopyTreeAsync(tree.Root, "prune");
        using var folder = new TempFolder();
        var cacheFolder = Path.Combine(folder.Path, "cache");
        var sha = Path.Combine(cacheFolder, "sha256");
        (await DryRunAsync(server, bucket, cacheFolder)).Cache!.Written.Should().Be(images.Count);
        string Entry(Digest d) => Path.Combine(sha, d.Hex);
        var old = DateTime.UtcNow.AddHours(-2);

        // when two manifests are collected from the bucket (their data deleted), one of whose entries is a link to a file outside the
        // cache; the cache holds an old temporary file, an old temporary name that is a link to a file outside, a temporary file
        // just written (a concurrent run's), the entry of a manifest this bucket never had, and names that are neither an entry nor a
        // temporary file, or a folder at an entry's name, all old
        var outside = Path.Combine(folder.Path, "outside");
        var outsideBytes = File.ReadAllBytes(Entry(images[5]));
        File.WriteAllBytes(outside, outsideBytes);
        File.Delete(Entry(images[5]));
        File.CreateSymbolicLink(Entry(images[5]), outside);
        var outsideTemp = Path.Combine(folder.Path, "outside-temp");
        File.WriteAllText(outsideTemp, "kept");
        var foreign = Digest.Sha256Of("{\"schemaVersion\":2,\"elsewhere\":true}"u8.ToArray());
        var stray = Digest.Sha256Of("a folder"u8.ToArray());
        string Temp(Digest d) => Path.Combine(sha, $".{d.Hex}.{Guid.NewGuid():N}.tmp");
        var oldTemp = Temp(images[0]);
        var oldTempLink = Temp(images[1]);
        var youngTemp = Temp(images[2]);
        File.WriteAllText(oldTemp, "half");
        File.CreateSymbolicLink(oldTempLink, outsideTemp);
        File.WriteAllText(youngTemp, "being written");
        File.WriteAllText(Entry(foreign), "{\"schemaVersion\":2,\"elsewhere\":true}");
        string[] others = [Path.Combine(sha, "README"), Path.Combine(sha, $".{images[0].Hex}.tmp"), Path.Combine(sha, images[4].Hex.ToUpperInvariant()), Path.Combine(sha, images[3].Hex + ".bak")];
        foreach (var other in others)
        {
            File.WriteAllText(other, "other");
        }

        Directory.CreateDirectory(Path.Combine(Entry(stray), "inner"));
        foreach (var path in new[] { oldTemp, Entry(foreign) }.Concat(others))
        {
            File.SetLastWriteTimeUtc(path, old);
        }

        Touch(oldTempLink, old);
        File.SetLastWriteTimeUtc(outsideTemp, DateTime.UtcNow);
        using (var client = server.CreateClient())
        {
            await client.DeleteObjectAsync(bucket, $"{Root}/{DistributionLayout.BlobData(images[3])}");
            await client.DeleteObjectAsync(bucket, $"{Root}/{DistributionLayout.BlobData(images[5])}");
        }

        var next = await DryRunAsync(server, bucket, cacheFolder);

        // then the entries of the two collected manifests and of the foreign one are gone (the link itself, its target intact), as are
        // the two old temporary names (the link itself); the young temporary file, the other names, the folder and the entries of
        // the manifests still listed are all there
        next.Cache!.Removed.Should().Be(3);
        next.Cache.RemovedTemporary.Should().Be(2);
        foreach (var gone in new[] { Entry(images[3]), Entry(images[5]), Entry(foreign), oldTemp, oldTempLink })
        {
            Path.Exists(gone).Should().BeFalse(gone);
            new FileInfo(gone).LinkTarget.Should().BeNull(gone);
        }

        File.ReadAllBytes(outside).Should().Equal(outsideBytes, "a link is removed, never its target");
        File.ReadAllText(outsideTemp).Should().Be("kept");
        File.ReadAllText(youngTemp).Should().Be("being written", "a concurrent run's fresh temporary file is not disturbed");
        others.Should().OnlyContain(p => File.Exists(p));
        Directory.Exists(Path.Combine(Entry(stray), "inner")).Should().BeTrue("a folder is left");
        foreach (var kept in images.Where((_, i) => i is not (3 or 5)))
        {
            Digest.Sha256Of(File.ReadAllBytes(Entry(kept))).Should().Be(kept);
        }

        // and a run whose snapshot fails part way (the bucket gone) removes nothing
        File.WriteAllText(oldTemp, "half");
        File.SetLastWriteTimeUtc(oldTemp, old);
        using (var client = server.CreateClient())
        {
            foreach (var key in await server.KeysAsync(bucket))
            {
                await client.DeleteObjectAsync(bucket, key);
            }

            await client.DeleteBucketAsync(bucket);
        }

        var failed = await FluentActions.Awaiting(() => DryRunAsync(server, bucket, cacheFolder)).Should().ThrowAsync<Exception>();
        File.Exists(oldTemp).Should().BeTrue("nothing is removed after a snapshot that did not complete");
        Directory.GetFiles(sha).Count(f => Path.GetFileName(f) is { Length: 64 } name && name.All(char.IsAsciiHexDigitLower)).Should().Be(5);
        _ = failed;

        static void Touch(string link, DateTime time)
        {
            // the link's own time (touch -h: lutimes), not its target's
            using var touch = System.Diagnostics.Process.Start("touch", ["-h", "-d", time.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC", link])!;
            touch.WaitForExit();
            touch.ExitCode.Should().Be(0);
        }
    }

    [Test]
    public void ATemporaryFileRemovedByAConcurrentPrune_FailsOnlyThatWrite_AndAYoungOneIsLeftByIt()
    {
        // given a cache, and a second handle on the same folder (another run) that prunes while the first writes an entry
        using var folder = new TempFolder();
        using var cache = ManifestCache.Open(folder.Path);
        using var other = ManifestCache.Open(folder.Path);
        var bytes = "{\"schemaVersion\":2}"u8.ToArray();
        var digest = Digest.Sha256Of(bytes);
        var entry = Path.Combine(folder.Path, "sha256", digest.Hex);

        // when the other prunes with the writer's temporary file as it is (just written), the write goes through
        cache.OnTemporaryWritten = _ => other.Prune(_ => true, DateTimeOffset.UtcNow - ManifestCache.TemporaryAge);
        cache.TryWrite(digest, bytes).Should().BeTrue("a young temporary file is left alone");
        File.ReadAllBytes(entry).Should().Equal(bytes);
        File.Delete(entry);

        // and when the temporary file looks old to it (or any other reason removes it), the write fails quietly: no entry, no error
        cache.OnTemporaryWritten = path =>
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-2));
            other.Prune(_ => true, DateTimeOffset.UtcNow - ManifestCache.TemporaryAge);
        };
        cache.TryWrite(digest, bytes).Should().BeFalse();
        other.RemovedTemporary.Should().Be(1);
        File.Exists(entry).Should().BeFalse();
        Directory.GetFiles(Path.Combine(folder.Path, "sha256")).Should().BeEmpty();
        cache.OnTemporaryWritten = null;
        cache.TryWrite(digest, bytes).Should().BeTrue();
        cache.TryRead(digest, bytes.Length).Should().Equal(bytes);
    }

    /// <summary>harbor-gc at a clock a minute after now (the bucket's objects are dated by the server).</summary>
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var code = await Harbor.Gc.Runner.Program.RunAsync(args, stdout, stderr, clock, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The plan of a dry run collecting untagged artifacts with no time window, reading flat with or without a cache, and the requests it sent.</summary>
    private static async Task<DryRun> DryRunAsync(S3Server server, string bucket, string? cacheFolder)
    {
        using var driver = new S3StorageDriver(new S3StorageOptions { Bucket = bucket, RootPrefix = Root, Endpoint = server.Endpoint, Region = S3Server.Region });
        var cache = cacheFolder is null ? null : ManifestCache.Open(cacheFolder);
        using var store = new DistributionRegistryStore(driver, $"s3://{bucket}/reg", TimeProvider.System, driver.Parallelism) { ManifestCache = cache };
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var plan = await new GarbageCollector(store, clock).PlanAsync(new GcOptions { DryRun = true, DeleteUntagged = true, TimeWindow = TimeSpan.Zero });
        return new DryRun(plan, new { plan.Artifacts, plan.Blobs, plan.LayerLinks, plan.Uploads, plan.Warnings, plan.Summary }, driver.Requests, store.LastListing!, cache);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("harbor-gc-cache-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    private sealed record DryRun(CollectionPlan Full, object Plan, long Requests, ListedLayoutDriver Listing, ManifestCache? Cache);
}
