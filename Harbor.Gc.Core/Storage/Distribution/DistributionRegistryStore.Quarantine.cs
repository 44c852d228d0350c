using System.Globalization;
using Harbor.Gc.Collection;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// The quarantine that closes the race with the registry (DESIGN.md §5): what a real run deletes is first renamed into
/// <c>_harbor-gc/quarantine/RUN/N-KIND/PATH</c>, where the registry never looks; after the grace period the tree is read again,
/// what something needs is renamed back, and only the rest is deleted.
/// </summary>
/// <remarks>
/// Why this is enough: every registry request that relies on an object being present checks it and then writes within the request
/// (a manifest push stats its blobs and child manifests, then writes its revision link and tag; an upload or a mount stats the
/// blob, then writes the layer link). A request that checks after the rename finds the object missing and is refused (or, for an
/// upload, brings its own bytes). One that checked before the rename ends within the grace period, and what it wrote is then in
/// the tree (or, if it wrote into a folder already renamed, in the quarantined copy, whose changed time puts it back). Reading the
/// tree after the grace period therefore sees every accepted request that could need a quarantined item.
/// </remarks>
public sealed partial class DistributionRegistryStore
{
    private readonly HashSet<QuarantinedItem> _quarantined = new(ReferenceEqualityComparer.Instance);
    private string? _runFolder;
    private DateTimeOffset _lastMove;
    private IDisposable? _runLock;

    /// <summary>What kind of item a quarantine folder holds (its name ends with it).</summary>
    private enum QuarantineKind
    {
        Tag,
        TagIndex,
        Revision,
        Layer,
        Blob,
    }

    /// <inheritdoc />
    TimeSpan IDeferredSweepStore.GracePeriod => GracePeriod;

    /// <inheritdoc />
    int IDeferredSweepStore.BeginSweep()
    {
        lock (_lock)
        {
            if (_runLock is not null)
            {
                throw new InvalidOperationException("A real run is already going on this store object.");
            }

            // the layout's root folder itself is locked: nothing is written for it
            try
            {
                _runLock = _driver.TryLock(string.Empty);
            }
            catch (NotSupportedException e)
            {
                // a driver without a lock
                throw new InvalidDataException($"{Description}: a real run locks the storage so that two never overlap, and this storage has no lock ({e.Message}); run with --dry-run; nothing was changed.", e);
            }

            _runLock = _runLock ?? throw new InvalidDataException((_driver as S3StorageDriver)?.LockRefusal is { } holder
                ? $"{Description}: {holder}; two runs never overlap; nothing was changed."
                : $"{Description}: another harbor-gc real run holds the lock on '{_driver.Root}' (two runs never overlap); nothing was changed.");
            try
            {
                return Recover();
            }
            catch
            {
                _runLock.Dispose();
                _runLock = null;
                throw;
            }
        }
    }

    /// <inheritdoc />
    void IDeferredSweepStore.EndSweep()
    {
        lock (_lock)
        {
            _runLock?.Dispose();
            _runLock = null;
        }
    }

    /// <inheritdoc />
    int IDeferredSweepStore.Abandon()
    {
        lock (_lock)
        {
            var restored = 0;
            foreach (var item in _quarantined.ToList())
            {
                if (TryPutBack(item))
                {
                    restored++;
                }
            }

            CleanUpRun();
            return restored;
        }
    }

