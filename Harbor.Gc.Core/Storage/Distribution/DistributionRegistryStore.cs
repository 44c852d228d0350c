using System.Collections.Concurrent;
using System.IO.Enumeration;
using Harbor.Gc.Accessories;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;
using Microsoft.Win32.SafeHandles;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// A store over the storage tree of a CNCF Distribution registry (<c>registry:2</c>, Debian's <c>docker-registry</c>): the folder
/// its <c>rootdirectory</c> names, holding <c>docker/registry/v2</c>. See <see cref="DistributionLayout"/> for the paths.
/// </summary>
/// <remarks>
/// <para>
/// Reading: repositories are the folders holding <c>_manifests</c>, <c>_layers</c> or <c>_uploads</c> (names nest; folders starting
/// with <c>_</c> are never repository names); artifacts are the revisions, read from their manifest blobs (each blob file read
/// once, repositories in parallel); push times are the revision and tag link file times; blobs are the blob folders, with their
/// data file's time as created/updated. Accessories are found by <c>subject</c> and by cosign tag-scheme tags.
/// </para>
/// <para>
/// Conservative by construction: a malformed or dangling link is reported as a problem, never followed into a path and never a
/// reason to delete. A revision whose link is malformed is kept (as an unknown manifest, with every digest it mentions), and so
/// is every manifest of a repository with an unreadable tag (the tag might have pointed at any of them).
/// </para>
/// <para>
/// Blob status: Distribution keeps none, so <c>delete</c> lives in this object for the run, and <c>deleting</c> is what a blob
/// folder without its data file is (the bytes went, the folder did not: a killed run); the next run finishes those. Before a blob
/// goes, the store re-reads what changed since the snapshot (new revisions and new layer links in every repository whose folders
/// changed), so a push or a cross-repository mount during the run keeps the blob. Distribution's own collector requires the
/// registry to be read-only; with this re-check a short window remains between the last re-read and the delete, so a read-only
/// registry is still the safest way to run it.
/// </para>
/// <para>
/// Uploads: every UUID-named folder under a repository's <c>_uploads</c> is an unfinished upload, dated by its <c>startedat</c>
/// file and by its last write (the later of the <c>data</c> file's and the folder's modification times). A missing or malformed
/// <c>startedat</c> is reported; the registry cannot resume such an upload (its <c>Resume</c> fails without a readable
/// <c>startedat</c>), so it is dated by its last write alone and goes once that is older than the time window. Distribution's own
/// purger (<c>registry/storage/purgeuploads.go</c>) would keep it forever instead. A folder under <c>_uploads</c> that is not named
/// by a UUID, or that is a symbolic link, is reported and left alone. An upload is deleted (its folder, recursively) only when it
/// is still exactly as the plan saw it.
/// </para>
/// </remarks>
public sealed class DistributionRegistryStore : IRegistryStore
{
    private static readonly string[] RepositoryMarkers = ["_manifests", "_layers", "_uploads"];
    private static readonly EnumerationOptions SubfolderOptions = new() { AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false };
    private readonly DistributionLayout _layout;
    private readonly TimeProvider _time;
    private readonly int _parallelism;
    private readonly object _lock = new();
    private readonly Dictionary<Digest, BlobStatus> _status = [];

    // what the last snapshot saw, for the re-checks of a sweep
    private Dictionary<RepositoryName, RepositoryState> _repositories = [];
    private Dictionary<Digest, List<ArtifactKey>>? _referrers;
    private Dictionary<Digest, List<RepositoryName>>? _layerFolders;
    private List<Artifact> _snapshotArtifacts = [];
    private DateTimeOffset _lastRefresh;

