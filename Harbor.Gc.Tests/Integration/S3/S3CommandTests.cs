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
