using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.DependencyInjection;

/// <summary>
/// What <see cref="HarborGcServiceCollectionExtensions.AddHarborGc(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{HarborGcOptions})"/>
/// registers: the store, the GC defaults and the immutable-tag rules. Bound from the configuration section
/// <see cref="SectionName"/> and/or set by a delegate; validated at start by <see cref="HarborGcOptionsValidator"/>, which lists
/// every bad value with its configuration key.
/// </summary>
public sealed class HarborGcOptions
{
    /// <summary>The configuration section these options are bound from: <c>HarborGc</c>.</summary>
    public const string SectionName = "HarborGc";

    /// <summary>The store (configuration keys <c>HarborGc:Store:*</c>).</summary>
    public HarborGcStoreOptions Store { get; set; } = new();

    /// <summary>
    /// The defaults of a GC run (<c>HarborGc:Gc:DeleteUntagged</c>, <c>TimeWindow</c>, <c>Workers</c>, <c>MaxDuration</c>,
    /// <c>DryRun</c>). The collector takes options per run: pass a <see cref="GcOptions.Clone"/> of these and change what the run needs.
    /// </summary>
    public GcOptions Gc { get; set; } = new();

    /// <summary>The immutable-tag rules the registry API enforces (<c>HarborGc:Immutability:*</c>); none by default.</summary>
    public HarborGcImmutabilityOptions Immutability { get; set; } = new();

    /// <summary>What binding from configuration could not read (a duration that is not one), by key, for the validator to list.</summary>
    internal List<string> BindingProblems { get; } = [];
}

/// <summary>Which store <see cref="HarborGcStoreOptions"/> opens.</summary>
public enum HarborGcStoreKind
{
    /// <summary>The embedded store (<c>litedb:PATH</c>): the LiteDB file <see cref="HarborGcStoreOptions.Path"/> and its blob folder. Writable.</summary>
    LiteDb,

    /// <summary>A CNCF Distribution storage tree (<c>distribution:DIR</c>) at <see cref="HarborGcStoreOptions.Root"/>. Read for GC only: no registry API.</summary>
    Distribution,

    /// <summary>An in-memory store, empty at start and gone at the end (tests, demos). Writable.</summary>
    InMemory,

    /// <summary>
    /// The shared store (<c>postgres:</c>): metadata in the PostgreSQL database <see cref="HarborGcStoreOptions.ConnectionString"/>,
    /// blob bytes in <see cref="HarborGcStoreOptions.BlobsPath"/>, for several registry processes and collectors. Writable.
    /// </summary>
    Postgres,
}

/// <summary>The store the container opens once (a singleton) and disposes with the container; the forms of the Runner's <c>--store</c>.</summary>
public sealed class HarborGcStoreOptions
{
    /// <summary>Which store. Default: <see cref="HarborGcStoreKind.LiteDb"/>.</summary>
    public HarborGcStoreKind Kind { get; set; } = HarborGcStoreKind.LiteDb;

    /// <summary>For <see cref="HarborGcStoreKind.LiteDb"/>: the database file. Required for that kind; its folder must exist.</summary>
    public string? Path { get; set; }

    /// <summary>
    /// For <see cref="HarborGcStoreKind.LiteDb"/>: the blob folder; by default <c>blobs</c> beside the database file. For
    /// <see cref="HarborGcStoreKind.Postgres"/>: the blob folder every process of the store shares; required.
    /// </summary>
    public string? BlobsPath { get; set; }

    /// <summary>
    /// For <see cref="HarborGcStoreKind.Postgres"/>: the Npgsql connection string of the store's own database (a password in it, or
    /// none and Npgsql's <c>PGPASSWORD</c> or pgpass file). Required for that kind.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// For <see cref="HarborGcStoreKind.LiteDb"/>: how the file is opened. Default: <see cref="LiteDbConnectionMode.Shared"/>, so a
    /// separate <c>harbor-gc</c> can run on the store; <see cref="LiteDbConnectionMode.Direct"/> when only this process uses it.
    /// </summary>
    public LiteDbConnectionMode Connection { get; set; } = LiteDbConnectionMode.Shared;

    /// <summary>
    /// For <see cref="HarborGcStoreKind.LiteDb"/>: create an empty store when the file does not exist; for
    /// <see cref="HarborGcStoreKind.Postgres"/>: create the schema in an empty database (and the blob folder). Default: <see langword="true"/>
    /// (the embedding registry owns its store; unlike the <c>harbor-gc</c> command, which never creates one).
    /// </summary>
    public bool CreateIfMissing { get; set; } = true;

    /// <summary>
    /// For <see cref="HarborGcStoreKind.LiteDb"/> and <see cref="HarborGcStoreKind.Postgres"/>: keep the blob bytes in an S3 bucket
    /// instead of a folder (configuration keys <c>HarborGc:Store:S3Blobs:Bucket</c>, <c>Prefix</c>, <c>Endpoint</c>, <c>Region</c>);
    /// <see cref="BlobsPath"/> must then be empty. Credentials are never here: the AWS SDK's standard chain finds them.
    /// </summary>
    public HarborGcS3BlobsOptions? S3Blobs { get; set; }