    /// <inheritdoc />
    async Task<SweepSettlement> IDeferredSweepStore.SettleAsync(ISweepObserver observer, IProgress<GcProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(observer);
        List<QuarantinedItem> items;
        DateTimeOffset lastMove;
        lock (_lock)
        {
            items = [.. _quarantined];
            lastMove = _lastMove;
        }

        if (items.Count == 0)
        {
            lock (_lock)
            {
                CleanUpRun();
            }

            return new SweepSettlement();
        }

        progress?.Report(new GcProgress(GcPhase.Settling, 0, items.Count));
        var wait = lastMove + GracePeriod - _time.GetUtcNow();
        try
        {
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            ((IDeferredSweepStore)this).Abandon();
            return new SweepSettlement { Stopped = true };
        }

        lock (_lock)
        {
            try
            {
                return Settle(observer, progress, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // stopped while re-reading the tree, before anything was deleted (the one step of settling that throws when stopped;
                // after it, settling checks the token between items and returns a stopped settlement): as a stop during the wait
                ((IDeferredSweepStore)this).Abandon();
                return new SweepSettlement { Stopped = true };
            }
        }
    }

    /// <summary>Renames an item into this run's quarantine and records it; an item already gone is skipped.</summary>
    private void QuarantineItem(QuarantineKind kind, string original, RepositoryName? repository, Digest digest, string? tag, DateTimeOffset? linkTime)
    {
        _runFolder ??= $"{DistributionLayout.Quarantine}/{_time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}";
        var moved = $"{_runFolder}/{kind}/{original}";
        ThrowIfLeaseLost();
        StorageMoveOutcome outcome;
        try
        {
            outcome = _driver.Move(original, moved);
        }
        catch (IOException) when (_driver is IObjectStorageDriver)
        {
            // an object store moves object by object: a move that failed part way (the server refused one delete, say) may have
            // left copies, or whole objects, in the quarantine, where no settling looks for them. Each goes back now (a copy whose
            // source is still in place is dropped); what cannot go back stays for the next run, which puts a quarantine back first
            TryPutBackFailedMove(original, moved);
            throw;
        }

        switch (outcome)
        {
            case StorageMoveOutcome.Moved:
                _quarantined.Add(new QuarantinedItem(kind, original, moved, repository, digest, tag, linkTime));
                _lastMove = _time.GetUtcNow();
                break;
            case StorageMoveOutcome.SourceMissing:
                break;
            default:
                throw new IOException($"Could not move '{_driver.Describe(original)}' out of the registry's sight: '{_driver.Describe(moved)}' exists.");
        }
    }

    private void TryPutBackFailedMove(string original, string moved)
    {
        try
        {
            PutBackObjects(moved, original);
        }
        catch (IOException)
        {
            // left in the quarantine: the next real run puts it back before it reads
        }
    }

    /// <summary>Puts an item back where it was; if the registry wrote that path again meanwhile, its copy wins and this one goes.</summary>
    /// <returns>Whether the item is out of the quarantine now.</returns>
    private bool TryPutBack(QuarantinedItem item)
    {
        try
        {
            PutBackObjects(item.Moved, item.Original);
            _quarantined.Remove(item);
            return true;
        }
        catch (IOException)
        {
            return false; // left where it is: the next real run puts it back
        }
    }

    /// <summary>
    /// Puts a quarantined item back where it was. On a file system the folder goes back in one rename, unless the registry wrote
    /// that path again meanwhile: then its copy wins and the quarantined one goes. On an object store (DESIGN.md, "S3 storage: real
    /// runs") a move is not atomic, so a crash may have left part of the item at each place: each object goes back on its own
    /// unless something is at its path, and its quarantined copy goes.
    /// </summary>
    private void PutBackObjects(string moved, string original)
    {
        if (_driver is not IObjectStorageDriver objects)
        {
            if (_driver.Move(moved, original) == StorageMoveOutcome.TargetExists)
            {
                _driver.Delete(moved);
            }

            return;
        }

        foreach (var item in objects.ListTreeAsync(moved).ToBlockingEnumerable())
        {
            var target = original + item.Path[moved.Length..];
            if (item.HasValidPath && _driver.Move(item.Path, target) == StorageMoveOutcome.TargetExists)
            {
                _driver.Delete(item.Path);
            }
        }
    }

    /// <summary>Throws when the run's lock is a lease that may be another run's now: nothing more may be moved or deleted.</summary>
    private void ThrowIfLeaseLost() => (_runLock as IStorageLease)?.ThrowIfLost();

    /// <summary>Deletes this run's quarantine folder once it holds no item (only the folders made for them), and forgets the run.</summary>
    private void CleanUpRun()
    {
        if (_runFolder is not null && _quarantined.Count == 0)
        {
            if (!HoldsAFile(_runFolder))
            {
                _driver.Delete(_runFolder);
            }

            DeleteQuarantineIfEmpty();
            _runFolder = null;
        }
    }

    /// <summary>Puts back everything an interrupted run left in the quarantine (every run folder there), before a real run reads.</summary>
    private int Recover()
    {
        var restored = 0;
        foreach (var run in ListQuarantine(DistributionLayout.Quarantine))
        {
            var runFolder = $"{DistributionLayout.Quarantine}/{run.Name}";
            foreach (var entry in ListQuarantine(runFolder))
            {
                // by exact name only: Enum.TryParse also takes "2", " Tag", "tag" with ignoreCase or "Tag, Blob", which no run writes
                if (!Enum.GetNames<QuarantineKind>().Contains(entry.Name, StringComparer.Ordinal) || !Enum.TryParse<QuarantineKind>(entry.Name, out var kind))
                {
                    throw DistributionTreeRefusedException.Create(Description, _driver.Describe($"{runFolder}/{entry.Name}"), "is not a quarantine this project wrote; nothing was changed");
                }

                var kindRoot = $"{runFolder}/{entry.Name}";
                foreach (var original in ItemsIn(kindRoot, kind))
                {
                    PutBackObjects($"{kindRoot}/{original}", original);
                    restored++;
                }
            }

            if (HoldsAFile(runFolder))
            {
                throw DistributionTreeRefusedException.Create(Description, _driver.Describe(runFolder),
                    "holds files outside the shape this project writes a quarantine in; nothing more was changed. Look at it, put back what belongs in the tree, and remove it");
            }

            _driver.Delete(runFolder);
        }

        DeleteQuarantineIfEmpty();
        return restored;
    }

    /// <summary>
    /// The items of one kind in a quarantine folder, as the paths they had: <c>blobs/ALG/XX/HEX</c>, or under
    /// <c>repositories/NAME…</c>: <c>_manifests/revisions/ALG/HEX</c>, <c>_manifests/tags/TAG</c>,
    /// <c>_manifests/tags/TAG/index/ALG/HEX</c>, <c>_layers/ALG/HEX</c>.
    /// </summary>
    private IEnumerable<string> ItemsIn(string kindRoot, QuarantineKind kind)
    {
        IEnumerable<string> Leaves(string relative, int depth)
        {
            if (depth == 0)
            {
                yield return relative;
                yield break;
            }

            foreach (var entry in ListQuarantine($"{kindRoot}/{relative}"))
            {
                foreach (var leaf in Leaves($"{relative}/{entry.Name}", depth - 1))
                {
                    yield return leaf;
                }
            }
        }

        IEnumerable<string> Repositories(string relative)
        {
            foreach (var entry in ListQuarantine($"{kindRoot}/{relative}"))
            {
                var child = $"{relative}/{entry.Name}";
                var items = (entry.Name, kind) switch
                {
                    ("_manifests", QuarantineKind.Revision) => Leaves(child + "/revisions", 2),
                    ("_manifests", QuarantineKind.Tag) => Leaves(child + "/tags", 1),
                    ("_manifests", QuarantineKind.TagIndex) => Leaves(child + "/tags", 1).SelectMany(tag => Leaves(tag + "/index", 2)),
                    ("_layers", QuarantineKind.Layer) => Leaves(child, 2),
                    ("_manifests" or "_layers", _) => [],
                    _ => Repositories(child),
                };
                foreach (var item in items)
                {
                    yield return item;
                }
            }
        }

        return [.. kind == QuarantineKind.Blob ? Leaves("blobs", 3) : Repositories("repositories")];
    }

    /// <summary>Deletes the quarantine folder, and this project's folder, when they hold nothing.</summary>
    private void DeleteQuarantineIfEmpty()
    {
        if (_driver.List(DistributionLayout.Quarantine) is { Count: 0 })
        {
            _driver.Delete(DistributionLayout.Quarantine);
        }

        if (_driver.List(DistributionLayout.Own) is { Count: 0 })
        {
            _driver.Delete(DistributionLayout.Own);
        }
    }

    private bool HoldsAFile(string folder) =>
        (_driver.List(folder) ?? []).Any(e => e.Kind != StorageEntryKind.Directory || HoldsAFile($"{folder}/{e.Name}"));

    private IReadOnlyList<StorageListEntry> ListQuarantine(string folder)
    {
        var entries = _driver.List(folder) ?? [];
        foreach (var entry in entries.Where(e => e.Kind != StorageEntryKind.Directory || !e.HasValidName))
        {
            throw DistributionTreeRefusedException.Create(Description, _driver.Describe($"{folder}/{entry.Name}"),
                "is not a quarantine item this project wrote (a link, a file or a name that is not UTF-8 in its own folder); nothing was changed");
        }

        return entries;
    }

    // ---- settling ----------------------------------------------------------------------------------------------------

    private SweepSettlement Settle(ISweepObserver observer, IProgress<GcProgress>? progress, CancellationToken cancellationToken)
    {
        var live = ReadLiveTree(cancellationToken);
        var infos = new Dictionary<Digest, ManifestInfo?>();
        ManifestInfo? Info(Digest digest)
        {
            if (_manifests.TryGetValue(digest, out var known))
            {
                return known;
            }

            if (!infos.TryGetValue(digest, out var info))
            {
                infos[digest] = info = ReadInfo(digest);
            }

            return info;
        }

        var restore = new HashSet<QuarantinedItem>();
        var revisions = _quarantined.Where(i => i.Kind == QuarantineKind.Revision).ToDictionary(i => new ArtifactKey(i.Repository!.Value, i.Digest));
        var tags = _quarantined.Where(i => i.Kind == QuarantineKind.Tag).ToList();
        var restoredKeys = new HashSet<ArtifactKey>();
        var queue = new Queue<ArtifactKey>();
        void Restore(ArtifactKey key)
        {
            if (revisions.TryGetValue(key, out var item) && restore.Add(item))
            {
                restoredKeys.Add(key);
                queue.Enqueue(key);
            }
        }

        // tags: one the registry wrote again is in the tree (its copy wins); one a write landed in, after the rename, goes back
        var tagTargets = new Dictionary<QuarantinedItem, Digest>();
        foreach (var tag in tags)
        {
            var repository = live.Of(tag.Repository!.Value);
            if (repository.Tags.ContainsKey(tag.Tag!))
            {
                continue; // deleted with the quarantined copy: the tree's is newer
            }

            if (ReadLink(_driver, tag.Moved + "/current/link") is { Problem.Length: 0 } now && (now.Digest != tag.Digest || now.WrittenAt != tag.LinkTime))
            {
                restore.Add(tag);
                tagTargets[tag] = now.Digest;
            }
        }

        // revisions something in the tree needs: a tag, an index listing it, an accessory naming it, or a write into its copy
        var listed = new Dictionary<RepositoryName, HashSet<Digest>>();
        HashSet<Digest> ListedIn(RepositoryName name)
        {
            if (!listed.TryGetValue(name, out var set))
            {
                listed[name] = set = [];
                foreach (var revision in live.Of(name).Revisions)
                {
                    if (Info(revision) is { } info)
                    {
                        set.UnionWith(info.Children);
                        if (info.Subject is { } subject)
                        {
                            set.Add(subject);
                        }
                    }
                }
            }

            return set;
        }

        foreach (var (key, item) in revisions)
        {
            var repository = live.Of(key.Repository);
            var changed = ReadLink(_driver, item.Moved + "/link") is { } link && link.WrittenAt != item.LinkTime;
            if (changed || repository.TagsUnreadable || repository.Tags.ContainsValue(key.Digest) ||
                tagTargets.Any(t => t.Key.Repository == key.Repository && t.Value == key.Digest) || ListedIn(key.Repository).Contains(key.Digest))
            {
                Restore(key);
            }
        }

        // and what those need in turn: an index's children, a subject's accessories
        void Close()
        {
            while (queue.TryDequeue(out var key))
            {
                if (Info(key.Digest) is { } info)
                {
                    foreach (var child in info.Children)
                    {
                        Restore(new ArtifactKey(key.Repository, child));
                    }
                }

                foreach (var other in revisions.Keys.Where(k => k.Repository == key.Repository && !restoredKeys.Contains(k)).ToList())
                {
                    if (Info(other.Digest)?.Subject == key.Digest)
                    {
                        Restore(other);
                    }
                }

                // and its cosign tag-scheme accessories (sha256-<hex>.sig, .att, .sbom), which only their tag links to it
                var scheme = $"{DistributionLayout.Algorithm(key.Digest)}-{key.Digest.Hex}.";
                foreach (var tag in tags.Where(t => t.Repository == key.Repository && t.Tag!.StartsWith(scheme, StringComparison.Ordinal) &&
                    t.Tag[scheme.Length..] is "sig" or "att" or "sbom"))
                {
                    restore.Add(tag);
                    Restore(new ArtifactKey(key.Repository, tagTargets.GetValueOrDefault(tag, tag.Digest)));
                }
            }
        }

        Close();

        // a quarantined tag (or tag history entry) goes back with its revision, or when its revision is still in the tree
        foreach (var item in _quarantined.Where(i => i.Kind is QuarantineKind.Tag or QuarantineKind.TagIndex))
        {
            var key = new ArtifactKey(item.Repository!.Value, tagTargets.GetValueOrDefault(item, item.Digest));
            if (!live.Of(key.Repository).Tags.ContainsKey(item.Tag!) || item.Kind == QuarantineKind.TagIndex)
            {
                if (restoredKeys.Contains(key) || live.Of(key.Repository).Revisions.Contains(key.Digest))
                {
                    restore.Add(item);
                }
            }
        }

        // put the tags and revisions back, then delete the others (tags and history first, then revisions). One whose deletion
        // fails goes back where it was, with everything it needs: it is still there for the registry, so it must stay whole
        var outcome = new SettleOutcome();
        foreach (var item in _quarantined.Where(i => restore.Contains(i) && i.Kind is QuarantineKind.Tag or QuarantineKind.TagIndex or QuarantineKind.Revision).ToList())
        {
            PutBack(item, outcome);
        }

        var stopped = false;
        foreach (var item in _quarantined.Where(i => i.Kind is QuarantineKind.Tag or QuarantineKind.TagIndex).ToList())
        {
            if (cancellationToken.IsCancellationRequested)
            {
                stopped = true;
                break;
            }

            if (!DeleteFromQuarantine(item, observer, outcome, progress))
            {
                PutBack(item, outcome, counted: false);
                Restore(new ArtifactKey(item.Repository!.Value, tagTargets.GetValueOrDefault(item, item.Digest))); // a tag that stays keeps what it names
            }
        }

        Close();

        foreach (var item in _quarantined.Where(i => i.Kind == QuarantineKind.Revision && restore.Contains(i)).ToList())
        {
            PutBack(item, outcome);
        }

        foreach (var item in _quarantined.Where(i => i.Kind == QuarantineKind.Revision).ToList())
        {
            if (stopped || cancellationToken.IsCancellationRequested)
            {
                stopped = true;
                break;
            }

            if (!DeleteFromQuarantine(item, observer, outcome, progress))
            {
                restoredKeys.Add(new ArtifactKey(item.Repository!.Value, item.Digest));
                PutBack(item, outcome, counted: false);
            }
        }

        // blobs and layer links: what the revisions in the tree, those put back and those that could not be deleted reference
        var neededBlobs = new HashSet<Digest>();
        var neededLinks = new HashSet<ArtifactKey>();
        var linksAll = new HashSet<RepositoryName>();
        void Need(RepositoryName repository, Digest digest)
        {
            if (Info(digest) is { } info)
            {
                foreach (var reference in info.References)
                {
                    neededBlobs.Add(reference);
                    neededLinks.Add(new ArtifactKey(repository, reference));
                }

                if (info.Readable)
                {
                    return;
                }
            }

            // a manifest that cannot be read might use any blob its repository links
            linksAll.Add(repository);
            neededBlobs.Add(digest);
        }

        foreach (var (repository, state) in live.Repositories)
        {
            foreach (var digest in state.Revisions)
            {
                Need(repository, digest);
            }
        }

        foreach (var key in restoredKeys)
        {
            Need(key.Repository, key.Digest);
        }

        foreach (var repository in linksAll)
        {
            foreach (var digest in live.Of(repository).LinkTimes.Keys)
            {
                neededBlobs.Add(digest);
            }

            foreach (var item in _quarantined.Where(i => i.Kind == QuarantineKind.Layer && i.Repository == repository))
            {
                neededBlobs.Add(item.Digest);
                neededLinks.Add(new ArtifactKey(repository, item.Digest));
            }
        }

        foreach (var item in _quarantined.Where(i => i.Kind == QuarantineKind.Blob).ToList())
        {
            // also a layer link to it written since the snapshot: an upload or a mount whose manifest may follow
            if (neededBlobs.Contains(item.Digest) || live.Repositories.Any(r => r.Value.LinkTimes.TryGetValue(item.Digest, out var time) &&
                    (!_repositories.TryGetValue(r.Key, out var seen) || !seen.LinkTimes.TryGetValue(item.Digest, out var before) || before != time)))
            {
                PutBack(item, outcome);
            }
        }

        foreach (var item in _quarantined.Where(i => i.Kind == QuarantineKind.Layer).ToList())
        {
            if (neededLinks.Contains(new ArtifactKey(item.Repository!.Value, item.Digest)) ||
                (ReadLink(_driver, item.Moved + "/link") is { } link && link.WrittenAt != item.LinkTime))
            {
                PutBack(item, outcome);
            }
        }

        // then layer links, then blobs
        foreach (var item in _quarantined.OrderBy(i => i.Kind).ToList())
        {
            if (stopped || cancellationToken.IsCancellationRequested)
            {
                stopped = true;
                break;
            }

            if (!DeleteFromQuarantine(item, observer, outcome, progress) && item.Kind == QuarantineKind.Layer)
            {
                PutBack(item, outcome, counted: false);
            }
        }

        if (stopped)
        {
            // stopped between deletions: what is left goes back, so the registry sees the tree whole again
            foreach (var item in _quarantined.ToList())
            {
                TryPutBack(item);
            }
        }

        CleanUpRun();
        return new SweepSettlement
        {
            DeletedArtifacts = outcome.DeletedArtifacts,
            DeletedBlobs = outcome.DeletedBlobs,
            DeletedLayerLinks = outcome.DeletedLinks,
            RestoredArtifacts = outcome.RestoredArtifacts,
            RestoredBlobs = outcome.RestoredBlobs,
            RestoredLayerLinks = outcome.RestoredLinks,
            FailedArtifacts = [.. outcome.Failures.Where(f => f.Item.Kind is not (QuarantineKind.Blob or QuarantineKind.Layer))
                .Select(f => (new ArtifactKey(f.Item.Repository!.Value, f.Item.Digest), f.Error)).DistinctBy(f => f.Item1)],
            FailedBlobs = [.. outcome.Failures.Where(f => f.Item.Kind == QuarantineKind.Blob).Select(f => (f.Item.Digest, f.Error))],
            FailedLayerLinks = [.. outcome.Failures.Where(f => f.Item.Kind == QuarantineKind.Layer)
                .Select(f => (new LayerLink(f.Item.Repository!.Value, f.Item.Digest, f.Item.LinkTime ?? default), f.Error))],
            Stopped = stopped,
        };
    }

    /// <summary>Puts an item back and counts it as put back (unless <paramref name="counted"/> is false: it failed, and is counted so).</summary>
    private void PutBack(QuarantinedItem item, SettleOutcome outcome, bool counted = true)
    {
        if (!TryPutBack(item) || !counted)
        {
            return;
        }

        switch (item.Kind)
        {
            case QuarantineKind.Revision:
                outcome.RestoredArtifacts.Add(new ArtifactKey(item.Repository!.Value, item.Digest));
                break;
            case QuarantineKind.Blob:
                outcome.RestoredBlobs.Add(item.Digest);
                break;
            case QuarantineKind.Layer:
                outcome.RestoredLinks.Add(new LayerLink(item.Repository!.Value, item.Digest, item.LinkTime ?? default));
                break;
        }
    }

    /// <summary>Deletes an item for good; false (and a failure recorded) when that fails or is refused.</summary>
    private bool DeleteFromQuarantine(QuarantinedItem item, ISweepObserver observer, SettleOutcome outcome, IProgress<GcProgress>? progress)
    {
        // a blob or link the registry wrote again meanwhile stays: the quarantined copy goes, and nothing was freed
        var rewritten = item.Kind is QuarantineKind.Blob or QuarantineKind.Layer && _driver.Stat(item.Original) is not null;
        try
        {
            ThrowIfLeaseLost();
            _driver.Delete(item.Moved);
        }
        catch (IOException e)
        {
            outcome.Failures.Add((item, $"{_driver.Describe(item.Original)}: {e.Message}"));
            return false;
        }

        _quarantined.Remove(item);
        switch (item.Kind)
        {
            case QuarantineKind.Revision:
                var key = new ArtifactKey(item.Repository!.Value, item.Digest);
                outcome.DeletedArtifacts.Add(key);
                observer.ArtifactDeleted(key);
                break;
            case QuarantineKind.Blob when rewritten:
                outcome.RestoredBlobs.Add(item.Digest);
                break;
            case QuarantineKind.Blob:
                outcome.DeletedBlobs.Add(item.Digest);
                observer.BlobDeleted(item.Digest);
                break;
            case QuarantineKind.Layer when rewritten:
                outcome.RestoredLinks.Add(new LayerLink(item.Repository!.Value, item.Digest, item.LinkTime ?? default));
                break;
            case QuarantineKind.Layer:
                outcome.DeletedLinks++;
                observer.LayerLinkDeleted(new LayerLink(item.Repository!.Value, item.Digest, item.LinkTime ?? default));
                break;
        }

        progress?.Report(new GcProgress(GcPhase.Settling, ++outcome.Done, outcome.Done + _quarantined.Count));
        return true;
    }

    /// <summary>What settling did, as it goes.</summary>
    private sealed class SettleOutcome
    {
        public List<ArtifactKey> DeletedArtifacts { get; } = [];

        public List<Digest> DeletedBlobs { get; } = [];

        public int DeletedLinks { get; set; }

        public List<ArtifactKey> RestoredArtifacts { get; } = [];

        public List<Digest> RestoredBlobs { get; } = [];

        public List<LayerLink> RestoredLinks { get; } = [];

        public List<(QuarantinedItem Item, string Error)> Failures { get; } = [];

        public long Done { get; set; }
    }

    /// <summary>What a manifest the snapshot did not read says: from its data in the tree, or in the quarantine; null when it has none.</summary>
    private ManifestInfo? ReadInfo(Digest digest)
    {
        var read = _driver.Read(DistributionLayout.BlobData(digest), DistributionLayout.MaxManifestLength);
        if (read.Status == StorageReadStatus.Missing &&
            _quarantined.FirstOrDefault(i => i.Kind == QuarantineKind.Blob && i.Digest == digest) is { } quarantined)
        {
            read = _driver.Read(quarantined.Moved + "/data", DistributionLayout.MaxManifestLength);
        }

        if (read.Status != StorageReadStatus.Read)
        {
            return new ManifestInfo([digest], [], null, Readable: false);
        }

        Artifact artifact;
        try
        {
            artifact = ArtifactReader.Read(RepositoryName.Parse("unknown"), digest, read.Content, null, DateTimeOffset.UnixEpoch);
        }
        catch (ArgumentException)
        {
            return new ManifestInfo([digest], [], null, Readable: false);
        }

        return artifact.Kind == ManifestKind.Unknown
            ? new ManifestInfo([.. artifact.References.Select(r => r.Digest)], [], null, Readable: false)
            : InfoOf(artifact);
    }

    /// <summary>The tree as it is now: each repository's revisions, tags and layer links (with the links' times).</summary>
    private LiveTree ReadLiveTree(CancellationToken cancellationToken)
    {
        var tree = new LiveTree();
        var quarantinedBlobs = _quarantined.Where(i => i.Kind == QuarantineKind.Blob).Select(i => i.Digest).ToHashSet();
        foreach (var repository in Guarded(() => FindRepositories(_driver, cancellationToken)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var state = new LiveRepository();
            var unreadable = (string?)null;
            Guarded(() =>
            {
                state.Revisions.UnionWith(ListDigestFolders(_driver, DistributionLayout.RevisionsRoot(repository), "revision", null));
                foreach (var tag in ReadTags(_driver, repository, null, out unreadable, out _))
                {
                    state.Tags[tag.Name] = tag.Digest;
                }

                state.TagsUnreadable = unreadable is not null;
                foreach (var digest in ListDigestFolders(_driver, DistributionLayout.LayersRoot(repository), "layer link", null))
                {
                    // only the links of quarantined blobs need their time (was one written since the snapshot?)
                    state.LinkTimes[digest] = quarantinedBlobs.Contains(digest) ? ReadLink(_driver, DistributionLayout.LayerLink(repository, digest))?.WrittenAt : null;
                }

                return true;
            });
            tree.Repositories[repository] = state;
        }

        return tree;
    }

    /// <summary>An item out of the registry's sight: what it is, where it was, where it is, and what the sweep saw of it.</summary>
    private sealed record QuarantinedItem(QuarantineKind Kind, string Original, string Moved, RepositoryName? Repository, Digest Digest, string? Tag, DateTimeOffset? LinkTime);

    private sealed class LiveTree
    {
        private static readonly LiveRepository Empty = new();

        public Dictionary<RepositoryName, LiveRepository> Repositories { get; } = [];

        public LiveRepository Of(RepositoryName repository) => Repositories.GetValueOrDefault(repository) ?? Empty;
    }

    private sealed class LiveRepository
    {
        public HashSet<Digest> Revisions { get; } = [];

        public Dictionary<string, Digest> Tags { get; } = new(StringComparer.Ordinal);

        public bool TagsUnreadable { get; set; }

        public Dictionary<Digest, DateTimeOffset?> LinkTimes { get; } = [];
    }
}
