using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A store under test, any <see cref="IWritableRegistryStore"/>, with the synchronous helpers scenario tests read best. Writes go
/// through the store's ordinary API (bytes verified, blobs touched, versions bumped); listings read the store's own snapshot.
/// It remembers every blob's bytes, so a test can upload a blob again by its digest, as a client does after a retry.
/// Disposing it closes the store, deletes <paramref name="folder"/> when given, and then disposes <paramref name="resources"/> (a
/// PostgreSQL store's database, dropped once the store's connections are closed).
/// </summary>
internal sealed class TestStore(IWritableRegistryStore inner, string? folder = null, IReadOnlyDictionary<Digest, byte[]>? contents = null, IDisposable? resources = null) : IDisposable
{
    private readonly Dictionary<Digest, byte[]> _contents = contents is null ? [] : new(contents);
    private bool _disposed;

    public IWritableRegistryStore Inner => inner;

    /// <summary>A copy of the bytes of every blob put through this store, by digest.</summary>
    public IReadOnlyDictionary<Digest, byte[]> Contents
    {
        get
        {
            lock (_contents)
            {
                return new Dictionary<Digest, byte[]>(_contents);
            }
        }
    }

    public Blob PutBlob(byte[] content, string? mediaType = null)
    {
        var digest = Digest.Sha256Of(content);
        lock (_contents)
        {
            _contents[digest] = content;
        }

        using var stream = new MemoryStream(content, writable: false);
        return Wait(inner.PutBlobAsync(digest, stream, mediaType));
    }

    /// <summary>Uploads the bytes of a blob this store was given before, again (a re-push or a mount of a deleted blob).</summary>
    public Blob PutBlob(Digest digest, string? mediaType = null)
    {
        byte[] content;
        lock (_contents)
        {
            content = _contents[digest];
        }

        return PutBlob(content, mediaType);
    }

    public Artifact PutArtifact(Artifact artifact) => Wait(inner.PutArtifactAsync(artifact));

    public TagPutResult PutTag(RepositoryName repository, string name, Digest digest) => Wait(inner.PutTagAsync(repository, name, digest));

    public bool DeleteTag(RepositoryName repository, string name) => Wait(inner.DeleteTagAsync(repository, name));

    public void PutAccessoryLink(AccessoryLink link) => Wait(inner.PutAccessoryLinkAsync(link));

    public void PutLayerLink(LayerLink link) => Wait(inner.PutLayerLinkAsync(link));

    public Artifact? GetArtifact(ArtifactKey key) => Wait(inner.GetArtifactAsync(key));

    public Blob? GetBlob(Digest digest) => Wait(inner.GetBlobAsync(digest));

    public bool HasBlobContent(Digest digest) => Wait(inner.HasBlobContentAsync(digest));

    public bool IsBlobReferenced(Digest digest) => Wait(inner.IsBlobReferencedAsync(digest));

    public bool TryUpdateBlobStatus(Digest digest, BlobStatusSet expected, BlobStatus next) => Wait(inner.TryUpdateBlobStatusAsync(digest, expected, next, null));

    public void DeleteBlobContent(Digest digest) => Wait(inner.DeleteBlobContentAsync(digest));

    public IReadOnlyList<Artifact> GetArtifacts() => Read().Artifacts;

    public IReadOnlyList<Blob> GetBlobs() => Read().Blobs;

    public IReadOnlyList<Tag> GetTags() => Read().Tags;

    public IReadOnlyList<AccessoryLink> GetAccessoryLinks() => Read().AccessoryLinks;

    public IReadOnlyList<LayerLink> GetLayerLinks() => Read().LayerLinks;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        (inner as IDisposable)?.Dispose();
        if (folder is not null)
        {
            new StoreFactory.TemporaryFolder(folder).Dispose();
        }

        resources?.Dispose();
    }

    private CollectingSink Read()
    {
        var sink = new CollectingSink();
        Wait(inner.ReadSnapshotAsync(sink));
        return sink;
    }

    // the stores complete synchronously or on the thread pool; NUnit runs tests without a synchronization context
    private static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private static void Wait(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Collects a snapshot into lists.</summary>
    internal sealed class CollectingSink : ISnapshotSink
    {
        public List<Blob> Blobs { get; } = [];

        public List<Artifact> Artifacts { get; } = [];

        public List<Tag> Tags { get; } = [];

        public List<AccessoryLink> AccessoryLinks { get; } = [];

        public List<LayerLink> LayerLinks { get; } = [];

        public List<StoreProblem> Problems { get; } = [];

        public List<BlobUpload> Uploads { get; } = [];

        public void OnBegin(SnapshotSizeHint hint)
        {
        }

        public void OnBlob(Blob blob) => Blobs.Add(blob);

        public void OnArtifact(Artifact artifact) => Artifacts.Add(artifact);

        public void OnTag(Tag tag) => Tags.Add(tag);

        public void OnAccessoryLink(AccessoryLink link) => AccessoryLinks.Add(link);

        public void OnLayerLink(LayerLink link) => LayerLinks.Add(link);

        public void OnProblem(StoreProblem problem) => Problems.Add(problem);

        public void OnUpload(BlobUpload upload) => Uploads.Add(upload);
    }
}
