using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Graph;

/// <summary>Builds a <see cref="RegistryGraph"/> from a streamed snapshot; records may arrive in any order.</summary>
/// <remarks>
/// Interning digests is most of the cost of a snapshot and is bound by memory latency, so it runs on a second thread
/// (<see cref="DigestInterner"/>) while the store's thread keeps enumerating: the sink records each blob, artifact and
/// reference in flat arrays with a placeholder and queues the digest, and the interner writes the id back. References that
/// come with a store key (<see cref="IKeyedSnapshotSink"/>) skip the table: they resolve through the key in
/// <see cref="Build"/>. Small snapshots never start the thread.
/// </remarks>
internal sealed class GraphBuilder : IKeyedSnapshotSink, IColumnSnapshotSink, IDisposable
{
    private readonly Dictionary<RepositoryName, int> _repoIds = [];
    private readonly List<RepositoryName> _repos = [];
    private readonly Dictionary<string, string> _mediaTypes = new(StringComparer.Ordinal);
    private readonly List<PlanWarning> _warnings = [];
    private readonly List<Tag> _tags = [];
    private readonly List<AccessoryLink> _links = [];
    private readonly List<LayerLink> _layerLinks = [];
    private readonly List<BlobUpload> _uploads = [];
    private readonly DigestInterner _interner;

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
    private string?[] _artProblem = [];
    private int[] _refStart = [0];
    private int[] _refs = new int[16];
    private int _refCount;
    private BlobReferenceKind[] _refKinds = new BlobReferenceKind[16];
    private int[] _childStart = [0];
    private int[] _childDigests = new int[16];
    private int _childCount;

    // store keys (IKeyedSnapshotSink): a keyed reference is stored as KeyedRef - key until Build resolves it
    private const int KeyedRef = -2;
    private int[] _keyToBlob = [];
    private Artifact?[] _keyedSource = []; // per artifact given with keys: the record, for a key that names no blob
    private bool _anyKeyedRef; // keys are the store's (IKeyedSnapshotSink)
    private bool _blobOrdinalRefs; // keys are blob ordinals (IColumnSnapshotSink's references by blob)
    private bool _built;

    private RepositoryName _lastRepo;
    private string? _lastMediaType;
    private string? _lastInterned;
    private int _lastRepoId = -1;

    public GraphBuilder()
    {
        _interner = new DigestInterner(this);
    }

    /// <summary>Whether interning ran on the second thread.</summary>
    public bool InternedOnSecondThread => _interner.Threaded;

    public void OnBegin(SnapshotSizeHint hint)
    {
        var artifacts = Math.Max(hint.Artifacts, 16);
        var blobs = Math.Max(hint.Blobs, 16);
        var references = (int)Math.Clamp(hint.BlobReferences, 16, int.MaxValue / 2);
        _interner.Reserve(blobs + (artifacts / 8));
        lock (_interner.ArraysLock)
        {
            Resize(ref _blobDigest, ref _blobSize, ref _blobTouched, ref _blobStatus, Math.Max(blobs, _blobDigest.Length));
            ResizeArtifacts(Math.Max(artifacts, _artRepo.Length));
            GrowTo(ref _refs, references);
            GrowTo(ref _refKinds, references);
        }

        if (_keyToBlob.Length < hint.Blobs)
        {
            _keyToBlob = new int[hint.Blobs]; // keys are dense, so about one per blob; OnBlob grows it for more
            Array.Fill(_keyToBlob, -1);
        }
    }

    public void OnBlob(Blob blob) => OnBlob(blob, -1);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public void OnBlob(Blob blob, int key)
    {
        if (key >= 0)
        {
            if (key >= _keyToBlob.Length)
            {
                var grown = new int[Math.Max(key + 1, Math.Max(_keyToBlob.Length * 2, _blobDigest.Length))];
                Array.Fill(grown, -1);
                _keyToBlob.AsSpan().CopyTo(grown);
                _keyToBlob = grown;
            }

            _keyToBlob[key] = _blobCount; // the index OnBlobColumns gives it
        }

        OnBlobColumns(blob.Digest, blob.Size, blob.LastTouchedAt.UtcTicks, blob.Status);
    }