    /// <summary>Opens the storage tree of a Distribution registry.</summary>
    /// <param name="rootDirectory">The registry's <c>rootdirectory</c> (the folder holding <c>docker/registry/v2</c>).</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="parallelism">Folders read at once; twice the processor count when null.</param>
    /// <exception cref="DirectoryNotFoundException">There is no <c>docker/registry/v2</c> under <paramref name="rootDirectory"/>.</exception>
    public DistributionRegistryStore(string rootDirectory, TimeProvider? timeProvider = null, int? parallelism = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        _layout = new DistributionLayout(rootDirectory);
        if (!Directory.Exists(_layout.Root))
        {
            throw new DirectoryNotFoundException($"distribution:{rootDirectory}: the folder '{_layout.Root}' does not exist.");
        }

        if (!Directory.Exists(_layout.V2))
        {
            throw new DirectoryNotFoundException(
                $"distribution:{rootDirectory}: '{_layout.Root}' holds no docker/registry/v2 folder; give the registry's storage rootdirectory.");
        }

        _time = timeProvider ?? TimeProvider.System;
        _parallelism = parallelism ?? Environment.ProcessorCount * 2;
        ArgumentOutOfRangeException.ThrowIfLessThan(_parallelism, 1, nameof(parallelism));
    }

    /// <inheritdoc />
    public string Description => $"distribution:{_layout.Root}";

