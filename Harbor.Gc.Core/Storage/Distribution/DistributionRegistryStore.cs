using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// A store over the storage tree of a CNCF Distribution registry (<c>registry:2</c>, Debian's <c>docker-registry</c>): the folder
/// its <c>rootdirectory</c> names, holding <c>docker/registry/v2</c>. See <see cref="DistributionLayout"/> for the paths; every
/// access to them goes through an <see cref="IStorageDriver"/>.
/// </summary>
/// <remarks>
/// <para>
/// Reading: repositories are the folders holding <c>_manifests</c>, <c>_layers</c> or <c>_uploads</c> (names nest; folders starting
/// with <c>_</c> are never repository names); artifacts are the revisions, read from their manifest blobs (each blob file read
/// once, repositories in parallel); push times are the revision and tag link file times; blobs are the blob folders, with their
/// data file's time (or, without one, the folder's) as created/updated. Accessories are found by <c>subject</c> and by cosign
/// tag-scheme tags.
/// </para>
/// <para>
/// Conservative by construction: a malformed, dangling or unreadable link is reported with its path, never followed into a path
/// and never a reason to delete. A revision whose link is malformed is kept (as an unknown manifest), and so is every manifest of
/// a repository with an unreadable tag (the tag might have pointed at any of them). A manifest whose data cannot be read as a
/// manifest (missing, not a regular file, over 4 MiB, not hashing to its digest, not a manifest) is kept as unknown, with every
/// blob its repository links: it might use any of them. A symbolic link anywhere in the layout, or a repository folder whose name
/// is not a repository name, refuses the whole tree (<see cref="DistributionTreeRefusedException"/>): Distribution writes no links
/// and follows them when it serves, so what one reaches may be live.
/// </para>
/// <para>
/// Deleting: Distribution keeps no blob status and takes no lock against a collector, so no re-check alone can close the race
/// between a registry request that found an object present and the delete. A real run therefore first moves every item it would
/// delete out of the registry's sight, into a quarantine inside the layout (<c>_harbor-gc/quarantine</c>, a rename on the same
/// file system), waits <see cref="GracePeriod"/> — longer than any registry request that could have seen the item — re-reads the
/// tree, puts back everything a revision, tag or link now needs, and only then deletes the rest (DESIGN.md §5). A run that stops
/// or fails puts everything back; one that is killed leaves its quarantine to the next real run, which puts it back before it
/// reads. Real runs on one tree take a lock (the layout folder's <c>flock</c>; on S3 a lease of claim objects under <c>_harbor-gc/lease</c>), so
/// two never overlap.
/// </para>
/// <para>
/// Uploads: every UUID-named folder under a repository's <c>_uploads</c> is an unfinished upload, dated by its <c>startedat</c>
/// file and by its last write (the later of the <c>data</c> file's and the folder's modification times). A missing or unreadable
/// <c>startedat</c> is reported; the registry cannot resume such an upload (its <c>Resume</c> fails without a readable
/// <c>startedat</c>), so it is dated by its last write alone and goes once that is older than the time window. Distribution's own
/// purger (<c>registry/storage/purgeuploads.go</c>) would keep it forever instead. A folder under <c>_uploads</c> that is not named
/// by a UUID is reported and left alone. An upload is deleted (its folder, recursively) only when it is still exactly as the plan
/// saw it.
/// </para>
/// </remarks>
public sealed partial class DistributionRegistryStore : IRegistryStore, IDeferredSweepStore, IDisposable
{
    /// <summary>The default <see cref="GracePeriod"/>: one minute.</summary>
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromMinutes(1);

    private readonly IStorageDriver _driver;
    private readonly bool _ownsDriver;
    private readonly TimeProvider _time;
    private readonly int _parallelism;
    private readonly string _rootDirectory;
    private readonly object _lock = new();
    private readonly Dictionary<Digest, BlobStatus> _status = [];

    // what the last snapshot saw, for the re-checks of a sweep
    private Dictionary<RepositoryName, RepositoryState> _repositories = [];
    private Dictionary<Digest, ManifestInfo> _manifests = [];
    private Dictionary<Digest, List<ArtifactKey>>? _referrers;

    /// <summary>Opens the storage tree of a Distribution registry.</summary>
    /// <param name="rootDirectory">The registry's <c>rootdirectory</c> (the folder holding <c>docker/registry/v2</c>).</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="parallelism">Folders read at once; twice the processor count when null.</param>
    /// <exception cref="DirectoryNotFoundException">There is no <c>docker/registry/v2</c> under <paramref name="rootDirectory"/>.</exception>
    public DistributionRegistryStore(string rootDirectory, TimeProvider? timeProvider = null, int? parallelism = null)
        : this(rootDirectory, timeProvider, parallelism, portableDriver: false)
    {
    }

