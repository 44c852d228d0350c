using System.Collections.Concurrent;
using Harbor.Gc.Accessories;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>Reading the tree: the snapshot, and the small reads the sweep re-checks with.</summary>
public sealed partial class DistributionRegistryStore
{
    private static readonly string[] RepositoryMarkers = ["_manifests", "_layers", "_uploads"];
    private static readonly string[] Algorithms = ["sha256", "sha512"];

    /// <inheritdoc />
    public async ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var problems = new ConcurrentQueue<StoreProblem>();
        var manifests = new ConcurrentDictionary<Digest, StorageReadResult>();

        // on an object store, the snapshot (and only the snapshot) reads a flat listing of the layout; the sweep's re-checks read the
        // live driver
        var driver = _driver;
        var parallelism = _parallelism;
        if (_driver is IObjectStorageDriver objects && ReadsFlat)
        {
            var listed = await ListedLayoutDriver.ListAsync(objects, cancellationToken).ConfigureAwait(false);
            driver = listed;
            parallelism = Math.Max(_parallelism, objects.Parallelism);
            LastListing = listed;
            await ReadManifestsAsync(listed, manifests, ManifestCache, cancellationToken).ConfigureAwait(false);
        }

        var repositories = Guarded(() => FindRepositories(driver, cancellationToken));