    /// <summary>How long a sweep trusts its last re-read of the tree before reading what changed again.</summary>
    public TimeSpan RecheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    public async ValueTask ReadSnapshotAsync(ISnapshotSink sink, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var startedAt = _time.GetUtcNow();
        var problems = new ConcurrentQueue<StoreProblem>();
        var repositories = FindRepositories(problems, cancellationToken);
        var manifests = new ConcurrentDictionary<Digest, ManifestBlob>();

        var blobsTask = Task.Run(() => ReadBlobs(problems, cancellationToken), cancellationToken);
        var states = new ConcurrentDictionary<RepositoryName, RepositoryState>();
        await Parallel.ForEachAsync(repositories, new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken },
            (repository, ct) =>
            {
                states[repository] = ReadRepository(repository, manifests, problems, ct);
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
        var blobs = await blobsTask.ConfigureAwait(false);

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

        foreach (var problem in problems.OrderBy(p => p.Location, StringComparer.Ordinal))
        {
            sink.OnProblem(problem);
        }

        lock (_lock)
        {
            _repositories = ordered.ToDictionary(s => s.Key, s => s.Value);
            _snapshotArtifacts = artifacts;
            _referrers = null;
            _layerFolders = null;
            _lastRefresh = DateTimeOffset.MinValue; // the first re-check after a snapshot always re-reads
            _status.Clear();
        }
    }

    /// <inheritdoc />
    public ValueTask<ArtifactDeleteOutcome> DeleteArtifactAsync(ArtifactKey key, long expectedVersion, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var revision = _layout.Revision(key.Repository, key.Digest);
        if (!File.Exists(Path.Combine(revision, "link")))
        {
            return ValueTask.FromResult(ArtifactDeleteOutcome.NotFound);
        }

        lock (_lock)
        {
            var state = RefreshRepository(key.Repository);
            var tags = ReadTags(key.Repository, null, out _);
            if (VersionOf(File.GetLastWriteTimeUtc(Path.Combine(revision, "link")), key.Digest, tags) != expectedVersion ||
                (state?.NewlyListed.Contains(key.Digest) ?? false))
            {
                return ValueTask.FromResult(ArtifactDeleteOutcome.Changed);
            }

            // tags first, then the revision: a run killed in between leaves an untagged revision, which the next run collects
            foreach (var tag in tags.Where(t => t.Digest == key.Digest))
            {
                DeleteDirectory(_layout.Tag(key.Repository, tag.Name));
            }

            var tagsFolder = _layout.Tags(key.Repository);
            if (Directory.Exists(tagsFolder))
            {
                foreach (var tagFolder in SafeDirectories(tagsFolder))
                {
                    var entry = Path.Combine(tagFolder, "index", DistributionLayout.Algorithm(key.Digest), key.Digest.Hex);
                    DeleteDirectory(entry);
                }
            }

            DeleteDirectory(revision);
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

    /// <inheritdoc />
    public ValueTask<bool> IsBlobReferencedAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Refresh(cancellationToken);
            _referrers ??= BuildReferrers();
            if (_referrers.TryGetValue(digest, out var referrers) &&
                referrers.Any(k => File.Exists(Path.Combine(_layout.Revision(k.Repository, k.Digest), "link"))))
            {
                return ValueTask.FromResult(true);
            }

            if (_repositories.Values.Any(s => s.RecentReferences.Contains(digest)))
            {
                return ValueTask.FromResult(true);
            }

            // a mount or upload since the snapshot writes the repository's layer link. Into a new folder, it changes the folder
            // above, and the refresh has read it (RecentReferences). Into a folder the snapshot saw, it leaves that folder's parent
            // as it was: those folders, with a link or without a readable one, are the only ones to look at here, so a check
            // costs the repositories that had a folder for this blob, not every repository
            _layerFolders ??= BuildLayerFolders();
            if (_layerFolders.TryGetValue(digest, out var repositories))
            {
                foreach (var repository in repositories)
                {
                    if (LinkWrittenSinceSnapshot(_repositories[repository], repository, digest))
                    {
                        return ValueTask.FromResult(true);
                    }
                }
            }

            return ValueTask.FromResult(false);
        }
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobContentAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var data = _layout.BlobData(digest);
        if (File.Exists(data))
        {
            File.Delete(data);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteBlobRecordAsync(Digest digest, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            DeleteDirectory(_layout.BlobDirectory(digest));
            _status.Remove(digest);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteLayerLinkAsync(LayerLink link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            var folder = _layout.Layer(link.Repository, link.Digest);
            var file = Path.Combine(folder, "link");
            if (!File.Exists(file))
            {
                return ValueTask.FromResult(true);
            }

            var state = RefreshRepository(link.Repository);
            if (new DateTimeOffset(File.GetLastWriteTimeUtc(file)) != link.CreatedAt || (state?.RecentReferences.Contains(link.Digest) ?? false))
            {
                return ValueTask.FromResult(false);
            }

            DeleteDirectory(folder);
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<UploadDeleteOutcome> DeleteUploadAsync(BlobUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        cancellationToken.ThrowIfCancellationRequested();
        if (upload.Repository is not { } repository)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.NotFound); // not one of this layout's uploads (they are in repositories)
        }

        var folder = _layout.Upload(repository, upload.Id); // a bad id throws here, before anything is touched

        // uploads share no state with the rest of the sweep: no lock, so workers delete them in parallel
        if (ReadUpload(repository, upload.Id, out _) is not { } current)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.NotFound);
        }

        if (current != upload)
        {
            return ValueTask.FromResult(UploadDeleteOutcome.Changed); // bytes arrived, or the folder was written, since the plan
        }

        DeleteDirectory(folder);
        return ValueTask.FromResult(UploadDeleteOutcome.Deleted);
    }

    // ---- reading -------------------------------------------------------------------------------------------------

    private List<RepositoryName> FindRepositories(ConcurrentQueue<StoreProblem> problems, CancellationToken cancellationToken)
    {
        var found = new List<RepositoryName>();
        if (!Directory.Exists(_layout.Repositories))
        {
            return found;
        }

        var pending = new Stack<string>();
        pending.Push(_layout.Repositories);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var folder = pending.Pop();
            var children = SafeDirectories(folder).ToList();
            if (folder != _layout.Repositories && children.Any(c => RepositoryMarkers.Contains(Path.GetFileName(c))))
            {
                var name = Path.GetRelativePath(_layout.Repositories, folder).Replace(Path.DirectorySeparatorChar, '/');
                if (!RepositoryName.TryParse(name, out var repository))
                {
                    // its manifests cannot be read, so its blobs cannot be told apart from garbage: stop rather than guess
                    throw new InvalidDataException(
                        $"{Description}: the repository folder '{folder}' is not a valid repository name ({RepositoryName.Validate(name)}); nothing was planned.");
                }

                found.Add(repository);
            }

            foreach (var child in children)
            {
                if (!Path.GetFileName(child).StartsWith('_'))
                {
                    pending.Push(child);
                }
            }
        }

        return found;
    }