    public bool TakesColumns => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public void OnBlobColumns(in Digest digest, long size, long lastTouchedTicks, BlobStatus status)
    {
        if (_blobCount == _blobDigest.Length)
        {
            lock (_interner.ArraysLock)
            {
                Resize(ref _blobDigest, ref _blobSize, ref _blobTouched, ref _blobStatus, _blobCount * 2);
            }
        }

        var i = _blobCount++;
        _blobSize[i] = size;
        _blobTouched[i] = lastTouchedTicks;
        _blobStatus[i] = status;
        _interner.Enqueue(digest, DigestInterner.Target.Blob, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public void OnArtifactColumns(in ArtifactColumns artifact, ReadOnlySpan<int> referenceBlobs, ReadOnlySpan<Digest> referenceDigests,
        ReadOnlySpan<BlobReferenceKind> referenceKinds, ReadOnlySpan<Digest> children)
    {
        if (referenceKinds.Length != referenceBlobs.Length || referenceDigests.Length != referenceBlobs.Length)
        {
            throw new ArgumentException($"{referenceBlobs.Length} references, {referenceDigests.Length} digests and {referenceKinds.Length} kinds.", nameof(referenceKinds));
        }

        if (_anyKeyedRef)
        {
            throw new InvalidOperationException("References by blob ordinal and by store key in one snapshot.");
        }

        var a = AddArtifact(artifact.Repository, artifact.Digest, artifact.MediaType, artifact.Kind, artifact.Size, artifact.PushedAtTicks,
            artifact.Version, artifact.Trashed, artifact.ParseProblem, referenceBlobs.Length, children.Length);
        referenceKinds.CopyTo(_refKinds.AsSpan(_refCount));
        for (var r = 0; r < referenceBlobs.Length; r++)
        {
            var at = _refCount++;
            var blob = referenceBlobs[r];
            if (blob >= 0)
            {
                // resolved through the blob's digest id once interning is done (ResolveKeyedReferences)
                _refs[at] = (uint)blob < (uint)_blobCount ? KeyedRef - blob
                    : throw new ArgumentOutOfRangeException(nameof(referenceBlobs), blob, $"The snapshot has delivered {_blobCount} blobs.");
                _blobOrdinalRefs = true;
            }
            else
            {
                _refs[at] = -1;
                _interner.Enqueue(referenceDigests[r], DigestInterner.Target.Reference, at);
            }
        }

        _refStart[a + 1] = _refCount;
        AddChildren(children);
        _childStart[a + 1] = _childCount;
    }

    public void OnArtifact(Artifact artifact) => OnArtifact(artifact, default, default);

    public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys) => OnArtifact(artifact, referenceKeys, default);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys, ReadOnlySpan<BlobReferenceKind> referenceKinds)
    {
        var references = artifact.References;
        var children = artifact.Children;
        var a = AddArtifact(artifact.Repository, artifact.Digest, artifact.MediaType, artifact.Kind, artifact.Size, artifact.PushedAt.UtcTicks,
            artifact.Version, artifact.Trashed, artifact.ParseProblem, references.Length, children.Length);

        if (!referenceKeys.IsEmpty)
        {
            if (_keyedSource.Length <= a)
            {
                Array.Resize(ref _keyedSource, Math.Max(_artRepo.Length, a + 1));
            }

            if (_blobOrdinalRefs)
            {
                throw new InvalidOperationException("References by blob ordinal and by store key in one snapshot.");
            }

            _keyedSource[a] = artifact;
            _anyKeyedRef = true;
        }

        // kinds from the store spare reading the reference records; a record is then read only for a reference without a key
        var kindsGiven = referenceKinds.Length == references.Length;
        if (kindsGiven)
        {
            referenceKinds.CopyTo(_refKinds.AsSpan(_refCount));
        }

        for (var r = 0; r < references.Length; r++)
        {
            var at = _refCount++;
            if (!kindsGiven)
            {
                _refKinds[at] = references[r].Kind;
            }

            var key = r < referenceKeys.Length ? referenceKeys[r] : -1;
            if (key >= 0)
            {
                _refs[at] = KeyedRef - key;
            }
            else
            {
                _refs[at] = -1;
                _interner.Enqueue(references[r].Digest, DigestInterner.Target.Reference, at);
            }
        }

        _refStart[a + 1] = _refCount;
        AddChildren(children.AsSpan());
        _childStart[a + 1] = _childCount;
    }

