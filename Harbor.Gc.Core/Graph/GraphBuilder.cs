using System.Runtime.InteropServices;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Graph;

/// <summary>Builds a <see cref="RegistryGraph"/> from a streamed snapshot; records may arrive in any order.</summary>
internal sealed class GraphBuilder : ISnapshotSink
{
    private DigestTable _digests = new(16);
    private readonly Dictionary<RepositoryName, int> _repoIds = [];
    private readonly List<RepositoryName> _repos = [];
    private readonly Dictionary<string, string> _mediaTypes = new(StringComparer.Ordinal);
    private readonly List<PlanWarning> _warnings = [];
    private readonly List<Tag> _tags = [];
    private readonly List<AccessoryLink> _links = [];
    private readonly List<LayerLink> _layerLinks = [];

    // blob records
    private int _blobCount;
    private int[] _blobDigest = [];
    private long[] _blobSize = [];
    private long[] _blobTouched = [];
    private BlobStatus[] _blobStatus = [];

    // artifacts
    private int _artifactCount;
    private int[] _artRepo = [];
    private int[] _artDigest = [];
    private long[] _artPushed = [];
    private long[] _artVersion = [];
    private long[] _artSize = [];
    private string[] _artMediaType = [];
    private ManifestKind[] _artKind = [];
    private ArtifactFlags[] _flags = [];
    private int[] _refStart = [0];
    private IntList _refs = new(16);
    private BlobReferenceKind[] _refKinds = [];
    private int[] _childStart = [0];
    private IntList _childDigests = new(16);
    private Dictionary<long, int> _artifactIndex = [];

    // blob digests and references are interned in batches (see DigestTable.GetOrAddBatch); a target >= 0 is a position in
    // _refs, a target < 0 is ~(blob record index)
    private const int Batch = 64;
    private readonly Digest[] _pendingDigests = new Digest[Batch];
    private readonly int[] _pendingTargets = new int[Batch];
    private readonly int[] _pendingIds = new int[Batch];
    private int _pending;

    private RepositoryName _lastRepo;
    private int _lastRepoId = -1;

    public void OnBegin(SnapshotSizeHint hint)
    {
        var artifacts = Math.Max(hint.Artifacts, 16);
        var blobs = Math.Max(hint.Blobs, 16);
        var references = (int)Math.Clamp(hint.BlobReferences, 16, int.MaxValue / 2);
        _digests = new DigestTable(blobs + (artifacts / 8));
        Resize(ref _blobDigest, ref _blobSize, ref _blobTouched, ref _blobStatus, blobs);
        ResizeArtifacts(artifacts);
        _refs = new IntList(references);
        _refKinds = new BlobReferenceKind[references];
        _artifactIndex = new Dictionary<long, int>(artifacts);
    }

    public void OnBlob(Blob blob)
    {
        if (_blobCount == _blobDigest.Length)
        {
            Resize(ref _blobDigest, ref _blobSize, ref _blobTouched, ref _blobStatus, _blobCount * 2);
        }

        var i = _blobCount++;
        Enqueue(blob.Digest, ~i);
        _blobSize[i] = blob.Size;
        _blobTouched[i] = blob.LastTouchedAt.UtcTicks;
        _blobStatus[i] = blob.Status;
    }

    public void OnArtifact(Artifact artifact)
    {
        var repo = RepoId(artifact.Repository);
        var digest = _digests.GetOrAdd(artifact.Digest);
        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_artifactIndex, RegistryGraph.ArtifactKeyOf(repo, digest), out var exists);
        if (exists)
        {
            _warnings.Add(new PlanWarning(artifact.Key.ToString(), "the store listed this artifact twice; the second copy was ignored"));
            return;
        }

        if (_artifactCount + 1 >= _artRepo.Length)
        {
            ResizeArtifacts(_artifactCount * 2);
        }

        var a = _artifactCount++;
        slot = a;
        _artRepo[a] = repo;
        _artDigest[a] = digest;
        _artPushed[a] = artifact.PushedAt.UtcTicks;
        _artVersion[a] = artifact.Version;
        _artSize[a] = artifact.Size;
        _artMediaType[a] = Intern(artifact.MediaType);
        _artKind[a] = artifact.Kind;
        _flags[a] = artifact.Kind == ManifestKind.Unknown ? ArtifactFlags.Unknown : ArtifactFlags.None;

