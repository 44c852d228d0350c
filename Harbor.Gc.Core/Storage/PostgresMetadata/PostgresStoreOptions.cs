namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>Where and how <see cref="PostgresRegistryStore"/> keeps its metadata and bytes.</summary>
public sealed class PostgresStoreOptions
{
    /// <summary>
    /// The Npgsql connection string of the store's database (host, port, user, database; the password, or a passfile, or nothing
    /// for Npgsql's own <c>PGPASSWORD</c>/<c>~/.pgpass</c>). The database belongs to the store: one that holds another
    /// application's tables is refused.
    /// </summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// The folder of blob bytes (<c>sha256/ab/&lt;hex&gt;</c> below it), shared by every process that uses the store (a local or
    /// network file system they all mount); or null with <see cref="S3Blobs"/>. The folder belongs to one store: it holds the store's id, and any other store is refused.
    /// </summary>
    public string? BlobsPath { get; init; }

    /// <summary>
    /// Keep the blob bytes in an S3 bucket instead of a folder (<c>PREFIX/sha256/ab/&lt;hex&gt;</c>), shared by every process that
    /// uses the store; <see cref="BlobsPath"/> must then be null (one of the two is required). The prefix belongs to one store: it
    /// holds the store's id, and any other store is refused.
    /// </summary>
    public Blobs.S3BlobStoreOptions? S3Blobs { get; init; }

    /// <summary>
    /// Create the store's schema in an empty database (and the blob folder when it is missing); otherwise an empty database is
    /// refused. A writable opening of an existing store always migrates it to this version's schema. Default: false.
    /// </summary>
    public bool CreateIfMissing { get; init; }

    /// <summary>
    /// Open the store only to read it (a dry run, an explanation): no migration, nothing written to the database or the blob
    /// folder, and every write throws <see cref="InvalidOperationException"/>. Cannot be combined with <see cref="CreateIfMissing"/>.
    /// Default: false.
    /// </summary>
    public bool ReadOnly { get; init; }
}
