using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Harbor.Gc.Runner;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The commands beside a plain run, on <c>distribution:s3://</c> (issue 17: <c>explain</c> and <c>--max-duration</c> hold on S3 as
/// on the folder). <c>explain</c> over the bundled sample copied into a bucket says, for every manifest and blob, what it says over
/// the sample's folder; a real run on the registry's bucket that reaches <c>--max-duration</c> while it waits out the grace period
/// exits 3, reports the stop, and puts every object it had moved out of sight back, so the registry serves all it served; the next
/// run collects the garbage.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed partial class S3CommandTests : RegistryIntegrationTest
{
    private const string App = "library/app";

    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync() => S3Registry.CreateAsync();

    [Test]
    public async Task Explain_OnTheSampleInABucket_SaysForEveryManifestAndBlobWhatItSaysOnTheFolder()
    {
        // given the bundled sample registry in its folder, and the same files in a bucket under the rootdirectory "reg"
        var sample = Path.Combine(RepositoryRoot.Find(), "samples", "registry");
        var server = S3Server.Shared;
        var bucket = await server.CopyTreeAsync(sample, "explain");
        var folderStore = $"distribution:{sample}";
        var bucketStore = $"distribution:s3://{bucket}/reg?endpoint={server.Endpoint}&region={S3Server.Region}";
        var digests = Directory.GetFiles(Path.Combine(sample, "docker", "registry", "v2", "blobs"), "data", SearchOption.AllDirectories)
            .Select(f => "sha256:" + Path.GetFileName(Path.GetDirectoryName(f)!)).Order(StringComparer.Ordinal).ToList();
        digests.Should().HaveCountGreaterThan(20);
        string[] references = [.. digests, "library/app:v1", "library/multi:latest", "45365f", "library/app@sha256:0000000000"];

        // when explain runs for each of them on both, at one instant (a window of 0: the bucket's objects are its upload times)
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(1));
        var kept = 0;
        foreach (var reference in references)
        {
            var onFolder = await RunAsync(time, "explain", reference, "--delete-untagged", "true", "--time-window", "0", "--store", folderStore);
            var onBucket = await RunAsync(time, "explain", reference, "--delete-untagged", "true", "--time-window", "0", "--store", bucketStore);

            // then the bucket's answer is the folder's, word for word, exit code included, but for the times: a file's time is the
            // clone's, an object's its upload's
            (onBucket.Code, Timeless(onBucket.Out), Timeless(onBucket.Err.Replace(bucketStore, "STORE", StringComparison.Ordinal)))
                .Should().Be((onFolder.Code, Timeless(onFolder.Out), Timeless(onFolder.Err.Replace(folderStore, "STORE", StringComparison.Ordinal))), reference);
            kept += onFolder.Out.Contains(": kept (", StringComparison.Ordinal) ? 1 : 0;
        }

        kept.Should().BeGreaterThan(10, "most of the sample is live: the comparison covers kept paths, not only 'nothing keeps it'");
    }

    [Test]
    public async Task ARealRun_ReachingMaxDurationWhileWaitingOutTheGracePeriod_Exits3_PutsEverythingBack_AndTheNextRunCollects()
    {
        // given a tagged image, an image its tag moved away from (untagged now) and a blob nothing references, in the bucket
        var v1 = await Push.ImageAsync(App, "v1", """{"v":1}""", ["shared layer", "v1 layer"]);
        var old = await Push.ImageAsync(App, "v2", """{"v":"old"}""", ["shared layer", "old layer"]);
        var v2 = await Push.ImageAsync(App, "v2", """{"v":2}""", ["shared layer", "v2 layer"]);
        var orphan = await Push.BlobAsync(App, "uploaded, never referenced");
        Registry.Stop();
        var before = Objects(await S3Registry.ObjectsAsync(Registry));

        // when a real run (no window) moves the garbage out of sight, then reaches --max-duration 4s inside its 60 s grace period
        var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-s3-stop-{Guid.NewGuid():N}.json");
        try
        {
            var run = RunAsync(Clock, "gc", "--delete-untagged", "true", "--store", StoreSpec, "--time-window", "0",
                "--grace-period", "60s", "--max-duration", "4s", "--report-json", report);
            var outOfSight = false;
            while (!run.IsCompleted && !outOfSight)
            {
                var now = Objects(await S3Registry.ObjectsAsync(Registry));
                outOfSight = now.Any(o => o.Contains("/_harbor-gc/", StringComparison.Ordinal)) && before.Except(now).Any();
            }

            var stopped = await run;
            outOfSight.Should().BeTrue("the run moved the garbage into its quarantine before the stop (else nothing was put back)");

            // then it exits 3, says it stopped while settling, and the bucket holds every object it held (each put back whole)
            stopped.Code.Should().Be(3, stopped.Out + stopped.Err);
            using (var json = JsonDocument.Parse(File.ReadAllBytes(report)))
            {
                var root = json.RootElement;
                (root.GetProperty("outcome").GetString(), root.GetProperty("stopReason").GetString(), root.GetProperty("stoppedWhile").GetString())
                    .Should().Be(("stopped", "max-duration", "settling"));
            }

            Objects(await S3Registry.ObjectsAsync(Registry)).Should().Equal(before, "a run stopped before the grace period ends puts everything back");
        }
        finally
        {
            File.Delete(report);
        }

        // and the restarted registry serves all it served, the moved-away image and the orphan blob included
        await Registry.StartAsync();
        foreach (var image in new[] { v1, old, v2 })
        {
            (await Client.GetManifestAsync(App, image.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK, $"{image.Digest}");
            foreach (var blob in image.Blobs)
            {
                (await Client.GetBlobAsync(App, blob)).Status.Should().Be(HttpStatusCode.OK, $"{blob} of {image.Digest}");
            }
        }

        (await Client.GetBlobAsync(App, orphan)).Status.Should().Be(HttpStatusCode.OK);

        // and the next run, not stopped, collects exactly the garbage: the old image, its own layer, its config and the orphan
        Registry.Stop();
        var gc = await HarborGcAsync("--time-window", "0");
        gc.Artifacts.Should().BeEquivalentTo(new[] { (App, old.Digest, "untagged") });
        gc.Blobs.Should().BeEquivalentTo(new[] { old.Digest, old.Blobs[0], old.Blobs[2], orphan });
        await Registry.StartAsync();
        foreach (var image in new[] { v1, v2 })
        {
            (await Client.GetManifestAsync(App, image.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK, $"{image.Digest}");
            foreach (var blob in image.Blobs)
            {
                (await Client.GetBlobAsync(App, blob)).Status.Should().Be(HttpStatusCode.OK, $"{blob} of {image.Digest}");
            }
        }

        (await Client.GetManifestAsync(App, old.Digest.ToString())).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task ARealRun_WhoseDeleteOfOneRevisionLinkTheServerRefuses_ReportsItsKey_CollectsTheRest_AndExits1()
    {
        // given an untagged image in library/app (its tag moved on) and one in team/tool, beside tagged ones
        var v1 = await Push.ImageAsync(App, "v1", """{"v":1}""", ["shared layer", "v1 layer"]);
        var old = await Push.ImageAsync(App, "v2", """{"v":"old"}""", ["shared layer", "old layer"]);
        var v2 = await Push.ImageAsync(App, "v2", """{"v":2}""", ["shared layer", "v2 layer"]);
        var tool = await Push.ImageAsync("team/tool", null, """{"tool":1}""", ["tool layer"]);
        Registry.Stop();

        // and harbor-gc reaching the server through a proxy that has it refuse every DELETE of the old image's revision link (403)
        var s3 = Registry.S3!;
        var revisionKey = $"{s3.RootDirectory}/docker/registry/v2/repositories/{App}/_manifests/revisions/sha256/{old.Digest.Hex}/link";
        using var proxy = new S3RequestCounter(S3Server.Shared.Endpoint) { Refuse = (method, path) => method == "DELETE" && path == $"/{s3.Bucket}/{revisionKey}" };
        var spec = SpecThrough(proxy);

        // when a real run (no window) collects both
        var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-s3-refused-{Guid.NewGuid():N}.json");
        try
        {
            var run = await RunAsync(Clock, "gc", "--delete-untagged", "true", "--store", spec, "--time-window", "0", "--grace-period", "1s", "--report-json", report);

            // then it exits 1, the report names the refused key, and the run went on: team/tool's image and its blobs are gone
            run.Code.Should().Be(1, run.Out + run.Err);
            proxy.Refused.Should().BeGreaterThan(0);
            await TestContext.Out.WriteLineAsync(run.Out + run.Err);
            File.Exists(report).Should().BeTrue(run.Out + run.Err);
            var text = await File.ReadAllTextAsync(report);
            using var json = JsonDocument.Parse(text);
            json.RootElement.GetProperty("outcome").GetString().Should().NotBe("stopped");
            text.Should().Contain(revisionKey.Replace($"{s3.RootDirectory}/", string.Empty, StringComparison.Ordinal), "the report lists the deletion that failed, with its key");
            var keys = await KeysAsync();
            keys.Should().NotContain(k => k.Contains($"/repositories/team/tool/_manifests/revisions/sha256/{tool.Digest.Hex}/", StringComparison.Ordinal), "the run went on past the refused item");
            var toolLayer = $"/blobs/sha256/{tool.Blobs[1].Hex[..2]}/{tool.Blobs[1].Hex}/";
            keys.Should().NotContain(k => k.Contains(toolLayer, StringComparison.Ordinal), "team/tool's own layer is garbage");
            keys.Should().Contain(revisionKey, "the server refused its delete");
            keys.Should().NotContain(k => k.Contains("/_harbor-gc/", StringComparison.Ordinal), "the run's quarantine is settled");
        }
        finally
        {
            File.Delete(report);
        }

        // and the restarted registry serves the tagged images whole, and the old image, whose revision could not be deleted
        await Registry.StartAsync();
        foreach (var image in new[] { v1, v2, old })
        {
            (await Client.GetManifestAsync(App, image.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK, $"{image.Digest}");
        }

        foreach (var blob in v1.Blobs.Concat(v2.Blobs))
        {
            (await Client.GetBlobAsync(App, blob)).Status.Should().Be(HttpStatusCode.OK, $"{blob}");
        }

        // and the next run, the server answering again, collects the old image
        Registry.Stop();
        var gc = await HarborGcAsync("--time-window", "0");
        gc.Artifacts.Should().BeEquivalentTo(new[] { (App, old.Digest, "untagged") });
    }

    [Test]
    public async Task ARealRun_WhoseDeleteOfOneObjectOfATagFolderTheServerRefuses_PutsBackWhatItHadMoved_SoTheTagStaysWhole()
    {
        // given an untagged image (its tag moved on) signed by cosign: its signature's tag folder holds two objects, the current
        // link and the index entry, which a real run moves out of sight object by object
        var old = await Push.ImageAsync(App, "v1", """{"v":"old"}""", ["old layer"]);
        var signature = await Push.CosignSignatureAsync(old, "old signed");
        await Push.ImageAsync(App, "v1", """{"v":1}""", ["v1 layer"]);
        var tag = $"sha256-{old.Digest.Hex}.sig";
        Registry.Stop();
        var s3 = Registry.S3!;
        var tagFolder = $"{s3.RootDirectory}/docker/registry/v2/repositories/{App}/_manifests/tags/{tag}/";
        var before = (await KeysAsync()).Where(k => k.StartsWith(tagFolder, StringComparison.Ordinal)).ToList();
        before.Should().HaveCount(2);

        // and a proxy that has the server refuse the DELETE of the tag's current link, so the folder's move fails part way
        using var proxy = new S3RequestCounter(S3Server.Shared.Endpoint) { Refuse = (method, path) => method == "DELETE" && path == $"/{s3.Bucket}/{tagFolder}current/link" };
        var spec = SpecThrough(proxy);

        // when a real run (no window) collects the old image with its signature
        var run = await RunAsync(Clock, "gc", "--delete-untagged", "true", "--store", spec, "--time-window", "0", "--grace-period", "1s");

        // then it exits 1 naming the refused object, and both objects of the tag folder are in place again, none in the quarantine
        run.Code.Should().Be(1, run.Out + run.Err);
        proxy.Refused.Should().BeGreaterThan(0);
        (run.Out + run.Err).Should().Contain($"tags/{tag}/current/link");
        var keys = await KeysAsync();
        keys.Where(k => k.StartsWith(tagFolder, StringComparison.Ordinal)).Should().Equal(before, "what the failed move had moved went back");
        keys.Should().NotContain(k => k.Contains("/_harbor-gc/", StringComparison.Ordinal));

        // and the restarted registry serves the signature by its tag (its image went: an image's deletion does not wait for its
        // accessories', as on the folder)
        await Registry.StartAsync();
        (await Client.GetManifestAsync(App, tag)).Status.Should().Be(HttpStatusCode.OK);
        (await Client.GetManifestAsync(App, signature.Digest.ToString())).Status.Should().Be(HttpStatusCode.OK);

        // and the next run, the server answering again, collects the signature left behind
        Registry.Stop();
        var gc = await HarborGcAsync("--time-window", "0");
        gc.Artifacts.Select(a => a.Digest).Should().Contain(signature.Digest);
        (await S3Registry.ObjectsAsync(Registry)).Should().NotContain(o => o.StartsWith(tagFolder, StringComparison.Ordinal));
    }

    [Test]
    public async Task ARealRun_WhoseFinalDeletesFromItsQuarantineTheServerRefuses_ReportsThem_AndTheNextRunFinishes()
    {
        // given an untagged image in team/tool beside a tagged one in library/app
        var v1 = await Push.ImageAsync(App, "v1", """{"v":1}""", ["v1 layer"]);
        var tool = await Push.ImageAsync("team/tool", null, """{"tool":1}""", ["tool layer"]);
        Registry.Stop();

        // and a proxy that has the server refuse every DeleteObjects (POST /BUCKET?delete), with which the run deletes its quarantined
        // items for good after the grace period: the moves out of sight succeed (CopyObject, DeleteObject), the deletions for good
        // do not
        var s3 = Registry.S3!;
        var before = await KeysAsync();
        using var proxy = new S3RequestCounter(S3Server.Shared.Endpoint) { Refuse = (method, path) => method == "POST" && path.TrimEnd('/') == $"/{s3.Bucket}" };
        var spec = SpecThrough(proxy);

        // when a real run (no window) collects it
        var run = await RunAsync(Clock, "gc", "--delete-untagged", "true", "--store", spec, "--time-window", "0", "--grace-period", "1s");

        // then it exits 1 naming the revision it could not delete; that artifact is kept, so settling put it back with the blobs
        // and layer links it needs, and nothing is left in the quarantine: the bucket holds what it held
        run.Code.Should().Be(1, run.Out + run.Err);
        proxy.Refused.Should().BeGreaterThan(0);
        (run.Out + run.Err).Should().Contain($"team/tool/_manifests/revisions/sha256/{tool.Digest.Hex}");
        var keys = await KeysAsync();
        keys.Should().BeEquivalentTo(before);

        // and the next run, the server answering again, collects it: no quarantine is left, and the tagged image pulls whole
        var gc = await HarborGcAsync("--time-window", "0");
        gc.Artifacts.Should().BeEquivalentTo(new[] { ("team/tool", tool.Digest, "untagged") });
        keys = await KeysAsync();
        keys.Should().NotContain(k => k.Contains("/_harbor-gc/", StringComparison.Ordinal) || k.Contains("/repositories/team/tool/_manifests/", StringComparison.Ordinal));
        await Registry.StartAsync();
        (await Client.GetManifestAsync(App, "v1")).Status.Should().Be(HttpStatusCode.OK);
        foreach (var blob in v1.Blobs)
        {
            (await Client.GetBlobAsync(App, blob)).Status.Should().Be(HttpStatusCode.OK);
        }
    }

    /// <summary>The keys in the registry's bucket, sorted.</summary>
    private async Task<List<string>> KeysAsync() => [.. (await S3Registry.ObjectsAsync(Registry)).Select(o => o[..o.IndexOf(' ', StringComparison.Ordinal)])];

    /// <summary>harbor-gc's address of the registry's bucket, reaching the server through <paramref name="proxy"/>.</summary>
    private string SpecThrough(S3RequestCounter proxy)
    {
        var s3 = Registry.S3!;
        return $"distribution:s3://{s3.Bucket}/{s3.RootDirectory}?endpoint={proxy.Endpoint}&region={s3.Region}";
    }

    /// <summary>The text with each time (<c>2026-12-05T21:13:19Z</c>) written as TIME.</summary>
    private static string Timeless(string text) => TimeText().Replace(text, "TIME");

    [GeneratedRegex(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")]
    private static partial Regex TimeText();

    /// <summary>Each object as key, size and ETag: a put-back copy has the bytes' ETag again, and a new Last-Modified.</summary>
    private static List<string> Objects(List<string> listed) => [.. listed.Select(o => o[..o.LastIndexOf(' ')])];

    private static async Task<(int Code, string Out, string Err)> RunAsync(TimeProvider time, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr, time, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