    /// <summary>Records an artifact's own columns (room made for its references and children) and returns its index.</summary>
    private int AddArtifact(RepositoryName repository, in Digest digest, string mediaType, ManifestKind kind, long size, long pushedAtTicks,
        long version, bool trashed, string? parseProblem, int references, int children)
    {
        if (_artifactCount + 1 >= _artRepo.Length || _refCount + references > _refs.Length ||
            _childCount + children > _childDigests.Length)
        {
            lock (_interner.ArraysLock)
            {
                if (_artifactCount + 1 >= _artRepo.Length)
                {
                    ResizeArtifacts(_artifactCount * 2);
                }

                GrowTo(ref _refs, _refCount + references);
                GrowTo(ref _refKinds, _refs.Length);
                GrowTo(ref _childDigests, _childCount + children);
            }
        }

        var a = _artifactCount++;
        _artRepo[a] = RepoId(repository);
        _artPushed[a] = pushedAtTicks;
        _artVersion[a] = version;
        _artSize[a] = size;
        _artMediaType[a] = Intern(mediaType);
        _artKind[a] = kind;
        _flags[a] = (kind == ManifestKind.Unknown ? ArtifactFlags.Unknown : ArtifactFlags.None) | (trashed ? ArtifactFlags.Trashed : ArtifactFlags.None);
        _artProblem[a] = kind == ManifestKind.Unknown ? parseProblem ?? mediaType : null;
        _interner.Enqueue(digest, DigestInterner.Target.Artifact, a);
        return a;
    }

    private void AddChildren(ReadOnlySpan<Digest> children)
    {
        foreach (ref readonly var child in children)
        {
            var at = _childCount++;
            _childDigests[at] = -1;
            _interner.Enqueue(child, DigestInterner.Target.Child, at);
        }
    }

    public void OnTag(Tag tag) => _tags.Add(tag);

    public void OnAccessoryLink(AccessoryLink link) => _links.Add(link);

    public void OnLayerLink(LayerLink link) => _layerLinks.Add(link);

    public void OnUpload(BlobUpload upload) => _uploads.Add(upload);

    public void OnProblem(StoreProblem problem) => _warnings.Add(new PlanWarning(problem.Location, problem.Message));

    /// <summary>Stops the interning thread if <see cref="Build"/> never ran (the store failed or the read was cancelled).</summary>
    public void Dispose() => _interner.Dispose();

