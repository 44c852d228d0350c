using System.Collections.Concurrent;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Two registry clients on other threads pushing manifests through <see cref="RegistryApi"/> that reuse the given (garbage) blobs,
/// as clients racing a GC run do: each push uploads its config and layer again (as after a HEAD miss) and one blob of its own, then
/// pushes the manifest by tag; a push that meets a blob being deleted uploads again. They push at least 30 manifests each and go
/// on until <see cref="StopAsync"/>.
/// </summary>
internal sealed class RacingPushers : IDisposable
{
    private readonly CancellationTokenSource _done = new();
    private readonly Task[] _clients;
    private int _retries;

    public RacingPushers(RegistryApi api, IReadOnlyDictionary<Digest, byte[]> contents, Digest[] reused, RepositoryName repository)
    {
        _clients = [.. Enumerable.Range(0, 2).Select(client => Task.Run(async () =>
        {
            var random = new Random(client);
            for (var i = 0; !_done.IsCancellationRequested || i < 30; i++)
            {
                var config = reused[random.Next(reused.Length)];
                var layer = reused[random.Next(reused.Length)];
                var own = Encoding.UTF8.GetBytes($"client {client} push {i}");
                while (true)
                {
                    try
                    {
                        foreach (var digest in new[] { config, layer })
                        {
                            using var stream = new MemoryStream(contents[digest], writable: false);
                            await api.PushBlobAsync(digest, stream);
                        }

                        using (var stream = new MemoryStream(own, writable: false))
                        {
                            await api.PushBlobAsync(Digest.Sha256Of(own), stream);
                        }

                        Pushed.Add(await api.PushManifestAsync(repository, $"c{client}-{i}", Image(config, [layer, Digest.Sha256Of(own)])));
                        break;
                    }
                    catch (BlobBeingDeletedException)
                    {
                        Interlocked.Increment(ref _retries); // the sweep is deleting it right now: upload again, as a client would
                        Thread.Yield();
                    }
                }
            }
        }))];
    }

    /// <summary>Every manifest whose push succeeded.</summary>
    public ConcurrentBag<Artifact> Pushed { get; } = [];

    /// <summary>How many pushes met a blob being deleted and uploaded again.</summary>
    public int Retries => Volatile.Read(ref _retries);

    /// <summary>
    /// A progress for the run the clients race: it holds the sweep at its start (after the plan was made, before the first deletion)
    /// until <paramref name="pushes"/> more manifests than now were pushed, at most a minute. The run's own speed then cannot decide
    /// whether the pushes overlap it: on a fast machine an in-memory run was over before either client's first push (CI, session 19),
    /// and the window a push most needs to be safe in, between the plan and the sweep's re-checks, went untested.
    /// </summary>
    /// <param name="pushes">How many pushes the sweep waits for.</param>
    /// <returns>The progress, for <see cref="GcOptions.Progress"/>.</returns>
    public IProgress<GcProgress> HoldSweepUntilMorePushes(int pushes) => new SweepStartGate(this, Pushed.Count + pushes);

    /// <summary>Tells the clients to stop once each has pushed 30, and waits for them.</summary>
    public async Task StopAsync()
    {
        await _done.CancelAsync();
        await Task.WhenAll(_clients);
    }

    public void Dispose() => _done.Dispose();

    private sealed class SweepStartGate(RacingPushers pushers, int target) : IProgress<GcProgress>
    {
        public void Report(GcProgress value)
        {
            if (value is { Phase: GcPhase.Sweeping, Done: 0 })
            {
                SpinWait.SpinUntil(() => pushers.Pushed.Count >= target, TimeSpan.FromMinutes(1));
            }
        }
    }
}
