using System.Buffers.Binary;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.InMemory;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// A seeded generator of registry graphs shaped like a real registry: many repositories in projects, a pool of widely shared
/// base layers, layers shared between versions of one image, multi-arch indexes, signatures, SBOMs with signatures,
/// untagged leftovers and orphan uploads. Digests come from a counter through SplitMix64, not from hashing content.
/// </summary>
public sealed class RegistryGenerator
{
    private readonly Random _random;
    private ulong _state;

    public RegistryGenerator(int seed) { _random = new Random(seed); _state = (ulong)seed; }

    public int BaseLayers { get; init; } = 2_000;
    public double UntaggedFraction { get; init; } = 0.30;
    public double IndexFraction { get; init; } = 0.05;
    public double SignedFraction { get; init; } = 0.10;
    public double SbomFraction { get; init; } = 0.02;
    public double OrphanUploadFraction { get; init; } = 0.01;
    public double FreshFraction { get; init; } = 0.01;

    /// <summary>
    /// The fraction of artifacts given a pull time (between their push and now); 0 (the default) draws no random numbers for it,
    /// so the GC benchmarks' registries stay as they were.
    /// </summary>
    public double PulledFraction { get; init; }

    /// <summary>The name of repository <c>r</c>; <c>proj{r / 100}/app{r}</c> when null.</summary>
    public Func<int, RepositoryName>? RepositoryNames { get; init; }

    private DateTimeOffset _now;

    /// <summary>What was generated.</summary>
    public (int Artifacts, int Blobs, long References, int Tags, int Repositories) Counts { get; private set; }

    public InMemoryRegistryStore Generate(int artifacts, DateTimeOffset now)
    {
        var store = new InMemoryRegistryStore(new FixedTime(now));
        _now = now;
        var old = now.AddDays(-90);
        var basePool = new Digest[BaseLayers];
        for (var i = 0; i < basePool.Length; i++)
        {
            basePool[i] = NewBlob(store, 30_000_000, old);
        }

        var emptyConfig = NewBlob(store, 2, old);
        var repositories = Math.Max(1, artifacts / 100);
        var perRepo = Math.Max(1, artifacts / repositories);
        var made = 0;
        var tags = 0;
        var references = 0L;
        for (var r = 0; r < repositories && made < artifacts; r++)
        {
            var repo = RepositoryNames?.Invoke(r) ?? RepositoryName.Parse($"proj{r / 100}/app{r}");
            var lineage = Enumerable.Range(0, 12).Select(_ => NewBlob(store, 5_000_000, old)).ToArray();
            var budget = r == repositories - 1 ? artifacts - made : perRepo;
            var version = 0;
            while (budget > 0)
            {
                var pushed = _random.NextDouble() < FreshFraction ? now.AddMinutes(-_random.Next(1, 100)) : old.AddMinutes(_random.Next(0, 89 * 24 * 60));
                Artifact top;
                if (budget >= 4 && _random.NextDouble() < IndexFraction)
                {
                    var children = new List<Digest>();
                    var count = _random.Next(2, Math.Min(4, budget - 1) + 1);
                    for (var c = 0; c < count; c++)
                    {
                        children.Add(Image(store, repo, basePool, lineage, pushed, ref references).Digest);
                    }

                    top = Put(store, repo, ManifestKind.OciIndex, MediaTypes.OciIndex, [], [.. children], pushed, null, ref references);
                    budget -= count + 1;
                    made += count + 1;
                }
                else
                {
                    top = Image(store, repo, basePool, lineage, pushed, ref references);
                    budget--;
                    made++;
                }

                if (_random.NextDouble() >= UntaggedFraction)
                {
                    store.PutTag(repo, $"v{version++}", top.Digest, pushed);
                    tags++;
                }

                if (budget > 0 && _random.NextDouble() < SignedFraction)
                {
                    Accessory(store, repo, top.Digest, AccessoryTypes.CosignSignature, emptyConfig, pushed, ref references);
                    budget--;
                    made++;
                }

                if (budget > 1 && _random.NextDouble() < SbomFraction)
                {
                    var sbom = Accessory(store, repo, top.Digest, AccessoryTypes.HarborSbom, emptyConfig, pushed, ref references);
                    Accessory(store, repo, sbom.Digest, AccessoryTypes.CosignSignature, emptyConfig, pushed, ref references);
                    budget -= 2;
                    made += 2;
                }
            }
        }

        for (var i = 0; i < artifacts * OrphanUploadFraction; i++)
        {
            NewBlob(store, 1_000_000, old);
        }

        Counts = (made, store.BlobCount, references, tags, repositories);
        return store;
    }

