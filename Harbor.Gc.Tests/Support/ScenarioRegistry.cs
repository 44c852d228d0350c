using System.Collections.Immutable;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Builds registry scenarios in a store under test with a fake clock, through the store's write API: images, indexes,
/// accessories, tags. Everything is pushed at the clock's current time; <see cref="Age"/> moves the clock on, so earlier pushes
/// fall outside the time window.
/// </summary>
internal sealed class ScenarioRegistry
{
    private int _counter;

    /// <summary>A scenario over a new store from <paramref name="stores"/> (the in-memory store when null).</summary>
    public ScenarioRegistry(StoreFactory? stores = null) =>
        Store = stores?.Create(Time) ?? new TestStore(new Harbor.Gc.Storage.InMemory.InMemoryRegistryStore(Time));

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 10, 0, 0, 0, TimeSpan.Zero));

    public TestStore Store { get; }

    public static RepositoryName Repo(string name) => RepositoryName.Parse(name);

    /// <summary>Moves the clock on (default: one day, well past the 2 h window).</summary>
    public void Age(TimeSpan? by = null) => Time.Advance(by ?? TimeSpan.FromDays(1));

    /// <summary>Uploads a blob with unique content.</summary>
    public Digest Blob(int size = 100, string? mediaType = MediaTypes.OciLayerGzip)
    {
        return Store.PutBlob(Unique("blob", size), mediaType).Digest;
    }

    /// <summary>Pushes an image manifest (manifest blob + a new config + the given layers), optionally tagged.</summary>
    public Artifact Image(string repository, Digest[] layers, string? tag = null, IEnumerable<BlobReference>? foreignLayers = null, Digest? subject = null, string? artifactType = null)
    {
        var config = Blob(50, MediaTypes.OciConfig);
        var references = new List<BlobReference> { new(config, 50, MediaTypes.OciConfig, BlobReferenceKind.Config) };
        references.AddRange(layers.Select(l => new BlobReference(l, Store.GetBlob(l)!.Size, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer)));
        references.AddRange(foreignLayers ?? []);
        return Push(repository, ManifestKind.OciManifest, MediaTypes.OciManifest, references, [], tag, subject, artifactType ?? MediaTypes.OciConfig);
    }

    /// <summary>Pushes an image index listing <paramref name="children"/>, optionally tagged.</summary>
    public Artifact Index(string repository, IEnumerable<Artifact> children, string? tag = null) =>
        Push(repository, ManifestKind.OciIndex, MediaTypes.OciIndex, [], [.. children.Select(c => c.Digest)], tag, null, null);

    /// <summary>Pushes an accessory of <paramref name="subject"/> (an OCI 1.1 referrer with a <c>subject</c>) and links it.</summary>
    public Artifact Accessory(Artifact subject, string type = AccessoryTypes.CosignSignature, ReferenceStrength strength = ReferenceStrength.Hard, string? tag = null) =>
        AccessoryOf(subject.Repository.Value, subject.Digest, type, strength, tag);

    /// <summary>Pushes an accessory of a subject digest that may not exist (an orphan, or pushed before its subject).</summary>
    public Artifact AccessoryOf(string repository, Digest subject, string type = AccessoryTypes.CosignSignature, ReferenceStrength strength = ReferenceStrength.Hard, string? tag = null)
    {
        var accessory = Image(repository, [Blob(30, MediaTypes.CosignSimpleSigning)], tag, subject: subject, artifactType: MediaTypes.CosignSignatureArtifact);
        Store.PutAccessoryLink(new AccessoryLink(accessory.Repository, accessory.Digest, subject, type, strength));
        return accessory;
    }

    public void Tag(Artifact artifact, string tag) => Store.PutTag(artifact.Repository, tag, artifact.Digest);

    public GarbageCollector Collector() => new(Store.Inner, Time);

    public Task<CollectionPlan> PlanAsync(bool deleteUntagged = true, TimeSpan? window = null) =>
        Collector().PlanAsync(new GcOptions { DeleteUntagged = deleteUntagged, TimeWindow = window ?? GcOptions.DefaultTimeWindow });

    public Task<GcResult> RunAsync(bool dryRun = false, bool deleteUntagged = true, int workers = 1) =>
        Collector().RunAsync(new GcOptions { DryRun = dryRun, DeleteUntagged = deleteUntagged, Workers = workers });

    private Artifact Push(string repository, ManifestKind kind, string mediaType, List<BlobReference> references, ImmutableArray<Digest> children, string? tag, Digest? subject, string? artifactType)
    {
        var manifestBytes = Unique("manifest", 200);
        var digest = Store.PutBlob(manifestBytes, mediaType).Digest;
        references.Insert(0, new BlobReference(digest, manifestBytes.Length, mediaType, BlobReferenceKind.Manifest));
        var artifact = Store.PutArtifact(new Artifact
        {
            Repository = Repo(repository),
            Digest = digest,
            MediaType = mediaType,
            Kind = kind,
            ArtifactType = artifactType,
            Size = manifestBytes.Length,
            PushedAt = Time.GetUtcNow(),
            References = [.. references],
            Children = children,
            Subject = subject,
        });
        if (tag is not null)
        {
            Store.PutTag(artifact.Repository, tag, artifact.Digest);
        }

        return artifact;
    }

    private byte[] Unique(string kind, int size)
    {
        var text = $"{kind}-{++_counter}-";
        var bytes = new byte[Math.Max(size, text.Length)];
        Encoding.ASCII.GetBytes(text).CopyTo(bytes, 0);
        return bytes;
    }
}