    private RepositoryState ReadRepository(RepositoryName repository, ConcurrentDictionary<Digest, ManifestBlob> manifests,
        ConcurrentQueue<StoreProblem> problems, CancellationToken cancellationToken)
    {
        var state = new RepositoryState();
        state.RevisionsStamp = Stamp(_layout.RevisionsRoot(repository));
        state.LayersStamp = Stamp(_layout.LayersRoot(repository));
        var tags = ReadTags(repository, problems, out var tagsUnreadable);
        var byDigest = new Dictionary<Digest, Artifact>();
        foreach (var (digest, folder) in ListDigestFolders(_layout.RevisionsRoot(repository), $"{repository}: revision", problems))
        {
            cancellationToken.ThrowIfCancellationRequested();
            state.Revisions.Add(digest);
            var link = Path.Combine(folder, "link");
            if (ReadLink(link) is not { } file)
            {
                problems.Enqueue(new StoreProblem($"{repository}@{digest}", $"the revision folder has no link file ({link}); ignored"));
                continue;
            }

            string? linkProblem = null;
            if (file.Problem.Length > 0)
            {
                linkProblem = file.Problem;
            }
            else if (file.Digest != digest)
            {
                linkProblem = $"the link names {file.Digest}, not the folder's {digest}";
            }

            if (linkProblem is not null)
            {
                problems.Enqueue(new StoreProblem(link, linkProblem + "; the manifest is kept"));
            }

            var artifact = ReadManifest(repository, digest, file.WrittenAt, manifests);
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
                problems.Enqueue(new StoreProblem($"{repository}:{tag.Name}", $"the tag points at {tag.Digest}, which has no revision in the repository"));
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
        foreach (var (digest, folder) in ListDigestFolders(_layout.LayersRoot(repository), $"{repository}: layer link", problems))
        {
            var link = Path.Combine(folder, "link");
            if (ReadLink(link) is not { } file)
            {
                state.UnreadLayerFolders.Add(digest);
                continue;
            }

            if (file.Problem.Length > 0 || file.Digest != digest)
            {
                problems.Enqueue(new StoreProblem(link, (file.Problem.Length > 0 ? file.Problem : $"the link names {file.Digest}, not the folder's {digest}") + "; left alone"));
                state.UnreadLayerFolders.Add(digest);
                continue;
            }

            state.LayerLinks.Add(new LayerLink(repository, digest, file.WrittenAt));
        }

        ReadUploads(repository, state.Uploads, problems);
        return state;
    }

    /// <summary>The repository's unfinished uploads: the UUID-named folders under <c>_uploads</c>.</summary>
    private void ReadUploads(RepositoryName repository, List<BlobUpload> uploads, ConcurrentQueue<StoreProblem> problems)
    {
        var folder = _layout.Uploads(repository);
        if (!Directory.Exists(folder))
        {
            return;
        }

        if (_layout.PassesThroughLink(folder))
        {
            problems.Enqueue(new StoreProblem(folder, "the uploads folder is a symbolic link; left alone"));
            return;
        }

        foreach (var child in new DirectoryInfo(folder).EnumerateDirectories())
        {
            if ((child.Attributes & FileAttributes.ReparsePoint) != 0)
            {
                problems.Enqueue(new StoreProblem(child.FullName, "an upload folder that is a symbolic link; left alone"));
            }
            else if (!Guid.TryParseExact(child.Name, "D", out _))
            {
                problems.Enqueue(new StoreProblem(child.FullName, "not an upload folder (the registry names them by a UUID); left alone"));
            }
            else if (ReadUpload(repository, child.Name, out var problem) is { } upload)
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
    /// upload compares equal). Null when it is gone (a registry finishing the upload removes it) or reached through a link.
    /// </summary>
    private BlobUpload? ReadUpload(RepositoryName repository, string id, out StoreProblem? problem)
    {
        problem = null;
        var folder = _layout.Upload(repository, id);
        try
        {
            var info = new DirectoryInfo(folder);
            if (!info.Exists || _layout.PassesThroughLink(folder))
            {
                return null;
            }

            var data = new FileInfo(Path.Combine(folder, "data"));
            var lastWritten = data.Exists && data.LastWriteTimeUtc > info.LastWriteTimeUtc ? data.LastWriteTimeUtc : info.LastWriteTimeUtc;
            var size = data.Exists ? data.Length : 0;
            var startedAtFile = Path.Combine(folder, "startedat");
            DateTimeOffset? startedAt = null;
            string? why;
            if (!File.Exists(startedAtFile))
            {
                why = "the upload has no startedat file";
            }
            else if (DistributionLayout.TryParseStartedAt(ReadHead(startedAtFile, DistributionLayout.MaxStartedAtLength + 1), out var parsed, out why))
            {
                startedAt = parsed;
            }

            if (startedAt is null)
            {
                problem = new StoreProblem(startedAtFile, why + "; the registry cannot resume such an upload, so it is dated by its last write");
            }

            return new BlobUpload(repository, id, startedAt, size, new DateTimeOffset(lastWritten, TimeSpan.Zero));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null; // removed while being read: the registry finished or cancelled the upload
        }
    }

    /// <summary>The first <paramref name="count"/> bytes of a file (fewer when it is shorter).</summary>
    private static byte[] ReadHead(string path, int count)
    {
        using var file = File.OpenRead(path);
        var buffer = new byte[count];
        var read = file.ReadAtLeast(buffer, count, throwOnEndOfStream: false);
        return buffer[..read];
    }

    private Artifact ReadManifest(RepositoryName repository, Digest digest, DateTimeOffset pushedAt, ConcurrentDictionary<Digest, ManifestBlob> manifests)
    {
        var blob = manifests.GetOrAdd(digest, d => new ManifestBlob(ReadAllBytesIfAny(_layout.BlobData(d))));
        if (blob.Content is null)
        {
            return ArtifactReader.Unknown(repository, digest, [], null, pushedAt, "the manifest's blob data is missing");
        }

        try
        {
            return ArtifactReader.Read(repository, digest, blob.Content, null, pushedAt);
        }
        catch (ArgumentException e)
        {
            return ArtifactReader.Unknown(repository, digest, blob.Content, null, pushedAt, e.Message); // bytes that do not hash to the digest
        }
    }

    /// <summary>The repository's tags (current links); <paramref name="unreadable"/> names the first tag that could not be read.</summary>
    private List<Tag> ReadTags(RepositoryName repository, ConcurrentQueue<StoreProblem>? problems, out string? unreadable)
    {
        unreadable = null;
        var tags = new List<Tag>();
        var folder = _layout.Tags(repository);
        if (!Directory.Exists(folder))
        {
            return tags;
        }

        foreach (var tagFolder in SafeDirectories(folder))
        {
            var name = Path.GetFileName(tagFolder);
            if (TagName.Validate(name) is { } invalid)
            {
                unreadable ??= $"{repository}:{name}";
                problems?.Enqueue(new StoreProblem(tagFolder, $"not a valid tag name ({invalid})"));
                continue;
            }

            var current = Path.Combine(tagFolder, "current", "link");
            if (ReadLink(current) is not { } file)
            {
                problems?.Enqueue(new StoreProblem($"{repository}:{name}", "the tag folder has no current/link; ignored"));
                continue;
            }

            if (file.Problem.Length > 0)
            {
                unreadable ??= $"{repository}:{name}";
                problems?.Enqueue(new StoreProblem(current, file.Problem + "; every manifest of the repository is kept"));
                continue;
            }

            tags.Add(new Tag(repository, name, file.Digest, file.WrittenAt));
        }

        return tags;
    }

    private List<Blob> ReadBlobs(ConcurrentQueue<StoreProblem> problems, CancellationToken cancellationToken)
    {
        var result = new ConcurrentBag<List<Blob>>();
        foreach (var algorithm in new[] { "sha256", "sha512" })
        {
            var root = Path.Combine(_layout.Blobs, algorithm);
            if (!Directory.Exists(root))
            {
                continue;
            }

            Parallel.ForEach(SafeDirectories(root), new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken }, prefix =>
            {
                var list = new List<Blob>();
                foreach (var folder in SafeDirectories(prefix))
                {
                    var hex = Path.GetFileName(folder);
                    if (DistributionLayout.DigestOfFolder(algorithm, hex) is not { } digest || !hex.StartsWith(Path.GetFileName(prefix), StringComparison.Ordinal))
                    {
                        problems.Enqueue(new StoreProblem(folder, "not a blob folder (its name is not the digest under its two-letter prefix); left alone"));
                        continue;
                    }

                    list.Add(BlobOf(digest, folder, null));
                }

                result.Add(list);
            });
        }

        var blobs = result.SelectMany(l => l).ToList();
        blobs.Sort((x, y) => x.Digest.CompareTo(y.Digest));
        return blobs;
    }

    private Blob? ReadBlob(Digest digest)
    {
        var folder = _layout.BlobDirectory(digest);
        if (!Directory.Exists(folder))
        {
            return null;
        }

        return BlobOf(digest, folder, _status.TryGetValue(digest, out var status) ? status : null);
    }

    /// <summary>
    /// A blob folder as a record: its data file's size and time, status <c>none</c>; a folder without data is <c>deleting</c> (a
    /// run was killed between deleting the bytes and the folder). <paramref name="status"/>, when known for this run, wins.
    /// </summary>
    private static Blob BlobOf(Digest digest, string folder, BlobStatus? status)
    {
        var data = new FileInfo(Path.Combine(folder, "data"));
        var at = new DateTimeOffset(data.Exists ? data.LastWriteTimeUtc : Directory.GetLastWriteTimeUtc(folder));
        return new Blob(digest, data.Exists ? data.Length : 0, null, at, at, status ?? (data.Exists ? BlobStatus.None : BlobStatus.Deleting));
    }

    // ---- re-checks during a sweep ----------------------------------------------------------------------------------

    /// <summary>
    /// Reads what changed since the snapshot, at most once per <see cref="RecheckInterval"/>: repositories created since (all they
    /// reference or list is recent), and in each known repository the new revisions and layer links.
    /// </summary>
    private void Refresh(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (now - _lastRefresh < RecheckInterval)
        {
            return;
        }

        _lastRefresh = now;
        foreach (var repository in FindRepositories(new ConcurrentQueue<StoreProblem>(), cancellationToken).Where(r => !_repositories.ContainsKey(r)))
        {
            var state = ReadRepository(repository, new ConcurrentDictionary<Digest, ManifestBlob>(), new ConcurrentQueue<StoreProblem>(), cancellationToken);
            foreach (var artifact in state.Artifacts)
            {
                NoteRecent(state, artifact);
            }

            state.RecentReferences.UnionWith(state.LayerLinks.Select(l => l.Digest));
            _repositories[repository] = state;
        }

        foreach (var repository in _repositories.Keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            RefreshRepository(repository);
        }
    }

    /// <summary>
    /// Reads one repository's revisions and layer links that appeared since the snapshot, when its folders changed. Deletions
    /// call it for their own repository only: an index or subject naming an artifact, and a manifest using a repository's layer
    /// link, are in the same repository.
    /// </summary>
    /// <returns>The repository's state, or null when the snapshot did not see it.</returns>
    private RepositoryState? RefreshRepository(RepositoryName repository)
    {
        if (!_repositories.TryGetValue(repository, out var state))
        {
            return null;
        }

        var revisionsFolder = _layout.RevisionsRoot(repository);
        var revisionsStamp = Stamp(revisionsFolder);
        if (revisionsStamp != state.RevisionsStamp)
        {
            state.RevisionsStamp = revisionsStamp;
            var manifests = new ConcurrentDictionary<Digest, ManifestBlob>();
            foreach (var (digest, _) in ListDigestFolders(revisionsFolder, string.Empty, null))
            {
                if (state.Revisions.Add(digest))
                {
                    NoteRecent(state, ReadManifest(repository, digest, _time.GetUtcNow(), manifests));
                }
            }
        }

        var layersFolder = _layout.LayersRoot(repository);
        var layersStamp = Stamp(layersFolder);
        if (layersStamp != state.LayersStamp)
        {
            state.LayersStamp = layersStamp;
            foreach (var (digest, _) in ListDigestFolders(layersFolder, string.Empty, null))
            {
                if (LinkWrittenSinceSnapshot(state, repository, digest))
                {
                    state.RecentReferences.Add(digest); // a mount or an upload since the snapshot
                }
            }
        }

        return state;
    }

    /// <summary>Records a manifest pushed since the snapshot: what it lists is newly listed, what it references is recent.</summary>
    private static void NoteRecent(RepositoryState state, Artifact artifact)
    {
        state.NewlyListed.UnionWith(artifact.Children);
        if (artifact.Subject is { } subject)
        {
            state.NewlyListed.Add(subject);
        }

        state.RecentReferences.UnionWith(artifact.References.Select(r => r.Digest));
    }

    /// <summary>
    /// Whether a repository's layer link for <paramref name="digest"/> was written since the snapshot: it is there now, and the
    /// snapshot saw no link in its folder, or saw it with another modification time. Times are compared with times, never with
    /// the clock: file systems stamp files from a coarser clock than the one the snapshot's start was read from.
    /// </summary>
    private bool LinkWrittenSinceSnapshot(RepositoryState state, RepositoryName repository, Digest digest)
    {
        var link = new FileInfo(Path.Combine(_layout.Layer(repository, digest), "link"));
        return link.Exists &&
            (!state.SnapshotLinkTimes.TryGetValue(digest, out var seen) || seen != new DateTimeOffset(link.LastWriteTimeUtc));
    }

    /// <summary>For each blob, the repositories whose snapshot had a layer folder for it (with a link, or without a readable one).</summary>
    private Dictionary<Digest, List<RepositoryName>> BuildLayerFolders()
    {
        var folders = new Dictionary<Digest, List<RepositoryName>>();
        foreach (var (repository, state) in _repositories)
        {
            foreach (var digest in state.SnapshotLinkTimes.Keys)
            {
                if (!folders.TryGetValue(digest, out var list))
                {
                    folders[digest] = list = [];
                }

                list.Add(repository);
            }
        }

        return folders;
    }

    private Dictionary<Digest, List<ArtifactKey>> BuildReferrers()
    {
        var referrers = new Dictionary<Digest, List<ArtifactKey>>();
        foreach (var artifact in _snapshotArtifacts)
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

    // ---- helpers -------------------------------------------------------------------------------------------------

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

    /// <summary>Folders named by a digest under <c>FOLDER/sha256</c> and <c>FOLDER/sha512</c>.</summary>
    private static IEnumerable<(Digest Digest, string Folder)> ListDigestFolders(string folder, string what, ConcurrentQueue<StoreProblem>? problems)
    {
        foreach (var algorithm in new[] { "sha256", "sha512" })
        {
            var root = Path.Combine(folder, algorithm);
            if (!Directory.Exists(root))
            {
                continue;
            }

            foreach (var child in SafeDirectories(root))
            {
                if (DistributionLayout.DigestOfFolder(algorithm, Path.GetFileName(child)) is { } digest)
                {
                    yield return (digest, child);
                }
                else
                {
                    problems?.Enqueue(new StoreProblem(child, $"{what} folder whose name is not a digest; left alone"));
                }
            }
        }
    }

    /// <summary>
    /// Sub-folders, never following a symbolic link out of the tree. Told from the directory entries' types alone: asking each
    /// folder for its attributes costs two system calls per entry, a third of a scan's time.
    /// </summary>
    private static IEnumerable<string> SafeDirectories(string folder) =>
        new FileSystemEnumerable<string>(folder, (ref FileSystemEntry entry) => entry.ToFullPath(), SubfolderOptions)
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => entry.IsDirectory,
        };

    /// <summary>
    /// Reads a link file with one open, its time from the open handle (no separate existence and time look-ups: this runs for every
    /// revision, tag and layer link of the tree); null when there is no such file.
    /// </summary>
    private static LinkFile? ReadLink(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path);
        }
        catch (Exception e) when (IsMissing(e, path))
        {
            return null;
        }

        using (handle)
        {
            var writtenAt = new DateTimeOffset(File.GetLastWriteTimeUtc(handle));
            Span<byte> content = stackalloc byte[DistributionLayout.MaxLinkLength + 1];
            var read = RandomAccess.Read(handle, content, 0);
            if (read > DistributionLayout.MaxLinkLength)
            {
                return new LinkFile(default, DistributionLayout.TooLongForALink(RandomAccess.GetLength(handle)), writtenAt);
            }

            return DistributionLayout.TryParseLink(content[..read], out var digest, out var problem)
                ? new LinkFile(digest, string.Empty, writtenAt)
                : new LinkFile(default, problem, writtenAt);
        }
    }

