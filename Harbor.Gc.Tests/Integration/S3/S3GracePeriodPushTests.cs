using System.Globalization;
using System.Net;
using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The grace period's claim on S3 (issue 17; issue 13's guarantee), deterministically: registry requests that checked an item
/// before the real run moved it out of sight and write after it are seen by the re-read after the grace period. The registry
/// reaches the server through a <see cref="HoldingS3Proxy"/>, which holds the chosen requests at their first write. Fails with
/// <c>--grace-period 0s</c>. <see cref="S3PushRaceTests"/> pushes many images during a run, untimed.
/// </summary>
[Category("Integration")]
[Category("S3")]
public sealed class S3GracePeriodPushTests : RegistryIntegrationTest
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    /// <summary>The real run's grace period: <see cref="HeldRequestTime"/> and some seconds of margin.</summary>
    private static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(10);

    /// <summary>How long after the run's last move a held registry request goes on: within the grace period, and longer than a run with none takes to re-read and delete (about a second on an idle machine).</summary>
    private static readonly TimeSpan HeldRequestTime = TimeSpan.FromSeconds(4);

    private HoldingS3Proxy? _proxy;

    private protected override string StoreSpec => S3Registry.StoreSpec(Registry);

    private protected override TimeProvider Clock => S3Registry.Clock;

    private protected override Task<DistributionRegistryProcess> CreateRegistryAsync()
    {
        _proxy = new HoldingS3Proxy(S3Server.Shared.Endpoint);
        return S3Registry.CreateAsync(_proxy.Endpoint);
    }

    [TearDown]
    public void StopProxy()
    {
        _proxy?.Dispose();
        _proxy = null;
    }

    /// <summary>
    /// The grace period's claim, deterministically: a registry request that checked an item before the run moved it out of sight, and
    /// writes after, is seen by the re-read and pulls whole as long as its storage work ends within the grace period (which starts at
    /// the run's last move). A proxy between the registry and the server holds each request's first write until its item was moved,
    /// and goes on <see cref="HeldRequestTime"/> after the run's last move. With <c>--grace-period 0s</c> the re-read runs before they
    /// write, and both pushes are accepted and do not pull (the test fails).
    /// </summary>
    [Test]
    public async Task PushesThatCheckedBeforeTheMoveAndWriteAfterIt_WithinTheGracePeriod_PullWhole()
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var s3 = Registry.S3!;
        var proxy = _proxy!;
        var work = Directory.CreateTempSubdirectory("harbor-gc-s3-held-");
        try
        {
            // given an untagged image in app (its config and layer its own: garbage), another one nothing will reuse, a tagged image in
            // tool, and app's dead layer mounted into tool (a layer link no manifest of tool uses: garbage too)
            var dead = await Push.ImageAsync("app", null, """{"dead":1}""", ["dead layer"]);
            var unused = await Push.ImageAsync("app", null, """{"unused":1}""", ["unused layer"]);
            var live = await Push.ImageAsync("tool", "v1", """{"tool":1}""", ["tool layer"]);
            var layer = dead.Blobs[1];
            await Client.MountBlobAsync("tool", layer, "app");

            // and two pushes reusing the garbage, each held at its first write, after the registry checked what it needs: a re-tag of the
            // dead image (the registry finds its blobs, then writes its revision link, then the tag), and a new image in tool using the
            // dead layer through tool's link (the registry finds config and layer, then writes the manifest's blob, revision link, tag)
            var configBytes = """{"tool":1}"""u8.ToArray();
            var reuse = Encoding.UTF8.GetBytes(
                $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{{Support.Manifests.Descriptor(live.Blobs[0], configBytes.Length, MediaTypes.OciConfig)}},"layers":[{{Support.Manifests.Descriptor(layer, "dead layer".Length, MediaTypes.OciLayerGzip)}}]}""");
            var reuseDigest = Digest.Sha256Of(reuse);
            var v2 = $"{S3Registry.RootDirectory}/docker/registry/v2";
            var revisionKey = $"{v2}/repositories/app/_manifests/revisions/sha256/{dead.Digest.Hex}/link";
            var layerKey = $"{v2}/blobs/sha256/{layer.Hex[..2]}/{layer.Hex}/data";
            var retagHold = proxy.Hold("PUT", s3.Bucket, revisionKey);
            var moves = new MoveWatch(time, $"DELETE /{s3.Bucket}/{v2}/", [$"/{revisionKey} ", $"/{layerKey} "]);
            proxy.RequestSeen += moves.Seen;
            var reuseHold = proxy.Hold("PUT", s3.Bucket, $"{v2}/blobs/sha256/{reuseDigest.Hex[..2]}/{reuseDigest.Hex}/data");
            var retag = Client.PushManifestAsync("app", "again", dead.MediaType, dead.Body);
            var reused = Client.PushManifestAsync("tool", "v2", MediaTypes.OciManifest, reuse);
            await Task.WhenAll(retagHold.Reached, reuseHold.Reached).WaitAsync(TimeSpan.FromSeconds(20), time);
            await Task.Delay(TimeSpan.FromSeconds(2), time); // the server dates objects by the next whole second: a window of 0 must see them as past

            // when a real run collects the bucket (a process of its own), and the held requests go on once it has moved their items out
            // of the registry's sight (the revision link; the layer's data) and HeldRequestTime has passed since its last move
            var report = Path.Combine(work.FullName, "run.json");
            string[] command = ["gc", "--delete-untagged", "true", "--store", StoreSpec, "--time-window", "0", "--grace-period", $"{GracePeriod.TotalSeconds}s",
                "--report-json", report, "--quiet"];
            var runStarted = time.GetTimestamp();
            using var gc = HarborGcProcess.Start(command);
            var releases = ReleaseOnceMovedAsync();
            try
            {
                await gc.WaitAsync(RunTimeout);
            }
            finally
            {
                retagHold.Release();
                reuseHold.Release();
            }

            var ranFor = time.GetElapsedTime(runStarted);
            var moved = await releases;
            gc.Output.Should().BeEmpty("a quiet run prints nothing");

            // then the run succeeded, the registry accepted both pushes, and from a restarted registry both pull whole, as does the
            // tagged image; the garbage nothing reused is gone
            gc.ExitCode.Should().Be(0, gc.Output);
            moved.Should().OnlyContain(m => m != null, $"the run moves both items out of sight (seconds after its start: {string.Join(", ", moved)})");
            (await retag).Should().Be(dead.Digest);
            (await reused).Should().Be(reuseDigest);
            await Registry.RestartAsync();
            var failures = new List<string>();
            await PullAsync("app", "again", dead.Digest, dead.Blobs, failures);
            await PullAsync("tool", "v2", reuseDigest, [live.Blobs[0], layer], failures);
            await PullAsync("tool", "v1", live.Digest, live.Blobs, failures);
            var summary = string.Create(CultureInfo.InvariantCulture,
                $"test {time.GetElapsedTime(started).TotalSeconds:N1} s, run {ranFor.TotalSeconds:N1} s (--grace-period {GracePeriod.TotalSeconds} s); the revision link and the layer left the registry's sight {string.Join(" and ", moved.Select(m => $"{m:N1} s"))} into the run, the held requests wrote {HeldRequestTime.TotalSeconds} s after the run's last move");
            TestContext.Progress.WriteLine(summary);
            failures.Should().BeEmpty($"every push the registry accepted must pull whole ({summary}); {failures.Count} failed pulls:\n{string.Join("\n", failures)}\nobjects of the bucket now:\n{string.Join("\n", await S3Registry.ObjectsAsync(Registry))}\n");
            (await Client.GetManifestAsync("app", unused.Digest.ToString())).Status.Should().Be(HttpStatusCode.NotFound, "the garbage nothing reused is deleted");
            (await Client.GetBlobAsync("app", unused.Blobs[1])).Status.Should().Be(HttpStatusCode.NotFound);

            // once the run has taken both items out of the registry's sight (sent the deletes of the revision link and the layer's
            // data) and then moved nothing for HeldRequestTime (its last move is that long past), lets both requests through; the
            // seconds into the run each item left at, or null when the run ended first
            async Task<double?[]> ReleaseOnceMovedAsync()
            {
                try
                {
                    while (!gc.HasExited && !(moves.AllSeen && moves.SinceLast >= HeldRequestTime))
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(20), time);
                    }

                    return [.. moves.SeenAt.Select(t => t is { } at ? time.GetElapsedTime(runStarted, at).TotalSeconds : (double?)null)];
                }
                finally
                {
                    retagHold.Release();
                    reuseHold.Release();
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The run's moves as the proxy sees them: deletes under the layout (<paramref name="prefix"/>, <c>DELETE /BUCKET/ROOT/</c>)
    /// outside <c>_harbor-gc/</c> are moves out of the registry's sight (the last request of each); when each of the
    /// <paramref name="items"/> was moved, and when the latest move was.
    /// </summary>
    private sealed class MoveWatch(TimeProvider time, string prefix, string[] items)
    {
        private readonly long?[] _seenAt = new long?[items.Length];
        private long _last;

        public IReadOnlyList<long?> SeenAt
        {
            get
            {
                lock (_seenAt)
                {
                    return [.. _seenAt];
                }
            }
        }

        public bool AllSeen => SeenAt.All(t => t is not null);

        public TimeSpan SinceLast => time.GetElapsedTime(Interlocked.Read(ref _last));

        public void Seen(string requestLine)
        {
            if (!requestLine.StartsWith(prefix, StringComparison.Ordinal) || requestLine.Contains("/_harbor-gc/", StringComparison.Ordinal))
            {
                return;
            }

            var now = time.GetTimestamp();
            Interlocked.Exchange(ref _last, now);
            lock (_seenAt)
            {
                for (var i = 0; i < items.Length; i++)
                {
                    if (_seenAt[i] is null && requestLine.Contains(items[i], StringComparison.Ordinal))
                    {
                        _seenAt[i] = now;
                    }
                }
            }
        }
    }

    /// <summary>Pulls a manifest by tag and each of its blobs; adds what does not pull whole (status, or bytes not hashing to the digest).</summary>
    private async Task PullAsync(string repository, string tag, Digest digest, IEnumerable<Digest> blobs, List<string> failures)
    {
        var manifest = await Client.GetManifestAsync(repository, tag);
        if (manifest.Status != HttpStatusCode.OK || Digest.Sha256Of(manifest.Body) != digest)
        {
            failures.Add($"manifest {repository}:{tag} ({digest}): {(int)manifest.Status} {manifest.ErrorCode}");
        }

        foreach (var blob in blobs)
        {
            var response = await Client.GetBlobAsync(repository, blob);
            if (response.Status != HttpStatusCode.OK || Digest.Sha256Of(response.Body) != blob)
            {
                failures.Add($"blob {blob} of {repository} ({repository}:{tag}): {(int)response.Status} {response.ErrorCode}");
            }
        }
    }
}