    /// <summary>For <see cref="HarborGcStoreKind.Distribution"/>: the registry's storage <c>rootdirectory</c>. Required for that kind.</summary>
    public string? Root { get; set; }

    /// <summary>
    /// For <see cref="HarborGcStoreKind.Distribution"/>: how long a real run keeps what it deletes out of the registry's sight before it
    /// re-checks and deletes it (<see cref="Storage.Distribution.DistributionRegistryStore.GracePeriod"/>).
    /// </summary>
    /// <value>Defaults to one minute; 0 or more.</value>
    public TimeSpan GracePeriod { get; set; } = Storage.Distribution.DistributionRegistryStore.DefaultGracePeriod;

    /// <summary>Uses the LiteDB store <paramref name="path"/>.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="connection">How the file is opened.</param>
    /// <returns>These options.</returns>
    public HarborGcStoreOptions UseLiteDb(string path, LiteDbConnectionMode connection = LiteDbConnectionMode.Shared)
    {
        Kind = HarborGcStoreKind.LiteDb;
        Path = path;
        Connection = connection;
        return this;
    }

    /// <summary>Uses the Distribution storage tree at <paramref name="root"/> (GC only; no registry API).</summary>
    /// <param name="root">The storage root directory.</param>
    /// <returns>These options.</returns>
    public HarborGcStoreOptions UseDistribution(string root)
    {
        Kind = HarborGcStoreKind.Distribution;
        Root = root;
        return this;
    }

    /// <summary>Uses the PostgreSQL store of <paramref name="connectionString"/>, its blob bytes in <paramref name="blobsPath"/>.</summary>
    /// <param name="connectionString">The Npgsql connection string of the store's database.</param>
    /// <param name="blobsPath">The blob folder (shared by every process of the store).</param>
    /// <returns>These options.</returns>
    public HarborGcStoreOptions UsePostgres(string connectionString, string blobsPath)
    {
        Kind = HarborGcStoreKind.Postgres;
        ConnectionString = connectionString;
        BlobsPath = blobsPath;
        return this;
    }

    /// <summary>Keeps the LiteDB or PostgreSQL store's blob bytes in <paramref name="bucket"/> under <paramref name="prefix"/> instead of a folder.</summary>
    /// <param name="bucket">The bucket (it must exist).</param>
    /// <param name="prefix">The key prefix (no leading or trailing <c>/</c>); empty for the whole bucket.</param>
    /// <param name="endpoint">An S3-compatible server's address; AWS when null.</param>
    /// <param name="region">The region requests are signed for; <c>us-east-1</c> when null.</param>
    /// <returns>These options.</returns>
    public HarborGcStoreOptions UseS3Blobs(string bucket, string prefix = "", string? endpoint = null, string? region = null)
    {
        BlobsPath = null;
        S3Blobs = new HarborGcS3BlobsOptions { Bucket = bucket, Prefix = prefix, Endpoint = endpoint, Region = region };
        return this;
    }

    /// <summary>Uses a new in-memory store.</summary>
    /// <returns>These options.</returns>
    public HarborGcStoreOptions UseInMemory()
    {
        Kind = HarborGcStoreKind.InMemory;
        return this;
    }
}

/// <summary>
/// The immutable-tag rules (DESIGN.md §7): either a file of Harbor's exported rules (<see cref="ImmutableRulesJson"/>) or typed
/// <see cref="ImmutabilityRules"/>, not both.
/// </summary>
public sealed class HarborGcImmutabilityOptions
{
    /// <summary>A JSON file of Harbor's immutable tag rules, read once when the container first needs them.</summary>
    public string? RulesFile { get; set; }

    /// <summary>The project of a file holding a bare array of rules (a file of <c>{"project", "rules"}</c> sets names its own).</summary>
    public string? Project { get; set; }

    /// <summary>The rules in code (not bindable from configuration).</summary>
    public ImmutabilityRules? Rules { get; set; }
}

/// <summary>Where the LiteDB or PostgreSQL store keeps its blob bytes in S3 (<see cref="HarborGcStoreOptions.S3Blobs"/>); never a credential.</summary>
public sealed class HarborGcS3BlobsOptions
{
    /// <summary>The bucket. Required; it must exist.</summary>
    public string? Bucket { get; set; }

    /// <summary>The key prefix the blobs are under (no leading or trailing <c>/</c>); the whole bucket when empty. It belongs to one store.</summary>
    public string Prefix { get; set; } = string.Empty;

    /// <summary>An S3-compatible server's <c>http://</c> or <c>https://</c> address, without a path or credentials; AWS when empty.</summary>
    public string? Endpoint { get; set; }

    /// <summary>The region requests are signed for; <c>us-east-1</c> when empty.</summary>
    public string? Region { get; set; }

    /// <summary>The store's options (valid only once <see cref="HarborGcOptionsValidator"/> accepted these).</summary>
    internal Storage.Blobs.S3BlobStoreOptions ToStoreOptions() => new()
    {
        Bucket = Bucket!,
        Prefix = Prefix,
        Endpoint = string.IsNullOrEmpty(Endpoint) ? null : new Uri(Endpoint),
        Region = string.IsNullOrEmpty(Region) ? null : Region,
    };
}
