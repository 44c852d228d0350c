using System.Collections.Concurrent;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Collection;

/// <summary>
/// The sweep: executes a plan in the crash-safe order of DESIGN.md §5, re-checking each item against the live store.
/// </summary>
/// <remarks>
/// <para>1. Artifacts, stage by stage (an index before its children, a subject before its hard accessories): each is a
/// compare-and-swap on its version; one that changed is kept, and so is everything that depends on it.</para>
/// <para>2. Blobs, each in two phases: <c>none → delete</c> (only if untouched since the plan), re-check that nothing references
/// it, <c>delete → deleting</c> (fails if a push took it back), delete the bytes, delete the record. A blob an earlier run left
/// in <see cref="BlobStatus.Deleting"/> or later was already re-checked and is finished.</para>
/// <para>3. Layer links, each re-checked by the store; one it keeps is reported as kept.</para>
/// <para>4. Stale uploads, each deleted only if the store finds it unchanged since the plan (an upload that received bytes is
/// kept). They reference nothing and nothing references them, so their place in the order is free; they go last. One that
/// cannot be deleted (permissions, a file in use) is reported as failed and left for the next run.</para>
/// <para>On a store several collectors sweep at once (<see cref="ISharedSweepStore"/>), each blob is claimed first: one another
/// collector holds is left to it (neither deleted nor counted here), and one the plan saw committed to deletion is finished only
/// if it still is (another collector may have finished it, and a push may have uploaded it again since).</para>
/// <para>Stopping (cancellation or the maximum duration) is checked between items; the item in hand always finishes, so a
/// stopped run leaves the store as a crash at that point would, minus the half-done item.</para>
/// <para>A store that defers its deletions (<see cref="IDeferredSweepStore"/>, the Distribution layout's quarantine) only makes each
/// item invisible here; what it finally deletes, puts back or fails to delete is counted from its settlement
/// (<see cref="Apply"/>). An artifact, blob or layer link whose deletion fails or is refused is reported as failed and kept (with
/// everything that goes with it); the run goes on with the other items.</para>
/// </remarks>
internal sealed class PlanExecutor(
    IRegistryStore store, ILogger logger, IProgress<GcProgress>? progress = null, GcMetrics.SweepCounters? counters = null, ISweepClaims? claims = null)
    : ISweepObserver
{
    private const BlobStatusSet CommittedToDeletion = BlobStatusSet.Deleting | BlobStatusSet.Deleted | BlobStatusSet.DeleteFailed;

    private readonly bool _deferred = store is IDeferredSweepStore;
    private readonly ConcurrentQueue<(ArtifactKey, string)> _failedArtifacts = new();
    private readonly ConcurrentQueue<(LayerLink, string)> _failedLayerLinks = new();
    private Dictionary<Digest, long>? _sizes;

    private long _done;
    private long _total;
    private long _step = 1;
    private int _artifactsDeleted;
    private int _blobsDeleted;
    private long _bytesFreed;
    private int _layerLinksDeleted;
    private int _uploadsDeleted;
    private long _uploadBytesFreed;
    private readonly ConcurrentDictionary<ArtifactKey, byte> _keptArtifacts = new();
    private readonly ConcurrentQueue<ArtifactKey> _skippedArtifacts = new();
    private readonly ConcurrentQueue<Digest> _skippedBlobs = new();
    private readonly ConcurrentQueue<(Digest, string)> _failedBlobs = new();
    private readonly ConcurrentQueue<LayerLink> _skippedLayerLinks = new();
    private readonly ConcurrentQueue<BlobUpload> _skippedUploads = new();
    private readonly ConcurrentQueue<(BlobUpload, string)> _failedUploads = new();

    public int ArtifactsDeleted => _artifactsDeleted;

    public int BlobsDeleted => _blobsDeleted;

    public long BytesFreed => _bytesFreed;

    public int LayerLinksDeleted => _layerLinksDeleted;

    public int UploadsDeleted => _uploadsDeleted;

    public long UploadBytesFreed => _uploadBytesFreed;

    public IReadOnlyList<BlobUpload> SkippedUploads => [.. _skippedUploads];

    public IReadOnlyList<(BlobUpload Upload, string Error)> FailedUploads => [.. _failedUploads];

    public IReadOnlyList<ArtifactKey> SkippedArtifacts => [.. _skippedArtifacts];

    public IReadOnlyList<Digest> SkippedBlobs => [.. _skippedBlobs];

    public IReadOnlyList<(Digest Digest, string Error)> FailedBlobs => [.. _failedBlobs];

    public IReadOnlyList<LayerLink> SkippedLayerLinks => [.. _skippedLayerLinks];

    /// <summary>Counts as kept, before the sweep, what a saved plan lists that the live store no longer justifies.</summary>
    public void Keep(PlanApplication application)
    {
        foreach (var (key, why) in application.KeptArtifacts)
        {
            Keep(key, why);
        }

        foreach (var (digest, why) in application.KeptBlobs)
        {
            SkipBlob(digest, why);
        }

        foreach (var (link, why) in application.KeptLayerLinks)
        {
            SkipLayerLink(link, why);
        }

        foreach (var (upload, why) in application.KeptUploads)
        {
            SkipUpload(upload, why);
        }
    }

    public IReadOnlyList<(ArtifactKey Key, string Error)> FailedArtifacts => [.. _failedArtifacts];

    public IReadOnlyList<(LayerLink Link, string Error)> FailedLayerLinks => [.. _failedLayerLinks];

    /// <summary>Counts what a deferring store's settlement deleted, put back and failed to delete.</summary>
    public void Apply(SweepSettlement settlement, CollectionPlan plan)
    {
        foreach (var key in settlement.RestoredArtifacts)
        {
            Keep(key, "something needed it again after the grace period (tagged, listed by an index, or pushed again): put back");
        }

        foreach (var digest in settlement.RestoredBlobs)
        {
            SkipBlob(digest, "a revision references it, or a layer link to it was written, after the plan: put back");
        }

        foreach (var link in settlement.RestoredLayerLinks)
        {
            SkipLayerLink(link, "a revision of its repository uses it, or it was written again, after the plan: put back");
        }

        foreach (var failure in settlement.FailedArtifacts)
        {
            _failedArtifacts.Enqueue(failure);
        }

        foreach (var failure in settlement.FailedBlobs)
        {
            _failedBlobs.Enqueue(failure);
        }

        foreach (var failure in settlement.FailedLayerLinks)
        {
            _failedLayerLinks.Enqueue(failure);
        }

        _sizes ??= plan.Blobs.ToDictionary(b => b.Digest, b => b.Size);
        _artifactsDeleted = settlement.DeletedArtifacts.Count;
        _blobsDeleted = settlement.DeletedBlobs.Count;
        _bytesFreed = settlement.DeletedBlobs.Sum(d => _sizes.GetValueOrDefault(d));
        _layerLinksDeleted = settlement.DeletedLayerLinks;
    }

    /// <inheritdoc />
    void ISweepObserver.ArtifactDeleted(ArtifactKey key) => counters?.ArtifactDeleted();

    /// <inheritdoc />
    void ISweepObserver.BlobDeleted(Digest digest) => counters?.BlobDeleted(_sizes?.GetValueOrDefault(digest) ?? 0);

    /// <inheritdoc />
    void ISweepObserver.LayerLinkDeleted(LayerLink link)
    {
    }

    /// <summary>Runs the sweep; returns false when it stopped before the end.</summary>
    public async Task<bool> ExecuteAsync(CollectionPlan plan, int workers, CancellationToken stop)
    {
        _total = plan.Artifacts.Count + plan.Blobs.Count + plan.LayerLinks.Count + plan.Uploads.Count;
        _sizes = _deferred ? plan.Blobs.GroupBy(b => b.Digest).ToDictionary(g => g.Key, g => g.First().Size) : null;
        _step = Math.Max(1, (_total + 999) / 1000); // rounded up: at most 1,000 reports (1,999 items at a step of 1 were 1,999)
        progress?.Report(new GcProgress(GcPhase.Sweeping, 0, _total));
        var artifacts = plan.Artifacts;
        for (var start = 0; start < artifacts.Count;)
        {
            var end = start;
            while (end < artifacts.Count && artifacts[end].Stage == artifacts[start].Stage)
            {
                end++;
            }

            if (!await ForEachAsync(artifacts, start, end, workers, stop, DeleteArtifactAsync).ConfigureAwait(false))
            {
                return false;
            }

            start = end;
        }

        if (!await ForEachAsync(plan.Blobs, 0, plan.Blobs.Count, workers, stop, DeleteBlobAsync).ConfigureAwait(false))
        {
            return false;
        }

        if (!await ForEachAsync(plan.LayerLinks, 0, plan.LayerLinks.Count, workers, stop, DeleteLayerLinkAsync).ConfigureAwait(false))
        {
            return false;
        }

        return await ForEachAsync(plan.Uploads, 0, plan.Uploads.Count, workers, stop, DeleteUploadAsync).ConfigureAwait(false);
    }

    private async Task DeleteArtifactAsync(PlannedArtifact item)
    {
        foreach (var parent in item.DependsOn)
        {
            if (_keptArtifacts.ContainsKey(parent))
            {
                Keep(item.Key, $"it goes with {parent}, which was kept");
                return;
            }
        }

        ArtifactDeleteOutcome outcome;
        try
        {
            outcome = await store.DeleteArtifactAsync(item.Key, item.Version, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // kept, and so is everything that goes with it; the next run tries again
            _keptArtifacts.TryAdd(item.Key, 0);
            _failedArtifacts.Enqueue((item.Key, e.Message));
            Log.ArtifactDeleteFailed(logger, item.Key, e);
            return;
        }

        switch (outcome)
        {
            case ArtifactDeleteOutcome.Deleted when _deferred:
                break; // out of the registry's sight; counted when the sweep settles
            case ArtifactDeleteOutcome.Deleted:
                Interlocked.Increment(ref _artifactsDeleted);
                counters?.ArtifactDeleted();
                break;
            case ArtifactDeleteOutcome.Changed:
                Keep(item.Key, "it changed since the plan (tagged, pushed again, or listed by a new index)");
                break;
            case ArtifactDeleteOutcome.NotFound:
                break;
        }
    }

    private void Keep(ArtifactKey key, string why)
    {
        _keptArtifacts.TryAdd(key, 0);
        _skippedArtifacts.Enqueue(key);
        Log.ArtifactKept(logger, key, why);
    }

    private async Task DeleteBlobAsync(PlannedBlob item)
    {
        if (claims is null)
        {
            await DeleteBlobCoreAsync(item).ConfigureAwait(false);
            return;
        }

        await using var claim = await claims.TryClaimBlobAsync(item.Digest, CancellationToken.None).ConfigureAwait(false);
        if (claim is null)
        {
            Log.BlobClaimedElsewhere(logger, item.Digest);
            return;
        }

        if (CommittedToDeletion.Contains(item.Status)
            && !await store.TryUpdateBlobStatusAsync(item.Digest, CommittedToDeletion, BlobStatus.Deleting, null, CancellationToken.None).ConfigureAwait(false))
        {
            // another collector finished it since the plan; if it is back, a push uploaded it again
            if (await store.GetBlobAsync(item.Digest, CancellationToken.None).ConfigureAwait(false) is not null)
            {
                SkipBlob(item.Digest, "another collector deleted it after the plan and a push uploaded it again");
            }

            return;
        }

        await DeleteBlobCoreAsync(item).ConfigureAwait(false);
    }

    private async Task DeleteBlobCoreAsync(PlannedBlob item)
    {
        var none = CancellationToken.None;
        if (!CommittedToDeletion.Contains(item.Status))
        {
            // phase 1: mark, only if nobody touched the blob since the plan
            if (!await store.TryUpdateBlobStatusAsync(item.Digest, BlobStatusSet.None | BlobStatusSet.Delete, BlobStatus.Delete, item.LastTouchedAt, none).ConfigureAwait(false))
            {
                if (await store.GetBlobAsync(item.Digest, none).ConfigureAwait(false) is not null)
                {
                    SkipBlob(item.Digest, "it was touched since the plan");
                }

                return;
            }

            if (await store.IsBlobReferencedAsync(item.Digest, none).ConfigureAwait(false))
            {
                await store.TryUpdateBlobStatusAsync(item.Digest, BlobStatusSet.Delete, BlobStatus.None, null, none).ConfigureAwait(false);
                SkipBlob(item.Digest, "an artifact references it");
                return;
            }

            // phase 2: commit; a push that took the blob back in between reset it to none, and this fails
            if (!await store.TryUpdateBlobStatusAsync(item.Digest, BlobStatusSet.Delete, BlobStatus.Deleting, null, none).ConfigureAwait(false))
            {
                SkipBlob(item.Digest, "a push took it back");
                return;
            }
        }

        try
        {
            await store.DeleteBlobContentAsync(item.Digest, none).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            await store.TryUpdateBlobStatusAsync(item.Digest, BlobStatusSet.Deleting | BlobStatusSet.DeleteFailed, BlobStatus.DeleteFailed, null, none).ConfigureAwait(false);
            _failedBlobs.Enqueue((item.Digest, e.Message));
            Log.BlobDeleteFailed(logger, item.Digest, e);
            return;
        }

        await store.DeleteBlobRecordAsync(item.Digest, none).ConfigureAwait(false);
        if (_deferred)
        {
            return; // out of the registry's sight; counted when the sweep settles
        }

        Interlocked.Increment(ref _blobsDeleted);
        Interlocked.Add(ref _bytesFreed, item.Size);
        counters?.BlobDeleted(item.Size);
    }

    private void SkipBlob(Digest digest, string why)
    {
        _skippedBlobs.Enqueue(digest);
        Log.BlobKept(logger, digest, why);
    }

    private async Task DeleteLayerLinkAsync(LayerLink link)
    {
        LayerLinkDeleteOutcome outcome;
        try
        {
            outcome = await store.DeleteLayerLinkAsync(link, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            _failedLayerLinks.Enqueue((link, e.Message));
            Log.LayerLinkDeleteFailed(logger, link.ToString(), e);
            return;
        }

        switch (outcome)
        {
            case LayerLinkDeleteOutcome.Kept:
                SkipLayerLink(link, "it was written again since the plan, or a manifest pushed since references its blob");
                break;
            case LayerLinkDeleteOutcome.Deleted when !_deferred:
                Interlocked.Increment(ref _layerLinksDeleted);
                break;
            default:
                break; // gone already (another collector, an interrupted run), or counted when a deferring store's sweep settles
        }
    }

    private void SkipLayerLink(LayerLink link, string why)
    {
        _skippedLayerLinks.Enqueue(link);
        Log.LayerLinkKept(logger, link.Repository.Value, link.Digest, why);
    }

    private void SkipUpload(BlobUpload upload, string why)
    {
        _skippedUploads.Enqueue(upload);
        Log.UploadKept(logger, upload.ToString(), why);
    }

    private async Task DeleteUploadAsync(BlobUpload upload)
    {
        UploadDeleteOutcome outcome;
        try
        {
            outcome = await store.DeleteUploadAsync(upload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            _failedUploads.Enqueue((upload, e.Message));
            Log.UploadDeleteFailed(logger, upload.ToString(), e);
            return;
        }

        switch (outcome)
        {
            case UploadDeleteOutcome.Deleted:
                Interlocked.Increment(ref _uploadsDeleted);
                Interlocked.Add(ref _uploadBytesFreed, upload.Size);
                counters?.UploadDeleted(upload.Size);
                break;
            case UploadDeleteOutcome.Changed:
                SkipUpload(upload, "it changed since the plan (it received bytes, or was started again)");
                break;
            case UploadDeleteOutcome.NotFound:
                break;
        }
    }

    /// <summary>Counts an item done and reports every thousandth of the plan, and the last item.</summary>
    private void Tick()
    {
        if (progress is not null && Interlocked.Increment(ref _done) is var done && (done % _step == 0 || done == _total))
        {
            progress.Report(new GcProgress(GcPhase.Sweeping, done, _total));
        }
    }

    /// <summary>Runs <paramref name="body"/> over items [start, end) on up to <paramref name="workers"/> workers; false when stopped.</summary>
    private async Task<bool> ForEachAsync<T>(IReadOnlyList<T> items, int start, int end, int workers, CancellationToken stop, Func<T, Task> body)
    {
        var next = start - 1;
        var done = 0;
        async Task Worker()
        {
            while (!stop.IsCancellationRequested)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= end)
                {
                    return;
                }

                await body(items[i]).ConfigureAwait(false);
                Interlocked.Increment(ref done);
                Tick();
            }
        }

        var count = Math.Min(workers, end - start);
        if (count <= 1)
        {
            await Worker().ConfigureAwait(false);
        }
        else
        {
            var tasks = new Task[count];
            for (var w = 0; w < count; w++)
            {
                tasks[w] = Task.Run(Worker, CancellationToken.None);
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }

        return done == end - start;
    }
}