        var blobsTask = Task.Run(() => Guarded(() => ReadBlobs(driver, problems, cancellationToken)), cancellationToken);
        var states = new ConcurrentDictionary<RepositoryName, RepositoryState>();
        try
        {
            await Parallel.ForEachAsync(repositories, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken },
                (repository, ct) =>
                {
                    states[repository] = Guarded(() => ReadRepository(driver, repository, manifests, problems, ct));
                    return ValueTask.CompletedTask;
                }).ConfigureAwait(false);
        }
        finally
        {
            // never leave the blob reader running behind a failed read
            await Task.WhenAny(blobsTask).ConfigureAwait(false);
        }

        var blobs = await blobsTask.ConfigureAwait(false);
        ReportQuarantine(problems);
        var copies = Guarded(() => ReadCopyUploads(problems));

        // a layer link that is there but cannot be read might be a link the registry serves the blob by: its blob is kept (not
        // offered to the plan at all)
        var pinned = states.Values.SelectMany(s => s.UnreadableLinks).ToHashSet();
        if (pinned.Count > 0)
        {
            blobs.RemoveAll(b => pinned.Contains(b.Digest));
        }

        var ordered = states.OrderBy(s => s.Key).ToList();
        var artifacts = ordered.SelectMany(s => s.Value.Artifacts).ToList();
        sink.OnBegin(new SnapshotSizeHint(artifacts.Count, blobs.Count, ordered.Sum(s => s.Value.Tags.Count), 0, artifacts.Sum(a => (long)a.References.Length)));
        foreach (var blob in blobs)
        {
            sink.OnBlob(blob);
        }

        foreach (var artifact in artifacts)
        {
            sink.OnArtifact(artifact);
        }

        foreach (var (_, state) in ordered)
        {
            foreach (var tag in state.Tags)
            {
                sink.OnTag(tag);
            }

            foreach (var link in state.AccessoryLinks)
            {
                sink.OnAccessoryLink(link);
            }

            foreach (var link in state.LayerLinks)
            {
                sink.OnLayerLink(link);
            }

            foreach (var upload in state.Uploads)
            {
                sink.OnUpload(upload);
            }
        }

        foreach (var upload in copies)
        {
            sink.OnUpload(upload);
        }

        foreach (var problem in problems.OrderBy(p => p.Location, StringComparer.Ordinal))
        {
            sink.OnProblem(problem);
        }

        var tagless = ordered.Count(s => s.Value.HasRevisions) is var withRevisions and > 0 && !ordered.Any(s => s.Value.HasTagsFolder)
            ? $"{Description}: none of its {withRevisions} repositories with manifests ({artifacts.Count} of them) has a tags folder. This is how "
              + "Harbor 2.15 and later keep a registry's storage (tags live only in Harbor's database, goharbor/harbor#22507): here every "
              + "image looks untagged, and collecting untagged artifacts would delete every one of them"
            : null;
        var known = new Dictionary<Digest, ManifestInfo>();
        foreach (var artifact in artifacts)
        {
            if (!known.ContainsKey(artifact.Digest) && manifests.TryGetValue(artifact.Digest, out var read) && read.Status == StorageReadStatus.Read)
            {
                known[artifact.Digest] = InfoOf(artifact);
            }
        }

        lock (_lock)
        {
            _repositories = ordered.ToDictionary(s => s.Key, s => s.Value);
            _manifests = known;
            _referrers = null;
            _status.Clear();
            TaglessReason = tagless;
        }

        // the snapshot completed on a whole listing: the cache drops the manifests it no longer shows and killed runs' temporary files
        if (driver is ListedLayoutDriver view && ManifestCache is { } cache)
        {
            cache.Prune(digest => view.Stat(DistributionLayout.BlobData(digest)) is { Kind: StorageEntryKind.File }, _time.GetUtcNow() - ManifestCache.TemporaryAge);
        }
    }

    /// <summary>
    /// Whether a snapshot on an object store reads a flat listing of the layout (<see cref="ListedLayoutDriver"/>); when false it
    /// reads folder by folder, as on a file system (for tests comparing the two).
    /// </summary>
    internal bool ReadsFlat { get; init; } = true;

    /// <summary>
    /// On an object store read flat: a local folder of manifest bytes used instead of a GET when the listing shows the manifest's
    /// data of the cached size and the cached bytes hash to its digest (<see cref="Distribution.ManifestCache"/>); the sweep never
    /// reads it. Disposed with the store.
    /// </summary>
    internal ManifestCache? ManifestCache { get; init; }

    /// <summary>The listing the last snapshot read, on an object store.</summary>
    internal ListedLayoutDriver? LastListing { get; private set; }

    /// <summary>
    /// Reads the manifest of every revision that has a link in the listing, at most <see cref="IStorageDriver"/>'s parallelism at
    /// once (a GET each; one of the cap's size or empty is answered from the listing), before the repositories are read: they then
    /// find each manifest read, whichever repository holds it.
    /// </summary>
    private static async Task ReadManifestsAsync(ListedLayoutDriver listed, ConcurrentDictionary<Digest, StorageReadResult> manifests, ManifestCache? cache,
        CancellationToken cancellationToken)
    {
        var digests = new HashSet<Digest>();
        foreach (var item in listed.ListTreeAsync(DistributionLayout.Repositories, cancellationToken).ToBlockingEnumerable(cancellationToken))
        {
            // repositories/NAME…/_manifests/revisions/ALGORITHM/HEX/link
            var segments = item.Path.Split('/');
            if (segments.Length >= 7 && segments[^1] == "link" && segments[^4] == "revisions" && segments[^5] == "_manifests" &&
                Algorithms.Contains(segments[^3]) && DistributionLayout.DigestOfFolder(segments[^3], segments[^2]) is { } digest)
            {
                digests.Add(digest);
            }
        }

        await Parallel.ForEachAsync(digests, new ParallelOptions { MaxDegreeOfParallelism = listed.Parallelism, CancellationToken = cancellationToken }, async (digest, ct) =>
        {
            var path = DistributionLayout.BlobData(digest);

            // a cached entry stands for the GET only when the listing shows the blob's data now, of the entry's size, and the entry's
            // bytes hash to the digest (checked on each use); the bytes read from the bucket replace any other entry
            if (cache is not null && listed.Stat(path) is { Kind: StorageEntryKind.File } stat && cache.TryRead(digest, stat.Size) is { } cached)
            {
                manifests[digest] = new StorageReadResult(StorageReadStatus.Read, cached, stat);
                return;
            }

            var read = await listed.ReadAsync(path, DistributionLayout.MaxManifestLength, ct).ConfigureAwait(false);
            if (cache is not null && read.Status == StorageReadStatus.Read)
            {
                cache.TryWrite(digest, read.Content);
            }

            manifests[digest] = read;
        }).ConfigureAwait(false);
    }

    /// <summary>What the store knows of a manifest from an artifact read from it.</summary>
    private static ManifestInfo InfoOf(Artifact artifact) =>
        new([.. artifact.References.Select(r => r.Digest)], [.. artifact.Children], artifact.Subject, artifact.Kind != ManifestKind.Unknown || artifact.ParseProblem is null || !artifact.ParseProblem.Contains(UnreadableMark, StringComparison.Ordinal));

    /// <summary>Runs a read of the tree, turning a symbolic link the driver met into the refusal of the tree.</summary>
    private T Guarded<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (StorageLinkException e)
        {
            throw Refuse(e.Path);
        }
    }

    private InvalidDataException Refuse(string path) =>
        DistributionTreeRefusedException.Create(Description, path, "is a symbolic link. Distribution never writes links and follows them when it serves, so what this one "
            + "reaches may be live; harbor-gc refuses a tree with links in it rather than guess. Replace the link by what it points to "
            + "(or remove it) and run again");

    /// <summary>Lists a folder of the layout; a symbolic link in it refuses the tree. Null when there is no such folder.</summary>
    private IReadOnlyList<StorageListEntry>? ListChecked(IStorageDriver driver, string path)
    {
        var entries = driver.List(path);
        if (entries is not null)
        {
            foreach (var entry in entries)
            {
                if (entry.Kind == StorageEntryKind.SymbolicLink)
                {
                    throw Refuse(_driver.Describe(StoragePaths.Join(path, entry.Name)));
                }
            }
        }

        return entries;
    }

    private List<RepositoryName> FindRepositories(IStorageDriver driver, CancellationToken cancellationToken)
    {
        var found = new List<RepositoryName>();
        var pending = new Stack<string>();
        pending.Push(DistributionLayout.Repositories);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var folder = pending.Pop();
            if (ListChecked(driver, folder) is not { } entries)
            {
                continue;
            }

            foreach (var entry in entries.Where(e => !e.HasValidName))
            {
                throw DistributionTreeRefusedException.Create(Description, _driver.Describe(folder) + "/" + entry.Name,
                    "has a name that is not valid UTF-8, so it is no repository name, and what it holds cannot be told apart from garbage. "
                    + "Rename or move it and run again");
            }

            if (folder != DistributionLayout.Repositories && entries.Any(e => RepositoryMarkers.Contains(e.Name)))
            {
                var name = folder[(DistributionLayout.Repositories.Length + 1)..];
                if (!RepositoryName.TryParse(name, out var repository))
                {
                    // its manifests cannot be read, so its blobs cannot be told apart from garbage: stop rather than guess
                    throw DistributionTreeRefusedException.Create(Description, _driver.Describe(folder),
                        $"is not a valid repository name ({RepositoryName.Validate(name)}), so its manifests cannot be read and its blobs cannot be told apart from garbage");
                }

                found.Add(repository);
            }

            foreach (var entry in entries)
            {
                if (entry.Kind == StorageEntryKind.Directory && !entry.Name.StartsWith('_'))
                {
                    pending.Push(folder + "/" + entry.Name);
                }
            }
        }

        return found;
    }

    private RepositoryState ReadRepository(IStorageDriver driver, RepositoryName repository, ConcurrentDictionary<Digest, StorageReadResult> manifests,
        ConcurrentQueue<StoreProblem> problems, CancellationToken cancellationToken)
    {
        var state = new RepositoryState();
        ListChecked(driver, DistributionLayout.Repository(repository) + "/_manifests");
        var tags = ReadTags(driver, repository, problems, out var tagsUnreadable, out var hasTagsFolder);
        state.HasTagsFolder = hasTagsFolder;
        ReadLayerLinks(driver, repository, state, problems);

        var byDigest = new Dictionary<Digest, Artifact>();
        foreach (var digest in ListDigestFolders(driver, DistributionLayout.RevisionsRoot(repository), "revision", problems))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var linkPath = DistributionLayout.RevisionLink(repository, digest);
            if (ReadLink(driver, linkPath) is not { } file)
            {
                problems.Enqueue(Problem(linkPath, "the revision folder has no link file; ignored"));
                continue;
            }

            var linkProblem = file.Problem.Length > 0 ? file.Problem
                : file.Digest != digest ? $"the link names {file.Digest}, not the folder's {digest}"
                : null;
            if (linkProblem is not null)
            {
                problems.Enqueue(Problem(linkPath, linkProblem + "; the manifest is kept"));
            }

            var artifact = ReadManifest(driver, repository, digest, file.WrittenAt, manifests, state);
            var keepReason = linkProblem is not null ? $"malformed revision link: {linkProblem}"
                : tagsUnreadable is not null ? $"kept because a tag of the repository is unreadable: {tagsUnreadable}"
                : null;
            if (keepReason is not null)
            {
                artifact = artifact with { Kind = ManifestKind.Unknown, ParseProblem = artifact.ParseProblem ?? keepReason };
            }

            byDigest[digest] = artifact;
        }

        foreach (var tag in tags)
        {
            if (!byDigest.ContainsKey(tag.Digest))
            {
                problems.Enqueue(Problem(DistributionLayout.TagLink(repository, tag.Name), $"the tag {repository}:{tag.Name} points at {tag.Digest}, which has no revision in the repository"));
            }
        }

        var tagged = tags.GroupBy(t => t.Digest).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var artifact in byDigest.Values.OrderBy(a => a.Digest))
        {
            var version = VersionOf(artifact.PushedAt.UtcDateTime, artifact.Digest, tagged.GetValueOrDefault(artifact.Digest) ?? []);
            var stored = artifact with { Version = version };
            state.Artifacts.Add(stored);
            var link = AccessoryClassifier.Default.ClassifyBySubject(stored, null);
            if (link is null)
            {
                foreach (var tag in tagged.GetValueOrDefault(stored.Digest) ?? [])
                {
                    link ??= AccessoryClassifier.ClassifyByTag(stored, tag.Name);
                }
            }

            if (link is not null)
            {
                state.AccessoryLinks.Add(link);
            }
        }

        state.Tags.AddRange(tags);
        ReadUploads(driver, repository, state.Uploads, problems);
        return state;
    }

    private void ReadLayerLinks(IStorageDriver driver, RepositoryName repository, RepositoryState state, ConcurrentQueue<StoreProblem> problems)
    {
        foreach (var digest in ListDigestFolders(driver, DistributionLayout.LayersRoot(repository), "layer link", problems))
        {
            var linkPath = DistributionLayout.LayerLink(repository, digest);
            if (ReadLink(driver, linkPath) is not { } file)
            {
                state.LinkTimes[digest] = null;
                continue;
            }

            if (file.Problem.Length > 0 || file.Digest != digest)
            {
                problems.Enqueue(Problem(linkPath, (file.Problem.Length > 0 ? file.Problem : $"the link names {file.Digest}, not the folder's {digest}") + "; left alone, and its blob kept"));
                state.LinkTimes[digest] = null;
                state.UnreadableLinks.Add(digest);
                continue;
            }

            state.LayerLinks.Add(new LayerLink(repository, digest, file.WrittenAt));
            state.LinkTimes[digest] = file.WrittenAt;
        }
    }

    /// <summary>The repository's unfinished uploads: the UUID-named folders under <c>_uploads</c>.</summary>
    private void ReadUploads(IStorageDriver driver, RepositoryName repository, List<BlobUpload> uploads, ConcurrentQueue<StoreProblem> problems)
    {
        var folder = DistributionLayout.Uploads(repository);
        var entries = ListChecked(driver, folder) ?? [];
        if (driver is IObjectStorageDriver objects)
        {
            // an upload whose objects are gone but whose bytes are still in a multipart upload is an upload too (DESIGN.md)
            var named = entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            var orphans = objects.ListMultipartUploads(folder + "/")
                .Select(u => u.Path[(folder.Length + 1)..].Split('/')[0])
                .Where(id => !named.Contains(id) && Guid.TryParseExact(id, "D", out _))
                .Distinct(StringComparer.Ordinal)
                .Select(id => new StorageListEntry(id, StorageEntryKind.Directory));
            entries = [.. entries, .. orphans];
        }

        foreach (var entry in entries)
        {
            var path = folder + "/" + entry.Name;
            if (entry.Kind != StorageEntryKind.Directory || !entry.HasValidName || !Guid.TryParseExact(entry.Name, "D", out _))
            {
                problems.Enqueue(Problem(path, "not an upload folder (the registry names them by a UUID); left alone"));
            }
            else if (ReadUpload(driver, repository, entry.Name, out var problem) is { } upload)
            {
                uploads.Add(upload);
                if (problem is not null)
                {
                    problems.Enqueue(problem);
                }
            }
        }
    }

    /// <summary>
    /// Reads one upload folder, for the snapshot and for the re-check before its deletion (the same reading, so an unchanged
    /// upload compares equal). Null when it is gone (a registry finishing the upload removes it).
    /// </summary>
    private BlobUpload? ReadUpload(IStorageDriver driver, RepositoryName repository, string id, out StoreProblem? problem)
    {
        problem = null;
        var folder = DistributionLayout.Upload(repository, id);
        DateTimeOffset lastWritten;
        long size;
        if (driver is IObjectStorageDriver objects)
        {
            if (ReadObjectUpload(objects, folder) is not { } found)
            {
                return null;
            }

            (size, lastWritten) = found;
        }
        else
        {
            if (driver.Stat(folder) is not { Kind: StorageEntryKind.Directory } info)
            {
                return null;
            }

            var data = driver.Stat(folder + "/data");
            if (data is { Kind: StorageEntryKind.SymbolicLink })
            {
                throw Refuse(_driver.Describe(folder + "/data"));
            }

            lastWritten = data is { } d && d.ModifiedAt > info.ModifiedAt ? d.ModifiedAt : info.ModifiedAt;
            size = data is { Kind: StorageEntryKind.File } f ? f.Size : 0;
        }

        var startedAtPath = folder + "/startedat";
        var startedAtFile = driver.Read(startedAtPath, DistributionLayout.MaxStartedAtLength + 1);
        DateTimeOffset? startedAt = null;
        var why = string.Empty;
        switch (startedAtFile.Status)
        {
            case StorageReadStatus.Missing:
                why = "the upload has no startedat file";
                break;
            case StorageReadStatus.NotAFile when startedAtFile.Stat.Kind == StorageEntryKind.SymbolicLink:
                throw Refuse(_driver.Describe(startedAtPath));
            case StorageReadStatus.Read:
                if (DistributionLayout.TryParseStartedAt(startedAtFile.Content, out var parsed, out why))
                {
                    startedAt = parsed;
                }

                break;
            default:
                why = "startedat cannot be read: " + startedAtFile.Problem(DistributionLayout.MaxStartedAtLength + 1);
                break;
        }

        if (startedAt is null)
        {
            problem = Problem(startedAtPath, why + "; the registry cannot resume such an upload, so it is dated by its last write");
        }

        return new BlobUpload(repository, id, startedAt, size, lastWritten.ToUniversalTime());
    }

    /// <summary>
    /// An upload in a bucket (DESIGN.md, "S3 storage: real runs"): its folder's objects (<c>startedat</c>, <c>hashstates/…</c>, a
    /// <c>data</c> object once written whole) and the multipart uploads of its <c>data</c> key, where the registry's s3 driver keeps
    /// the bytes of an unfinished upload. Its size is the data object's, else the parts'; its last write the latest time of all
    /// of them, so a resumed upload reads as changed. Null when there is none of either.
    /// </summary>
    private static (long Size, DateTimeOffset LastWritten)? ReadObjectUpload(IObjectStorageDriver objects, string folder)
    {
        var items = objects.ListTreeAsync(folder).ToBlockingEnumerable().ToList();
        var multipart = objects.ListMultipartUploads(folder + "/data").Where(u => u.Path == folder + "/data").ToList();
        if (items.Count == 0 && multipart.Count == 0)
        {
            return null;
        }

        var last = items.Count > 0 ? items.Max(i => i.ModifiedAt) : DateTimeOffset.UnixEpoch;
        var size = items.FirstOrDefault(i => i.Path == folder + "/data") is { Path: not null } data ? data.Size : 0;
        foreach (var upload in multipart)
        {
            var (bytes, written) = objects.ReadMultipartUpload(upload);
            size = Math.Max(size, bytes);
            last = written > last ? written : last;
        }

        return (size, last);
    }

    /// <summary>The text that marks an unknown artifact whose bytes could not be read as a manifest at all.</summary>
    private const string UnreadableMark = "every blob its repository links is kept with it";

    private Artifact ReadManifest(IStorageDriver driver, RepositoryName repository, Digest digest, DateTimeOffset pushedAt,
        ConcurrentDictionary<Digest, StorageReadResult> manifests, RepositoryState state)
    {
        var dataPath = DistributionLayout.BlobData(digest);
        var read = manifests.GetOrAdd(digest, _ => driver.Read(dataPath, DistributionLayout.MaxManifestLength));
        Artifact artifact;
        switch (read.Status)
        {
            case StorageReadStatus.Read:
                try
                {
                    artifact = ArtifactReader.Read(repository, digest, read.Content, null, pushedAt);
                }
                catch (ArgumentException e)
                {
                    artifact = ArtifactReader.Unknown(repository, digest, read.Content, null, pushedAt, e.Message); // bytes that do not hash to the digest
                }

                if (artifact.Kind != ManifestKind.Unknown)
                {
                    return artifact;
                }

                break;
            case StorageReadStatus.NotAFile when read.Stat.Kind == StorageEntryKind.SymbolicLink:
                throw Refuse(_driver.Describe(dataPath));
            default:
                artifact = ArtifactReader.Unknown(repository, digest, [], null, pushedAt, $"the manifest's data cannot be read: {read.Problem(DistributionLayout.MaxManifestLength)}");
                break;
        }

        // it cannot be known what such a manifest uses: everything its repository links, which the registry needed to accept it
        return artifact with
        {
            ParseProblem = $"{artifact.ParseProblem} ({_driver.Describe(dataPath)}); {UnreadableMark}",
            References = [.. artifact.References, .. state.LinkTimes.Keys.Select(d => new BlobReference(d, 0, null, BlobReferenceKind.Layer, IsForeign: true))],
        };
    }

    /// <summary>
    /// The repository's tags (current links). <paramref name="unreadable"/> names the first tag that could not be read (a bad name,
    /// a link that is malformed or not a file): then any manifest might be tagged. With <paramref name="checkLinks"/>, each tag
    /// folder and its history are listed for symbolic links too (the snapshot and the re-read after the grace period do; the
    /// sweep's version check of one artifact only reads the current links).
    /// </summary>
    private List<Tag> ReadTags(IStorageDriver driver, RepositoryName repository, ConcurrentQueue<StoreProblem>? problems, out string? unreadable, out bool hasTagsFolder, bool checkLinks = true)
    {
        unreadable = null;
        var tags = new List<Tag>();
        var folder = DistributionLayout.Tags(repository);
        var entries = ListChecked(driver, folder);
        hasTagsFolder = entries is not null;
        foreach (var entry in entries ?? [])
        {
            var path = folder + "/" + entry.Name;
            if (!entry.HasValidName || TagName.Validate(entry.Name) is { } invalid)
            {
                unreadable ??= $"{repository}:{entry.Name}";
                problems?.Enqueue(Problem(path, $"not a valid tag name ({(entry.HasValidName ? TagName.Validate(entry.Name) : "not UTF-8")}); every manifest of the repository is kept"));
                continue;
            }

            if (entry.Kind != StorageEntryKind.Directory)
            {
                unreadable ??= $"{repository}:{entry.Name}";
                problems?.Enqueue(Problem(path, "the tag is not a folder; every manifest of the repository is kept"));
                continue;
            }

            // current, index and the index's entries: a link there refuses the tree
            if (checkLinks && ListChecked(driver, path)?.Any(e => e.Name == "index" && e.Kind == StorageEntryKind.Directory) == true)
            {
                foreach (var algorithm in ListChecked(driver, path + "/index") ?? [])
                {
                    if (algorithm.Kind == StorageEntryKind.Directory && algorithm.HasValidName)
                    {
                        ListChecked(driver, $"{path}/index/{algorithm.Name}");
                    }
                }
            }

            var current = path + "/current/link";
            if (ReadLink(driver, current) is not { } file)
            {
                problems?.Enqueue(Problem(current, $"the tag {repository}:{entry.Name} has no current/link; ignored"));
                continue;
            }

            if (file.Problem.Length > 0)
            {
                unreadable ??= $"{repository}:{entry.Name}";
                problems?.Enqueue(Problem(current, file.Problem + "; every manifest of the repository is kept"));
                continue;
            }

            tags.Add(new Tag(repository, entry.Name, file.Digest, file.WrittenAt));
        }

        return tags;
    }

    private List<Blob> ReadBlobs(IStorageDriver driver, ConcurrentQueue<StoreProblem> problems, CancellationToken cancellationToken)
    {
        var result = new ConcurrentBag<List<Blob>>();
        ListChecked(driver, DistributionLayout.Blobs);
        foreach (var algorithm in Algorithms)
        {
            var root = DistributionLayout.Blobs + "/" + algorithm;
            if (ListChecked(driver, root) is not { } prefixes)
            {
                continue;
            }

            try
            {
                Parallel.ForEach(prefixes, new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken }, prefix =>
                {
                    var list = new List<Blob>();
                    var prefixPath = root + "/" + prefix.Name;
                    foreach (var folder in Guarded(() => ListChecked(driver, prefixPath)) ?? [])
                    {
                        var path = prefixPath + "/" + folder.Name;
                        if (folder.Kind != StorageEntryKind.Directory || !folder.HasValidName ||
                            DistributionLayout.DigestOfFolder(algorithm, folder.Name) is not { } digest || !folder.Name.StartsWith(prefix.Name, StringComparison.Ordinal))
                        {
                            problems.Enqueue(Problem(path, "not a blob folder (its name is not the digest under its two-letter prefix); left alone"));
                            continue;
                        }

                        list.Add(Guarded(() => BlobOf(driver, digest, null)));
                    }

                    result.Add(list);
                });
            }
            catch (AggregateException e)
            {
                // the refusal of the tree (a link found), not the parallel loop's wrapper, is what the caller must see
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions.FirstOrDefault(x => x is InvalidDataException) ?? e.InnerExceptions[0]).Throw();
            }
        }

        var blobs = result.SelectMany(l => l).ToList();
        blobs.Sort((x, y) => x.Digest.CompareTo(y.Digest));
        return blobs;
    }

    private Blob? ReadBlob(Digest digest) =>
        _driver.Stat(DistributionLayout.BlobFolder(digest)) is { Kind: StorageEntryKind.Directory }
            ? BlobOf(_driver, digest, _status.TryGetValue(digest, out var status) ? status : null)
            : null;

    /// <summary>
    /// A blob folder as a record: its data file's size and time; a folder without data (a push caught between making the folder and
    /// moving the data in, or killed there) is dated by the folder's own time, so the time window and the re-checks cover it like
    /// any blob. <paramref name="status"/>, when known for this run, wins.
    /// </summary>
    private Blob BlobOf(IStorageDriver driver, Digest digest, BlobStatus? status)
    {
        var dataPath = DistributionLayout.BlobData(digest);
        var data = driver.Stat(dataPath);
        if (data is { Kind: StorageEntryKind.SymbolicLink })
        {
            throw Refuse(_driver.Describe(dataPath));
        }

        var at = data?.ModifiedAt ?? driver.Stat(DistributionLayout.BlobFolder(digest))?.ModifiedAt ?? DateTimeOffset.UnixEpoch;
        var size = data is { Kind: StorageEntryKind.File } file ? file.Size : 0;
        return new Blob(digest, size, null, at, at, status ?? BlobStatus.None);
    }

    /// <summary>Folders named by a digest under <c>FOLDER/sha256</c> and <c>FOLDER/sha512</c>.</summary>
    private List<Digest> ListDigestFolders(IStorageDriver driver, string folder, string what, ConcurrentQueue<StoreProblem>? problems)
    {
        var found = new List<Digest>();
        if (ListChecked(driver, folder) is null)
        {
            return found;
        }

        foreach (var algorithm in Algorithms)
        {
            var root = folder + "/" + algorithm;
            foreach (var child in ListChecked(driver, root) ?? [])
            {
                if (child.Kind == StorageEntryKind.Directory && child.HasValidName && DistributionLayout.DigestOfFolder(algorithm, child.Name) is { } digest)
                {
                    found.Add(digest);
                }
                else
                {
                    problems?.Enqueue(Problem(root + "/" + child.Name, $"not a {what} folder named by a digest; left alone"));
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Reads a link file (regular files only, at most a digest's length), with its time; null when there is none. A symbolic link
    /// refuses the tree; a folder, FIFO or device is reported as a link that cannot be read.
    /// </summary>
    private LinkFile? ReadLink(IStorageDriver driver, string path)
    {
        var read = driver.Read(path, DistributionLayout.MaxLinkLength);
        switch (read.Status)
        {
            case StorageReadStatus.Missing:
                return null;
            case StorageReadStatus.Read:
                return DistributionLayout.TryParseLink(read.Content, out var digest, out var problem)
                    ? new LinkFile(digest, string.Empty, read.Stat.ModifiedAt)
                    : new LinkFile(default, problem, read.Stat.ModifiedAt);
            case StorageReadStatus.TooLarge:
                return new LinkFile(default, DistributionLayout.TooLongForALink(read.Stat.Size), read.Stat.ModifiedAt);
            default:
                return read.Stat.Kind == StorageEntryKind.SymbolicLink
                    ? throw Refuse(_driver.Describe(path))
                    : new LinkFile(default, "the link cannot be read: " + read.Problem(DistributionLayout.MaxLinkLength), read.Stat.ModifiedAt);
        }
    }

    /// <summary>Reports what an interrupted run left out of the registry's sight (a dry run only reports it; a real run puts it back first).</summary>
    private void ReportQuarantine(ConcurrentQueue<StoreProblem> problems)
    {
        var runs = _driver.List(DistributionLayout.Quarantine);
        var items = runs?.Sum(r => _driver.List(DistributionLayout.Quarantine + "/" + r.Name)?.Count ?? 0) ?? 0;
        if (items > 0)
        {
            problems.Enqueue(Problem(DistributionLayout.Quarantine,
                $"an interrupted real run left {items} items out of the registry's sight here; the next real run puts them back before it reads the tree, and this plan does not see them"));
        }
    }

    /// <summary>
    /// An artifact's version: its revision link's time and the tags that point at it (name and link time). Any tag moved onto or
    /// off it, or a re-pushed revision, changes it.
    /// </summary>
    private static long VersionOf(DateTime revisionLinkTime, Digest digest, IEnumerable<Tag> tags)
    {
        // FNV-1a, 64-bit: stable across processes, so a saved plan applies in another one
        var hash = 14695981039346656037UL;
        void Add(long value)
        {
            for (var i = 0; i < 8; i++)
            {
                hash = (hash ^ (byte)(value >> (8 * i))) * 1099511628211UL;
            }
        }

        Add(revisionLinkTime.Ticks);
        foreach (var tag in tags.Where(t => t.Digest == digest).OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (var c in tag.Name)
            {
                Add(c);
            }

            Add(tag.PushedAt.UtcTicks);
        }

        return (long)(hash >> 1);
    }

    /// <summary>A link file read: the digest it holds, or what is wrong with its content, and its modification time.</summary>
    private readonly record struct LinkFile(Digest Digest, string Problem, DateTimeOffset WrittenAt);
}