        foreach (var reference in artifact.References)
        {
            if (_refs.Count == _refKinds.Length)
            {
                Array.Resize(ref _refKinds, _refKinds.Length * 2);
            }

            _refKinds[_refs.Count] = reference.Kind;
            _refs.Add(-1);
            Enqueue(reference.Digest, _refs.Count - 1);
        }

        _refStart[a + 1] = _refs.Count;

        foreach (var child in artifact.Children)
        {
            _childDigests.Add(_digests.GetOrAdd(child));
        }

        _childStart[a + 1] = _childDigests.Count;

        if (artifact.Kind == ManifestKind.Unknown)
        {
            _warnings.Add(new PlanWarning(artifact.Key.ToString(),
                $"unknown or unparsable manifest ({artifact.ParseProblem ?? artifact.MediaType}): kept, with every digest it mentions"));
        }
    }

    public void OnTag(Tag tag) => _tags.Add(tag);

    public void OnAccessoryLink(AccessoryLink link) => _links.Add(link);

    public void OnLayerLink(LayerLink link) => _layerLinks.Add(link);

    public void OnProblem(StoreProblem problem) => _warnings.Add(new PlanWarning(problem.Location, problem.Message));

    public RegistryGraph Build(CancellationToken cancellationToken)
    {
        Flush();
        cancellationToken.ThrowIfCancellationRequested();
        var n = _artifactCount;

        // children: digest ids → artifact ids in the same repository
        var children = new int[_childDigests.Count];
        var childDigests = _childDigests.Buffer;
        for (var a = 0; a < n; a++)
        {
            for (var c = _childStart[a]; c < _childStart[a + 1]; c++)
            {
                if (_artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(_artRepo[a], childDigests[c]), out var child))
                {
                    children[c] = child;
                    _flags[child] |= ArtifactFlags.Child;
                }
                else
                {
                    children[c] = -1;
                    _warnings.Add(new PlanWarning($"{_repos[_artRepo[a]]}@{_digests[_artDigest[a]]}",
                        $"index lists child {_digests[childDigests[c]]}, which is not in the repository"));
                }
            }
        }

        // tags
        var tags = _tags.ToArray();
        var tagArtifact = new int[tags.Length];
        for (var t = 0; t < tags.Length; t++)
        {
            tagArtifact[t] = -1;
            if (_repoIds.TryGetValue(tags[t].Repository, out var repo) && _digests.TryGet(tags[t].Digest, out var digest) &&
                _artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, digest), out var artifact))
            {
                tagArtifact[t] = artifact;
                _flags[artifact] |= ArtifactFlags.Tagged;
            }
            else
            {
                _warnings.Add(new PlanWarning($"{tags[t].Repository}:{tags[t].Name}", $"tag points at {tags[t].Digest}, which is not in the repository"));
            }
        }

        // accessory links
        var links = _links.ToArray();
        var artifactLink = new int[n];
        var subjectArtifact = new int[n];
        Array.Fill(artifactLink, -1);
        Array.Fill(subjectArtifact, -1);
        var accessoryCount = new int[n + 1];
        for (var l = 0; l < links.Length; l++)
        {
            var link = links[l];
            if (!_repoIds.TryGetValue(link.Repository, out var repo) || !_digests.TryGet(link.Accessory, out var accessoryDigest) ||
                !_artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, accessoryDigest), out var accessory))
            {
                continue; // a link whose accessory is gone: nothing to keep or delete
            }

            if (artifactLink[accessory] >= 0)
            {
                _warnings.Add(new PlanWarning($"{link.Repository}@{link.Accessory}", "the store has two accessory links for this artifact; the first was used"));
                continue;
            }

            artifactLink[accessory] = l;
            _flags[accessory] |= link.Strength == ReferenceStrength.Hard ? ArtifactFlags.HardAccessory : ArtifactFlags.SoftAccessory;
            if (_digests.TryGet(link.Subject, out var subjectDigest) &&
                _artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, subjectDigest), out var subject))
            {
                subjectArtifact[accessory] = subject;
                if (link.Strength == ReferenceStrength.Hard)
                {
                    accessoryCount[subject + 1]++;
                }
            }
        }

        for (var a = 0; a < n; a++)
        {
            accessoryCount[a + 1] += accessoryCount[a];
        }

        var accessoryStart = accessoryCount;
        var accessories = new int[accessoryStart[n]];
        var fill = new int[n];
        for (var a = 0; a < n; a++)
        {
            var subject = subjectArtifact[a];
            if (subject >= 0 && (_flags[a] & ArtifactFlags.HardAccessory) != 0)
            {
                accessories[accessoryStart[subject] + fill[subject]++] = a;
            }
        }

        // layer links
        var layerLinks = _layerLinks.ToArray();
        var layerLinkRepo = new int[layerLinks.Length];
        var layerLinkDigest = new int[layerLinks.Length];
        for (var i = 0; i < layerLinks.Length; i++)
        {
            layerLinkRepo[i] = RepoId(layerLinks[i].Repository);
            layerLinkDigest[i] = _digests.GetOrAdd(layerLinks[i].Digest);
        }

        var digestToBlob = new int[_digests.Count];
        Array.Fill(digestToBlob, -1);
        for (var b = 0; b < _blobCount; b++)
        {
            digestToBlob[_blobDigest[b]] = b;
        }

        return new RegistryGraph
        {
            Digests = _digests,
            DigestToBlob = digestToBlob,
            Repositories = [.. _repos],
            BlobCount = _blobCount,
            BlobDigest = _blobDigest,
            BlobSize = _blobSize,
            BlobTouched = _blobTouched,
            BlobStatuses = _blobStatus,
            ArtifactCount = n,
            ArtifactRepo = _artRepo,
            ArtifactDigest = _artDigest,
            ArtifactPushed = _artPushed,
            ArtifactVersion = _artVersion,
            ArtifactSize = _artSize,
            ArtifactMediaType = _artMediaType,
            ArtifactKind = _artKind,
            Flags = _flags,
            RefStart = _refStart,
            Refs = _refs.Buffer,
            RefKinds = _refKinds,
            ChildStart = _childStart,
            Children = children,
            AccessoryStart = accessoryStart,
            Accessories = accessories,
            ArtifactLink = artifactLink,
            SubjectArtifact = subjectArtifact,
            Links = links,
            Tags = tags,
            TagArtifact = tagArtifact,
            LayerLinks = layerLinks,
            LayerLinkRepo = layerLinkRepo,
            LayerLinkDigest = layerLinkDigest,
            Warnings = _warnings,
            ArtifactIndex = _artifactIndex,
        };
    }

    private void Enqueue(in Digest digest, int target)
    {
        _pendingDigests[_pending] = digest;
        _pendingTargets[_pending++] = target;
        if (_pending == Batch)
        {
            Flush();
        }
    }

    private void Flush()
    {
        var n = _pending;
        _pending = 0;
        _digests.GetOrAddBatch(_pendingDigests.AsSpan(0, n), _pendingIds.AsSpan(0, n));
        var refs = _refs.Buffer;
        for (var i = 0; i < n; i++)
        {
            var target = _pendingTargets[i];
            if (target >= 0)
            {
                refs[target] = _pendingIds[i];
            }
            else
            {
                _blobDigest[~target] = _pendingIds[i];
            }
        }
    }

    private int RepoId(RepositoryName repository)
    {
        if (_lastRepoId >= 0 && ReferenceEquals(_lastRepo.Value, repository.Value))
        {
            return _lastRepoId;
        }

        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_repoIds, repository, out var exists);
        if (!exists)
        {
            id = _repos.Count;
            _repos.Add(repository);
        }

        _lastRepo = repository;
        _lastRepoId = id;
        return id;
    }

    private string Intern(string mediaType)
    {
        ref var interned = ref CollectionsMarshal.GetValueRefOrAddDefault(_mediaTypes, mediaType, out var exists);
        if (!exists)
        {
            interned = mediaType;
        }

        return interned!;
    }

    private void ResizeArtifacts(int size)
    {
        size = Math.Max(size, 16);
        Array.Resize(ref _artRepo, size);
        Array.Resize(ref _artDigest, size);
        Array.Resize(ref _artPushed, size);
        Array.Resize(ref _artVersion, size);
        Array.Resize(ref _artSize, size);
        Array.Resize(ref _artMediaType, size);
        Array.Resize(ref _artKind, size);
        Array.Resize(ref _flags, size);
        Array.Resize(ref _refStart, size + 1);
        Array.Resize(ref _childStart, size + 1);
    }

    private static void Resize(ref int[] digests, ref long[] sizes, ref long[] touched, ref BlobStatus[] statuses, int size)
    {
        size = Math.Max(size, 16);
        Array.Resize(ref digests, size);
        Array.Resize(ref sizes, size);
        Array.Resize(ref touched, size);
        Array.Resize(ref statuses, size);
    }
}
