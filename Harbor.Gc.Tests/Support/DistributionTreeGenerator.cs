using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// A seeded generator of a CNCF Distribution 2.8 storage tree, written through the tests' <see cref="DistributionTree"/> (the
/// files, link contents and file times the registry writes; compare <c>samples/registry</c>): repositories with flat and nested
/// names; images sharing a pool of base layers, and within a repository a few lineage layers; version tags that stay and moving
/// tags that leave old revisions untagged; multi-arch indexes whose children are pushed by digest (untagged); cosign
/// tag-scheme signatures (<c>sha256-HEX.sig</c>); OCI 1.1 referrers with a <c>subject</c> (notation signatures, SBOMs with
/// their own signature); uploaded blobs never referenced, and blob data no repository links. Docker schema 2 and OCI media
/// types are mixed by repository. Blob contents are small (tens to hundreds of bytes) and every push is dated between ten
/// and three days before the tree's <see cref="DistributionTree.Now"/>.
/// </summary>
/// <remarks>
/// What to write is decided first, in one seeded sequence; the files are then written a repository per thread, each
/// repository's writes in their order (a moved tag's last link wins), so the tree is the same whatever the thread count.
/// </remarks>
internal sealed class DistributionTreeGenerator
{
    private static readonly string[] MovingTags = ["latest", "dev", "nightly"];
    private static readonly string[] Architectures = ["amd64", "arm64", "s390x", "ppc64le"];
    private const int LinkLength = 7 + 64; // sha256:HEX, no newline
    private readonly DistributionTree _tree;
    private readonly Random _random;
    private readonly HashSet<Digest> _written = [];
    private readonly List<Action> _unlinked = [];
    private readonly List<Repository> _repositories = [];
    private Content[] _basePool = [];
    private long _serial;
    private int _manifests;
    private int _tags;
    private long _files;
    private long _bytes;

    public DistributionTreeGenerator(DistributionTree tree, int seed)
    {
        _tree = tree;
        _random = new Random(seed);
    }

    /// <summary>Repositories to write.</summary>
    public int Repositories { get; init; } = 300;

    /// <summary>Manifests (revisions) to write, about: the last push of a repository may go a few over.</summary>
    public int Manifests { get; init; } = 10_000;

    /// <summary>Base layers shared between repositories (a few in most images, most rare).</summary>
    public int BaseLayers { get; init; } = 400;

    /// <summary>The share of pushes given a release tag (<c>vN</c>, which stays: live).</summary>
    public double ReleaseTagShare { get; init; } = 0.72;

    /// <summary>The share of pushes by digest only (untagged: dead). The rest get a moving tag, which leaves the previous push untagged.</summary>
    public double UntaggedShare { get; init; } = 0.04;

    /// <summary>
    /// The project that flat repository names go under (<c>library/app7</c> instead of <c>app7</c>), for a Harbor installation's
    /// storage, where every repository is in a project; null (the default) keeps them flat.
    /// </summary>
    public string? FlatProject { get; init; }