    /// <summary>A file's bytes, or null when there is no such file (one open, no separate existence check).</summary>
    private static byte[]? ReadAllBytesIfAny(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (IsMissing(e, path))
        {
            return null;
        }
    }

    /// <summary>Whether opening <paramref name="path"/> failed because there is no file there (a folder of that name is none either).</summary>
    private static bool IsMissing(Exception e, string path) =>
        e is FileNotFoundException or DirectoryNotFoundException || (e is UnauthorizedAccessException && Directory.Exists(path));

    /// <summary>The modification times of <c>FOLDER/sha256</c> and <c>FOLDER/sha512</c>: a new digest folder in either changes it.</summary>
    private static long Stamp(string folder)
    {
        static long Of(string f) => Directory.Exists(f) ? Directory.GetLastWriteTimeUtc(f).Ticks : 0;
        return Of(Path.Combine(folder, "sha256")) ^ (Of(Path.Combine(folder, "sha512")) * 31);
    }

    private static void DeleteDirectory(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed record ManifestBlob(byte[]? Content);

    /// <summary>A link file read: the digest it holds, or what is wrong with its content, and its modification time.</summary>
    private readonly record struct LinkFile(Digest Digest, string Problem, DateTimeOffset WrittenAt);

    private sealed class RepositoryState
    {
        private Dictionary<Digest, DateTimeOffset?>? _snapshotLinkTimes;

        public List<Artifact> Artifacts { get; } = [];

        public List<Tag> Tags { get; } = [];

        public List<AccessoryLink> AccessoryLinks { get; } = [];

        public List<LayerLink> LayerLinks { get; } = [];

        /// <summary>Layer folders without a readable link at the snapshot: a link written there later changes no folder's time.</summary>
        public List<Digest> UnreadLayerFolders { get; } = [];

        /// <summary>The modification time of each layer link the snapshot read, by blob (a folder without a readable one: none).</summary>
        public Dictionary<Digest, DateTimeOffset?> SnapshotLinkTimes => _snapshotLinkTimes ??= LayerLinks
            .Select(l => (l.Digest, (DateTimeOffset?)l.CreatedAt))
            .Concat(UnreadLayerFolders.Select(d => (d, (DateTimeOffset?)null)))
            .DistinctBy(e => e.Item1)
            .ToDictionary(e => e.Item1, e => e.Item2);

        public List<BlobUpload> Uploads { get; } = [];

        public HashSet<Digest> Revisions { get; } = [];

        /// <summary>Digests that revisions pushed since the snapshot list as children or subject.</summary>
        public HashSet<Digest> NewlyListed { get; } = [];

        /// <summary>Blobs referenced by revisions, or linked by layer links, that appeared since the snapshot.</summary>
        public HashSet<Digest> RecentReferences { get; } = [];

        public long RevisionsStamp { get; set; }

        public long LayersStamp { get; set; }
    }
}
