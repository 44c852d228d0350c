namespace Harbor.Gc.Storage.LiteDb;

/// <summary>Where and how <see cref="LiteDbRegistryStore"/> keeps its metadata and bytes.</summary>
public sealed class LiteDbStoreOptions
{
    /// <summary>The name of the blob folder beside the database file, when <see cref="BlobsPath"/> is not given.</summary>
    public const string DefaultBlobsFolder = "blobs";

    /// <summary>The LiteDB database file (the metadata). <c>litedb:PATH</c> names it.</summary>
    public required string DatabasePath { get; init; }

    /// <summary>
    /// The folder of blob bytes (<c>sha256/ab/&lt;hex&gt;</c> below it); by default <see cref="DefaultBlobsFolder"/> beside the
    /// database file. The folder belongs to one database: it holds the database's store id, and any other database is refused.
    /// </summary>
    public string? BlobsPath { get; init; }

    /// <summary>
    /// Keep the blob bytes in an S3 bucket instead of a folder (<c>PREFIX/sha256/ab/&lt;hex&gt;</c>); <see cref="BlobsPath"/> must then
    /// be null. The prefix belongs to one store: it holds the store id, and any other store is refused. The cross-process lock a
    /// folder's marker file gives is then the file <c>DATABASE.owner</c> beside the database.
    /// </summary>
    public Blobs.S3BlobStoreOptions? S3Blobs { get; init; }

    /// <summary>Create an empty store when the database file does not exist; otherwise opening it fails. Default: false.</summary>
    public bool CreateIfMissing { get; init; }

    /// <summary>How the database file is opened. Default: <see cref="LiteDbConnectionMode.Shared"/>.</summary>
    public LiteDbConnectionMode Connection { get; init; } = LiteDbConnectionMode.Shared;

    /// <summary>
    /// Open the store only to read it (a dry run, an explanation): nothing in the database file, beside it or in the blob folder
    /// changes, and every write throws <see cref="InvalidOperationException"/>. Cannot be combined with
    /// <see cref="CreateIfMissing"/>. Default: false.
    /// </summary>
    public bool ReadOnly { get; init; }

    /// <summary>The blob folder these options give.</summary>
    /// <returns>The full path.</returns>
    public string ResolveBlobsPath() =>
        Path.GetFullPath(BlobsPath ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(DatabasePath)) ?? ".", DefaultBlobsFolder));
}

/// <summary>How LiteDB opens the database file (its <c>Connection</c> setting).</summary>
public enum LiteDbConnectionMode
{
    /// <summary>
    /// LiteDB's <c>Connection=shared</c>: every operation opens the file for its duration, so several processes (a registry and a
    /// separate <c>harbor-gc</c>) can use one database. The store holds its own cross-process lock around every operation and
    /// every write transaction, from begin to commit (a named mutex, then an exclusive file lock on <c>DATABASE.lock</c>, which
    /// holds also between processes that do not share LiteDB's named mutex: another <c>/tmp</c>, another user), so its
    /// compare-and-swaps are atomic across processes. Slower: each operation reopens the file.
    /// </summary>
    Shared,

    /// <summary>
    /// LiteDB's <c>Connection=direct</c>: one process opens the file exclusively and keeps it open. Fastest; for a registry that
    /// embeds the collector and runs GC in its own process, and for tests and benchmarks. Another process cannot open the file
    /// meanwhile: <see cref="LiteDbRegistryStore.Open"/> refuses (<see cref="LiteDbStoreInUseException"/>) to open a store in
    /// direct mode that another process has open, and to open a store in either mode that another process holds in direct mode.
    /// </summary>
    Direct,
}