    /// <summary>Writes the tree and counts what is in it.</summary>
    public DistributionTreeStats Generate(CancellationToken cancellationToken = default)
    {
        _basePool = [.. Enumerable.Range(0, BaseLayers).Select(i => new Content(Filler($"base layer {i} ", 80, 400)))];
        var remaining = Manifests;
        for (var r = 0; r < Repositories; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var average = (double)remaining / (Repositories - r);
            var budget = r == Repositories - 1 ? remaining : Math.Max(3, (int)(average * (0.3 + (1.4 * _random.NextDouble()))));
            var before = _manifests;
            var name = RepositoryName(r);
            var repository = new Repository(FlatProject is not null && !name.Contains('/', StringComparison.Ordinal) ? $"{FlatProject}/{name}" : name, Docker: r % 5 == 1);
            _repositories.Add(repository);
            WriteRepository(repository, budget);
            remaining = Math.Max(0, remaining - (_manifests - before));
        }

        // blob data that no repository links any more (its repository folder was removed by hand)
        for (var i = 0; i < Manifests / 50; i++)
        {
            var bytes = Filler($"unlinked {i} ", 40, 300);
            var age = Age(0.5);
            _written.Add(Digest.Sha256Of(bytes));
            Count(bytes.Length);
            _unlinked.Add(() => _tree.WriteBlob(bytes, age));
        }

        Parallel.ForEach(_repositories.Select(r => r.Writes).Append(_unlinked),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken }, writes =>
            {
                foreach (var write in writes)
                {
                    write();
                }
            });
        return new DistributionTreeStats(Repositories, _manifests, _tags, _written.Count, _files, _bytes);
    }

    private static string RepositoryName(int r) => (r % 7, r % 11) switch
    {
        (0, _) => $"app{r}",
        (_, 3) => $"org{r % 5}/team{r % 13}/svc{r}",
        _ => $"team{r % 40}/app{r}",
    };

    private void WriteRepository(Repository repository, int budget)
    {
        var lineage = Enumerable.Range(0, 4).Select(i => new Content(Filler($"{repository.Name} lineage {i} ", 100, 500))).ToArray();
        var start = _manifests;
        var version = 0;
        while (_manifests - start < budget)
        {
            // pushes in time order, from ten days back to three
            var age = Age((double)(_manifests - start) / budget);
            Ref top;
            if (_random.NextDouble() < 0.08)
            {
                var children = Architectures.Take(_random.Next(2, 5)).Select(a => Image(repository, lineage, age, a)).ToList();
                var json = IndexJson(repository.Docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, children);
                top = Push(repository, json, repository.Docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, age);
            }
            else
            {
                top = Image(repository, lineage, age, "amd64");
            }

            var u = _random.NextDouble();
            if (u < ReleaseTagShare)
            {
                Tag(repository, $"v{version++}", top, age); // a release tag: stays
                if (_random.NextDouble() < 0.4)
                {
                    Tag(repository, "latest", top, age);
                }
            }
            else if (u < 1 - UntaggedShare)
            {
                Tag(repository, MovingTags[1 + _random.Next(2)], top, age); // dev or nightly moves: the previous one is left untagged
            }

            // else: pushed by digest only (untagged)
            if (_random.NextDouble() < 0.2)
            {
                CosignSignature(repository, top, age);
            }

            var v = _random.NextDouble();
            if (v < 0.04)
            {
                Referrer(repository, top, MediaTypes.NotationSignature, "application/jose+json", age);
            }
            else if (v < 0.055)
            {
                var sbom = Referrer(repository, top, "application/spdx+json", "application/spdx+json", age);
                Referrer(repository, sbom, MediaTypes.NotationSignature, "application/jose+json", age);
            }

            if (_random.NextDouble() < 0.05)
            {
                Upload(repository, Filler("uploaded, never referenced ", 40, 300), age); // a push that failed after its upload
            }
        }
    }

    private Ref Image(Repository repository, Content[] lineage, TimeSpan age, string architecture)
    {
        var docker = repository.Docker;
        var config = Upload(repository, Filler($"{{\"architecture\":\"{architecture}\",\"os\":\"linux\",\"config\":{{\"Labels\":{{\"serial\":\"", 60, 400, "\"}}}"), age,
            docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig);
        var layerType = docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip;
        var layers = new List<Ref>();
        foreach (var index in BasePicks())
        {
            layers.Add(Upload(repository, _basePool[index], age, layerType));
        }

        layers.Add(Upload(repository, lineage[_random.Next(lineage.Length)], age, layerType));
        for (var i = _random.Next(3, 5); i > 0; i--)
        {
            layers.Add(Upload(repository, Filler($"{repository.Name} layer ", 30, 600), age, layerType));
        }

        var mediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        return Push(repository, ManifestJson(mediaType, config, layers), mediaType, age);
    }

    /// <summary>Two distinct base layers, skewed: a few are in most images.</summary>
    private IEnumerable<int> BasePicks()
    {
        var first = Pick();
        var second = Pick();
        return second == first ? [first] : [first, second];

        int Pick()
        {
            var u = _random.NextDouble();
            return (int)(_basePool.Length * u * u * u);
        }
    }

    /// <summary>A cosign signature as <c>cosign sign</c> pushes it to a registry without the referrers API: tag <c>sha256-HEX.sig</c>.</summary>
    private void CosignSignature(Repository repository, Ref subject, TimeSpan age)
    {
        var payload = Upload(repository, Encoding.UTF8.GetBytes(
            $$"""{"critical":{"identity":{"docker-reference":"registry.example/{{repository.Name}}"},"image":{"docker-manifest-digest":"{{subject.Digest}}"},"type":"cosign container image signature"},"optional":null}"""),
            age, MediaTypes.CosignSimpleSigning);
        var config = Upload(repository, Encoding.UTF8.GetBytes(
            $$$"""{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["{{{payload.Digest}}}"]},"config":{}}"""),
            age, MediaTypes.OciConfig);
        var signature = Convert.ToBase64String(Filler(string.Empty, 70, 72));
        var json = ManifestJson(MediaTypes.OciManifest, config, [payload], layerExtra: $$"""
            "annotations":{"dev.cosignproject.cosign/signature":"{{signature}}"}
            """);
        var pushed = Push(repository, json, MediaTypes.OciManifest, age);
        Tag(repository, $"sha256-{subject.Digest.Hex}.sig", pushed, age);
    }

    /// <summary>An OCI 1.1 referrer (empty config, one blob, <c>artifactType</c> and <c>subject</c>), pushed by digest.</summary>
    private Ref Referrer(Repository repository, Ref subject, string artifactType, string blobType, TimeSpan age)
    {
        var blob = Upload(repository, Filler($"{artifactType} of {subject.Digest} ", 60, 300), age, blobType);
        var config = Upload(repository, new Content("{}"u8.ToArray()), age, MediaTypes.OciEmpty);
        return Push(repository, ManifestJson(MediaTypes.OciManifest, config, [blob], artifactType, subject), MediaTypes.OciManifest, age);
    }

    private Ref Upload(Repository repository, byte[] bytes, TimeSpan age, string mediaType = "application/octet-stream") =>
        Upload(repository, new Content(bytes), age, mediaType);

    /// <summary>A blob upload into a repository: the blob's data (once for the whole registry) and the repository's layer link.</summary>
    private Ref Upload(Repository repository, Content content, TimeSpan age, string mediaType)
    {
        if (_written.Add(content.Digest))
        {
            Count(content.Bytes.Length);
            repository.Writes.Add(() => _tree.WriteBlob(content.Bytes, age));
        }

        if (repository.Linked.Add(content.Digest))
        {
            Count(LinkLength);
            repository.Writes.Add(() => DistributionTree.WriteLink(Path.Combine(_tree.LayerFolder(repository.Name, content.Digest), "link"), content.Digest, age, _tree.Now));
        }

        return new Ref(content.Digest, content.Bytes.Length, mediaType);
    }

    private Ref Push(Repository repository, byte[] json, string mediaType, TimeSpan age)
    {
        var digest = Digest.Sha256Of(json);
        _written.Add(digest);
        Count(json.Length);
        Count(LinkLength); // the revision link
        repository.Writes.Add(() => _tree.Push(repository.Name, json, age));
        _manifests++;
        return new Ref(digest, json.Length, mediaType);
    }

    private void Tag(Repository repository, string tag, Ref target, TimeSpan age)
    {
        if (repository.Tags.Add(tag))
        {
            _tags++;
            Count(LinkLength); // current/link, rewritten when the tag moves
        }

        if (repository.TagIndex.Add((tag, target.Digest)))
        {
            Count(LinkLength); // the tag's index entry
        }

        repository.Writes.Add(() => _tree.Tag(repository.Name, tag, target.Digest, age));
    }

    private static byte[] ManifestJson(string mediaType, Ref config, IEnumerable<Ref> layers, string? artifactType = null, Ref? subject = null, string? layerExtra = null)
    {
        var json = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").Append(mediaType).Append('"');
        if (artifactType is not null)
        {
            json.Append(",\"artifactType\":\"").Append(artifactType).Append('"');
        }

        json.Append(",\"config\":").Append(Descriptor(config))
            .Append(",\"layers\":[").AppendJoin(',', layers.Select(l => Descriptor(l, layerExtra))).Append(']');
        if (subject is { } s)
        {
            json.Append(",\"subject\":").Append(Descriptor(s));
        }

        return Encoding.UTF8.GetBytes(json.Append('}').ToString());
    }

    private static byte[] IndexJson(string mediaType, IEnumerable<Ref> children) =>
        Encoding.UTF8.GetBytes(new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").Append(mediaType).Append("\",\"manifests\":[")
            .AppendJoin(',', children.Select((c, i) => Descriptor(c, $$"""
                "platform":{"architecture":"{{Architectures[i]}}","os":"linux"}
                """)))
            .Append("]}").ToString());

    private static string Descriptor(Ref reference, string? extra = null) => Support.Manifests.Descriptor(reference.Digest, reference.Size, reference.MediaType, extra);

    /// <summary>Between ten days back (<paramref name="progress"/> 0) and three days back (1).</summary>
    private TimeSpan Age(double progress) => TimeSpan.FromDays(10 - (7 * progress)) - TimeSpan.FromSeconds(_random.Next(0, 600));

    /// <summary>Distinct content: a prefix, a serial number and printable filler, <paramref name="min"/> to <paramref name="max"/> bytes.</summary>
    private byte[] Filler(string prefix, int min, int max, string suffix = "")
    {
        var text = new StringBuilder(prefix).Append(_serial++).Append(' ');
        var length = _random.Next(min, max);
        while (text.Length < length)
        {
            text.Append((char)('a' + _random.Next(26)));
        }

        return Encoding.UTF8.GetBytes(text.Append(suffix).ToString());
    }

    private void Count(long bytes)
    {
        _files++;
        _bytes += bytes;
    }

    private sealed record Repository(string Name, bool Docker)
    {
        public HashSet<Digest> Linked { get; } = [];

        public HashSet<string> Tags { get; } = [];

        public HashSet<(string Tag, Digest Digest)> TagIndex { get; } = [];

        /// <summary>The repository's files to write, in push order.</summary>
        public List<Action> Writes { get; } = [];
    }

    private readonly record struct Ref(Digest Digest, long Size, string MediaType);

    private sealed class Content(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public Digest Digest { get; } = Digest.Sha256Of(bytes);
    }
}

/// <summary>What a generated tree holds.</summary>
internal sealed record DistributionTreeStats(int Repositories, int Manifests, int Tags, int Blobs, long Files, long Bytes)
{
    public override string ToString() =>
        $"{Repositories:N0} repositories, {Manifests:N0} manifests, {Tags:N0} tags, {Blobs:N0} blobs, {Files:N0} files, {Bytes / 1e6:N1} MB";
}