    private Artifact Image(InMemoryRegistryStore store, RepositoryName repo, Digest[] basePool, Digest[] lineage, DateTimeOffset pushed, ref long references)
    {
        var refs = new List<BlobReference>(10)
        {
            new(NewBlob(store, 7_000, pushed), 7_000, MediaTypes.OciConfig, BlobReferenceKind.Config),
        };
        for (var i = 0; i < 3; i++)
        {
            // base layers: a few are in nearly every image, most are rare
            var u = _random.NextDouble();
            refs.Add(new(basePool[(int)(basePool.Length * u * u * u)], 30_000_000, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer));
        }

        for (var i = 0; i < 4; i++)
        {
            refs.Add(new(lineage[_random.Next(lineage.Length)], 5_000_000, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer));
        }

        refs.Add(new(NewBlob(store, 2_000_000, pushed), 2_000_000, MediaTypes.OciLayerGzip, BlobReferenceKind.Layer));
        if (_random.NextDouble() < 0.001)
        {
            refs.Add(new(NextDigest(), 500_000_000, MediaTypes.DockerForeignLayer, BlobReferenceKind.Layer, IsForeign: true));
        }

        return Put(store, repo, ManifestKind.OciManifest, MediaTypes.OciManifest, refs, [], pushed, null, ref references);
    }

    private Artifact Accessory(InMemoryRegistryStore store, RepositoryName repo, Digest subject, string type, Digest emptyConfig, DateTimeOffset pushed, ref long references)
    {
        List<BlobReference> refs =
        [
            new(emptyConfig, 2, MediaTypes.OciEmpty, BlobReferenceKind.Config),
            new(NewBlob(store, 1_500, pushed), 1_500, MediaTypes.CosignSimpleSigning, BlobReferenceKind.Layer),
        ];
        var accessory = Put(store, repo, ManifestKind.OciManifest, MediaTypes.OciManifest, refs, [], pushed, subject, ref references);
        store.PutAccessoryLink(new AccessoryLink(repo, accessory.Digest, subject, type, ReferenceStrength.Hard));
        return accessory;
    }

    private Artifact Put(InMemoryRegistryStore store, RepositoryName repo, ManifestKind kind, string mediaType, List<BlobReference> refs, System.Collections.Immutable.ImmutableArray<Digest> children, DateTimeOffset pushed, Digest? subject, ref long references)
    {
        var digest = NewBlob(store, 1_000, pushed);
        refs.Insert(0, new BlobReference(digest, 1_000, mediaType, BlobReferenceKind.Manifest));
        references += refs.Count;
        return store.PutArtifact(new Artifact
        {
            Repository = repo,
            Digest = digest,
            MediaType = mediaType,
            Kind = kind,
            Size = 1_000,
            PushedAt = pushed,
            PulledAt = PulledFraction > 0 && _random.NextDouble() < PulledFraction ? pushed.AddTicks((long)(_random.NextDouble() * (_now - pushed).Ticks)) : null,
            References = [.. refs],
            Children = children,
            Subject = subject,
        }, keepPushTime: true);
    }

    private Digest NewBlob(InMemoryRegistryStore store, long size, DateTimeOffset at)
    {
        var digest = NextDigest();
        store.RestoreBlob(new Blob(digest, size, null, at, at));
        return digest;
    }

    private Digest NextDigest()
    {
        Span<byte> hash = stackalloc byte[32];
        for (var i = 0; i < 4; i++)
        {
            _state += 0x9E3779B97F4A7C15;
            var z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            BinaryPrimitives.WriteUInt64LittleEndian(hash[(i * 8)..], z ^ (z >> 31));
        }

        return Digest.FromHash(hash);
    }

    /// <summary>A clock that always says the same time, so plans are deterministic.</summary>
    public sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