    /// <summary>Opens the tree, on the portable driver when <paramref name="portableDriver"/> (for tests of it).</summary>
    internal DistributionRegistryStore(string rootDirectory, TimeProvider? timeProvider, int? parallelism, bool portableDriver)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        _rootDirectory = rootDirectory;
        var root = FileSystemStorageDriver.Resolve(rootDirectory);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"distribution:{rootDirectory}: the folder '{Path.GetFullPath(rootDirectory)}' does not exist.");
        }

        var v2 = Path.Combine(root, "docker", "registry", "v2");
        if (!Directory.Exists(v2))
        {
            throw new DirectoryNotFoundException(
                $"distribution:{rootDirectory}: '{root}' holds no docker/registry/v2 folder; give the registry's storage rootdirectory.");
        }

        // links above v2 (the root itself, docker, registry, v2) are followed once, here; none below it ever is
        _driver = FileSystemStorageDriver.Open(v2, portableDriver);
        Root = Path.GetFullPath(rootDirectory);
        _time = timeProvider ?? TimeProvider.System;
        _parallelism = parallelism ?? Environment.ProcessorCount * 2;
        ArgumentOutOfRangeException.ThrowIfLessThan(_parallelism, 1, nameof(parallelism));
    }

    /// <summary>
    /// Opens the layout on <paramref name="driver"/>, whose root is the <c>docker/registry/v2</c> folder (an S3 bucket's prefix, issue
    /// 17). On an object store (<see cref="IObjectStorageDriver"/>) a snapshot reads one flat listing of the layout
    /// (<see cref="ListedLayoutDriver"/>), everything else the live driver; a real run takes the driver's lock (on S3 a lease, checked before each
    /// step that changes the bucket) and, on an object store, puts quarantined items back object by object (DESIGN.md, "S3 storage:
    /// real runs").
    /// </summary>
    /// <param name="driver">The driver.</param>
    /// <param name="root">The registry's storage root, for messages and <see cref="Description"/> (<c>s3://BUCKET/ROOT</c>).</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="parallelism">Folders read at once; twice the processor count when null.</param>
    /// <param name="ownsDriver">Dispose the driver with the store.</param>
    internal DistributionRegistryStore(IStorageDriver driver, string root, TimeProvider? timeProvider = null, int? parallelism = null, bool ownsDriver = false)
    {
        _ownsDriver = ownsDriver;
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentException.ThrowIfNullOrEmpty(root);
        _driver = driver;
        _rootDirectory = root;
        Root = root;
        _time = timeProvider ?? TimeProvider.System;
        _parallelism = parallelism ?? Environment.ProcessorCount * 2;
        ArgumentOutOfRangeException.ThrowIfLessThan(_parallelism, 1, nameof(parallelism));
    }

    /// <summary>Disposes the driver when the store owns it (one it opened over a bucket), and its manifest cache; a folder's driver holds nothing.</summary>
    public void Dispose()
    {
        if (_ownsDriver)
        {
            (_driver as IDisposable)?.Dispose();
        }

        ManifestCache?.Dispose();
    }

    /// <summary>The registry's storage root as given (made absolute).</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string Description => $"distribution:{Root}";

    /// <summary>
    /// How long a real run keeps what it would delete out of the registry's sight before it re-checks and deletes it: longer than
    /// any registry request takes between finding an object present and writing what refers to it (a manifest push's check of its
    /// blobs and its revision link, a blob upload's or mount's check and its layer link). 0 re-checks at once, which leaves the
    /// requests in flight at that moment unprotected.
    /// </summary>
    /// <value>Defaults to <see cref="DefaultGracePeriod"/> (one minute); 0 or more.</value>
    public TimeSpan GracePeriod
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero, nameof(GracePeriod));
            field = value;
        }
    } = DefaultGracePeriod;

    /// <summary>The driver's root: the resolved <c>docker/registry/v2</c> folder.</summary>
    internal string LayoutRoot => _driver.Root;

    /// <summary>
    /// Why collecting untagged artifacts would delete everything here, when the last snapshot looked like the storage of Harbor 2.15
    /// or later (manifests in repositories, but not one tag folder: tags live in Harbor's database, goharbor/harbor#22507); null
    /// otherwise.
    /// </summary>
    public string? TaglessReason { get; private set; }

    private StoreProblem Problem(string path, string message) => new(_driver.Describe(path), message);

    /// <summary>A repository as the snapshot saw it.</summary>
    private sealed class RepositoryState
    {
        public List<Artifact> Artifacts { get; } = [];

        public List<Tag> Tags { get; } = [];

        public List<AccessoryLink> AccessoryLinks { get; } = [];

        public List<LayerLink> LayerLinks { get; } = [];

        public List<BlobUpload> Uploads { get; } = [];

        /// <summary>The modification time of each layer link the snapshot read, by blob (a folder without a readable one: null).</summary>
        public Dictionary<Digest, DateTimeOffset?> LinkTimes { get; } = [];

        /// <summary>Blobs whose layer link here is there but cannot be read (malformed, a folder, a FIFO): kept, with the link.</summary>
        public List<Digest> UnreadableLinks { get; } = [];

        public bool HasTagsFolder { get; set; }

        public bool HasRevisions => Artifacts.Count > 0;
    }

    /// <summary>What a manifest's bytes say, whatever repository holds it: what it references, lists and names as subject.</summary>
    /// <param name="References">Blobs it references (its own bytes, config, layers).</param>
    /// <param name="Children">Manifests it lists (an index).</param>
    /// <param name="Subject">Its subject, if any.</param>
    /// <param name="Readable">False when its bytes could not be read as a manifest: it might use any blob its repository links.</param>
    private sealed record ManifestInfo(Digest[] References, Digest[] Children, Digest? Subject, bool Readable);
}
