using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>The sweep's steps: each re-checks its item and moves it out of the registry's sight (see the quarantine).</summary>
public sealed partial class DistributionRegistryStore
{
    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            var (repository, digest) = (key.Repository, key.Digest);
            if (ReadLink(_driver, DistributionLayout.RevisionLink(repository, digest)) is not { } revision)
            {
                return ValueTask.FromResult(ArtifactDeleteOutcome.NotFound);
            }

            var tags = ReadTags(_driver, repository, null, out _, out _, checkLinks: false);
            if (VersionOf(revision.WrittenAt.UtcDateTime, digest, tags) != expectedVersion)
            {
                return ValueTask.FromResult(ArtifactDeleteOutcome.Changed);
            }

            // tags first, then the revision: a run killed in between leaves an untagged revision, which the next run collects
            foreach (var tag in tags.Where(t => t.Digest == digest))
            {
                QuarantineItem(QuarantineKind.Tag, DistributionLayout.Tag(repository, tag.Name), repository, digest, tag.Name, tag.PushedAt);
            }

            foreach (var entry in _driver.List(DistributionLayout.Tags(repository)) ?? [])
            {
                if (entry.Kind == StorageEntryKind.Directory && entry.HasValidName && TagName.Validate(entry.Name) is null &&
                    _driver.Stat(DistributionLayout.TagIndexEntry(repository, entry.Name, digest)) is { Kind: StorageEntryKind.Directory })
                {
                    QuarantineItem(QuarantineKind.TagIndex, DistributionLayout.TagIndexEntry(repository, entry.Name, digest), repository, digest, entry.Name, null);
                }
            }

            QuarantineItem(QuarantineKind.Revision, DistributionLayout.Revision(repository, digest), repository, digest, null, revision.WrittenAt);
            return ValueTask.FromResult(ArtifactDeleteOutcome.Deleted);
        }
    }

    /// <inheritdoc />
    public ValueTask<Blob?> GetBlobAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return ValueTask.FromResult(ReadBlob(digest));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryUpdateBlobStatusAsync(Digest digest, BlobStatusSet expected, BlobStatus next, DateTimeOffset? lastTouchedAt, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (ReadBlob(digest) is not { } blob || !expected.Contains(blob.Status) ||
                (lastTouchedAt is { } touched && blob.LastTouchedAt > touched))
            {
                return ValueTask.FromResult(false);
            }

            _status[digest] = next;
            return ValueTask.FromResult(true);
        }
    }

    /// <summary>
    /// Whether a revision the snapshot saw referencing the blob is still there (one the sweep kept because it changed). What was
    /// written since the snapshot is found by settling, after the grace period, when nothing in flight can still add to it.
    /// </summary>
    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return ValueTask.FromResult(HasPresentReferrer(digest, null));
        }
    }

    /// <summary>Moves the blob's folder out of the registry's sight; settling deletes it, or puts it back.</summary>
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            var data = _driver.Stat(DistributionLayout.BlobData(digest));
            QuarantineItem(QuarantineKind.Blob, DistributionLayout.BlobFolder(digest), null, digest, null, data?.ModifiedAt);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            _status.Remove(digest); // the folder went with the content; this layout has no record apart from it
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<LayerLinkDeleteOutcome> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (ReadLink(_driver, DistributionLayout.LayerLink(link.Repository, link.Digest)) is not { } file)
            {
                return ValueTask.FromResult(LayerLinkDeleteOutcome.NotFound);
            }

            // written again since the plan (a mount or an upload), or used by a revision of its repository that the sweep kept
            if (file.WrittenAt != link.CreatedAt || HasPresentReferrer(link.Digest, link.Repository))
            {
                return ValueTask.FromResult(LayerLinkDeleteOutcome.Kept);
            }

            QuarantineItem(QuarantineKind.Layer, DistributionLayout.Layer(link.Repository, link.Digest), link.Repository, link.Digest, null, file.WrittenAt);
            return ValueTask.FromResult(LayerLinkDeleteOutcome.Deleted);
        }
    }

    /// <inheritdoc />
    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        cancellationToken.ThrowIfCancellationRequested();
        if (upload.Repository is not { } repository)
        {
            return ValueTask.FromResult(DeleteCopyUpload(upload)); // an unfinished multipart copy into the quarantine, or none of this layout's
        }

        var folder = DistributionLayout.Upload(repository, upload.Id); // a bad id throws here, before anything is touched

        // uploads share no state with the rest of the sweep: no lock, so workers delete them in parallel. An upload the registry
        // could still resume changes its size or times when it does; one unchanged for the whole time window is abandoned
        if (ReadUpload(_driver, repository, upload.Id, out _) is not { } current)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.NotFound);
        }

        if (current != upload)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.Changed); // bytes arrived, or the folder was written, since the plan
        }

        ThrowIfLeaseLost();
        if (_driver is IObjectStorageDriver objects)
        {
            // its bytes first: a crash after this leaves a folder the next run deletes, never parts no listing of objects finds
            foreach (var multipart in objects.ListMultipartUploads(folder + "/data").Where(u => u.Path == folder + "/data"))
            {
                objects.AbortMultipartUpload(multipart);
            }
        }

        _driver.Delete(folder);
        return ValueTask.FromResult(UploadDeleteOutcome.Deleted);
    }

    /// <summary>
    /// Whether a revision the snapshot saw referencing <paramref name="digest"/> (in <paramref name="repository"/>, or in any when
    /// null) is still in place.
    /// </summary>
    private bool HasPresentReferrer(Digest digest, RepositoryName? repository)
    {
        _referrers ??= BuildReferrers();
        return _referrers.TryGetValue(digest, out var referrers) &&
            referrers.Any(k => (repository is null || k.Repository == repository) &&
                _driver.Stat(DistributionLayout.RevisionLink(k.Repository, k.Digest)) is { Kind: StorageEntryKind.File });
    }

    private Dictionary<Digest, List<ArtifactKey>> BuildReferrers()
    {
        var referrers = new Dictionary<Digest, List<ArtifactKey>>();
        foreach (var artifact in _repositories.Values.SelectMany(s => s.Artifacts))
        {
            foreach (var reference in artifact.References)
            {
                if (!referrers.TryGetValue(reference.Digest, out var list))
                {
                    referrers[reference.Digest] = list = [];
                }

                list.Add(artifact.Key);
            }
        }

        return referrers;
    }
}