    /// <summary>Called by the interner, under <see cref="DigestInterner.ArraysLock"/>, with the ids of a batch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    internal void Apply(ReadOnlySpan<DigestInterner.Target> kinds, ReadOnlySpan<int> positions, ReadOnlySpan<int> ids)
    {
        for (var i = 0; i < ids.Length; i++)
        {
            switch (kinds[i])
            {
                case DigestInterner.Target.Blob:
                    _blobDigest[positions[i]] = ids[i];
                    break;
                case DigestInterner.Target.Artifact:
                    _artDigest[positions[i]] = ids[i];
                    break;
                case DigestInterner.Target.Reference:
                    _refs[positions[i]] = ids[i];
                    break;
                default:
                    _childDigests[positions[i]] = ids[i];
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public RegistryGraph Build(CancellationToken cancellationToken)
    {
        if (_built)
        {
            throw new InvalidOperationException("The graph was already built.");
        }

        _built = true;
        var digests = _interner.Complete();
        cancellationToken.ThrowIfCancellationRequested();
        if (_anyKeyedRef || _blobOrdinalRefs)
        {
            ResolveKeyedReferences();
        }

        // blob of each digest, on the second core while the artifacts are indexed (digests added below, by layer links, have none)
        var digestCount = digests.Count;
        var digestToBlobTask = Task.Run(() => DigestToBlob(digestCount), cancellationToken);
        var artifactIndex = IndexArtifacts();
        var n = _artifactCount;
        for (var a = 0; a < n; a++)
        {
            if (_artProblem[a] is { } problem)
            {
                _warnings.Add(new PlanWarning($"{_repos[_artRepo[a]]}@{digests[_artDigest[a]]}",
                    $"unknown or unparsable manifest ({problem}): kept, with every digest it mentions"));
            }
        }

        // children: digest ids → artifact ids in the same repository
        var children = new int[_childCount];
        var childDigests = _childDigests;
        for (var a = 0; a < n; a++)
        {
            for (var c = _childStart[a]; c < _childStart[a + 1]; c++)
            {
                if (artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(_artRepo[a], childDigests[c]), out var child))
                {
                    children[c] = child;
                    _flags[child] |= ArtifactFlags.Child;
                }
                else
                {
                    children[c] = -1;
                    _warnings.Add(new PlanWarning($"{_repos[_artRepo[a]]}@{digests[_artDigest[a]]}",
                        $"index lists child {digests[childDigests[c]]}, which is not in the repository"));
                }
            }
        }

        // tags, resolved in chunks by a second thread and by this one once the accessory links are done (each lookup is a few
        // cache misses, so the two cores overlap them); the Tagged flags and warnings are applied afterwards, in tag order
        var tags = _tags.ToArray();
        var tagArtifact = new int[tags.Length];
        var tagResolver = new TagResolver(tags, tagArtifact, _repoIds, digests, artifactIndex);
        var tagsTask = tags.Length >= 2 * TagResolver.ChunkSize ? Task.Run(tagResolver.Run, cancellationToken) : Task.CompletedTask;

        // accessory links
        var linkWarnings = new List<PlanWarning>();
        var links = _links.ToArray();
        var artifactLink = new int[n];
        var subjectArtifact = new int[n];
        Array.Fill(artifactLink, -1);
        Array.Fill(subjectArtifact, -1);
        var accessoryCount = new int[n + 1];
        for (var l = 0; l < links.Length; l++)
        {
            var link = links[l];
            if (!_repoIds.TryGetValue(link.Repository, out var repo) || !digests.TryGet(link.Accessory, out var accessoryDigest) ||
                !artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, accessoryDigest), out var accessory))
            {
                continue; // a link whose accessory is gone: nothing to keep or delete
            }

            if (artifactLink[accessory] >= 0)
            {
                linkWarnings.Add(new PlanWarning($"{link.Repository}@{link.Accessory}", "the store has two accessory links for this artifact; the first was used"));
                continue;
            }

            artifactLink[accessory] = l;
            _flags[accessory] |= link.Strength == ReferenceStrength.Hard ? ArtifactFlags.HardAccessory : ArtifactFlags.SoftAccessory;
            if (digests.TryGet(link.Subject, out var subjectDigest) &&
                artifactIndex.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, subjectDigest), out var subject))
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

        tagResolver.Run();
        tagsTask.GetAwaiter().GetResult();
        for (var t = 0; t < tags.Length; t++)
        {
            if (tagArtifact[t] >= 0)
            {
                _flags[tagArtifact[t]] |= ArtifactFlags.Tagged;
            }
            else
            {
                _warnings.Add(new PlanWarning($"{tags[t].Repository}:{tags[t].Name}", $"tag points at {tags[t].Digest}, which is not in the repository"));
            }
        }

        _warnings.AddRange(linkWarnings);
        // layer links
        var layerLinks = _layerLinks.ToArray();
        var layerLinkRepo = new int[layerLinks.Length];
        var layerLinkDigest = new int[layerLinks.Length];
        for (var i = 0; i < layerLinks.Length; i++)
        {
            layerLinkRepo[i] = RepoId(layerLinks[i].Repository);
            layerLinkDigest[i] = digests.GetOrAdd(layerLinks[i].Digest);
        }

        var digestToBlob = digestToBlobTask.GetAwaiter().GetResult();
        if (digests.Count > digestToBlob.Length)
        {
            var grown = new int[digests.Count];
            digestToBlob.AsSpan().CopyTo(grown);
            grown.AsSpan(digestToBlob.Length).Fill(-1);
            digestToBlob = grown;
        }

        return new RegistryGraph
        {
            Digests = digests,
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
            Refs = _refs,
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
            Uploads = [.. _uploads],
            Warnings = _warnings,
            ArtifactIndex = artifactIndex,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private int[] DigestToBlob(int digestCount)
    {
        var digestToBlob = new int[digestCount];
        Array.Fill(digestToBlob, -1);
        for (var b = 0; b < _blobCount; b++)
        {
            digestToBlob[_blobDigest[b]] = b;
        }

        return digestToBlob;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private void ResolveKeyedReferences()
    {
        // key → digest id, then each keyed reference in one pass (split over the cores: both arrays are only read); a blob ordinal
        // is its own key, checked against the blobs delivered when it was given
        int[] keyToId;
        if (_blobOrdinalRefs)
        {
            keyToId = _blobDigest;
        }
        else
        {
            keyToId = new int[_keyToBlob.Length];
            for (var key = 0; key < keyToId.Length; key++)
            {
                var blob = _keyToBlob[key];
                keyToId[key] = blob >= 0 ? _blobDigest[blob] : -1;
            }
        }

        var refs = _refs;
        var count = _refCount;
        var parts = Math.Clamp(count / (1 << 20), 1, Environment.ProcessorCount);
        var unresolved = 0;
        Parallel.For(0, parts, part =>
        {
            var end = (int)((long)count * (part + 1) / parts);
            for (var r = (int)((long)count * part / parts); r < end; r++)
            {
                var v = refs[r];
                if (v <= KeyedRef)
                {
                    var key = KeyedRef - v;
                    var id = key < keyToId.Length ? keyToId[key] : -1;
                    if (id >= 0)
                    {
                        refs[r] = id;
                    }
                    else
                    {
                        Volatile.Write(ref unresolved, 1);
                    }
                }
            }
        });

        if (unresolved == 0)
        {
            return;
        }

        // keys of digests with no blob record in this snapshot (a dangling reference): resolve those by digest
        var digests = _interner.Table;
        for (var a = 0; a < _artifactCount; a++)
        {
            for (var r = _refStart[a]; r < _refStart[a + 1]; r++)
            {
                if (refs[r] <= KeyedRef)
                {
                    refs[r] = digests.GetOrAdd(_keyedSource[a]!.References[r - _refStart[a]].Digest);
                }
            }
        }
    }

    /// <summary>Indexes artifacts by (repository, digest id); a second listing of the same artifact is dropped with a warning.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private ArtifactIndex IndexArtifacts()
    {
        var index = new ArtifactIndex(_artifactCount);
        List<int>? duplicates = null;
        for (var a = 0; a < _artifactCount; a++)
        {
            if (!index.TryAdd(RegistryGraph.ArtifactKeyOf(_artRepo[a], _artDigest[a]), a))
            {
                (duplicates ??= []).Add(a);
            }
        }

        if (duplicates is null)
        {
            return index;
        }

        foreach (var a in duplicates)
        {
            _warnings.Add(new PlanWarning($"{_repos[_artRepo[a]]}@{_interner.Table[_artDigest[a]]}",
                "the store listed this artifact twice; the second copy was ignored"));
        }

        DropArtifacts(duplicates);
        index = new ArtifactIndex(_artifactCount);
        for (var a = 0; a < _artifactCount; a++)
        {
            index.TryAdd(RegistryGraph.ArtifactKeyOf(_artRepo[a], _artDigest[a]), a);
        }

        return index;
    }

    /// <summary>Removes artifacts (ascending ids) and their rows of references and children; the rare path of a bad store.</summary>
    private void DropArtifacts(List<int> drop)
    {
        var next = 0;
        int kept = 0, refAt = 0, childAt = 0;
        for (var a = 0; a < _artifactCount; a++)
        {
            var (r0, r1, c0, c1) = (_refStart[a], _refStart[a + 1], _childStart[a], _childStart[a + 1]);
            if (next < drop.Count && drop[next] == a)
            {
                next++;
                continue;
            }

            _artRepo[kept] = _artRepo[a];
            _artDigest[kept] = _artDigest[a];
            _artPushed[kept] = _artPushed[a];
            _artVersion[kept] = _artVersion[a];
            _artSize[kept] = _artSize[a];
            _artMediaType[kept] = _artMediaType[a];
            _artKind[kept] = _artKind[a];
            _flags[kept] = _flags[a];
            _artProblem[kept] = _artProblem[a];
            Array.Copy(_refs, r0, _refs, refAt, r1 - r0);
            Array.Copy(_refKinds, r0, _refKinds, refAt, r1 - r0);
            Array.Copy(_childDigests, c0, _childDigests, childAt, c1 - c0);
            _refStart[kept] = refAt;
            _childStart[kept] = childAt;
            refAt += r1 - r0;
            childAt += c1 - c0;
            kept++;
        }

        _artifactCount = kept;
        _refStart[kept] = _refCount = refAt;
        _childStart[kept] = _childCount = childAt;
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
        // most artifacts of a snapshot share a handful of media type strings, often the very same instances: skip the hashing
        if (ReferenceEquals(mediaType, _lastMediaType))
        {
            return _lastInterned!;
        }

        ref var interned = ref CollectionsMarshal.GetValueRefOrAddDefault(_mediaTypes, mediaType, out var exists);
        if (!exists)
        {
            interned = mediaType;
        }

        _lastMediaType = mediaType;
        _lastInterned = interned;
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
        Array.Resize(ref _artProblem, size);
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

    private static void GrowTo<T>(ref T[] array, int size)
    {
        if (size > array.Length)
        {
            Array.Resize(ref array, Math.Max(size, array.Length * 2));
        }
    }

    /// <summary>
    /// Resolves tags to artifacts in chunks that any number of threads claim in turn (read-only lookups: the repository ids, the
    /// digest table and the artifact index are complete and no longer written). An unresolved tag gets -1.
    /// </summary>
    private sealed class TagResolver(Tag[] tags, int[] tagArtifact, Dictionary<RepositoryName, int> repoIds, DigestTable digests, ArtifactIndex index)
    {
        public const int ChunkSize = 4096;
        private int _next = -1;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
        public void Run()
        {
            for (var chunk = Interlocked.Increment(ref _next); (long)chunk * ChunkSize < tags.Length; chunk = Interlocked.Increment(ref _next))
            {
                var end = Math.Min(tags.Length, (chunk + 1) * ChunkSize);
                for (var t = chunk * ChunkSize; t < end; t++)
                {
                    var tag = tags[t];
                    tagArtifact[t] = repoIds.TryGetValue(tag.Repository, out var repo) && digests.TryGet(tag.Digest, out var digest) &&
                                     index.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, digest), out var artifact)
                        ? artifact
                        : -1;
                }
            }
        }
    }
}
