using Harbor.Gc.Storage.PostgresMetadata;
using Npgsql;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>postgres:postgresql://USER@HOST[:PORT]/DATABASE?blobs=DIR[&amp;passfile=FILE]</c>: the shared store
/// (<see cref="PostgresRegistryStore"/>), its metadata in that PostgreSQL database and its blob bytes in DIR. The password never
/// goes on the command line (one in the address, or a <c>password=</c> setting, is refused): it comes from <c>HARBOR_GC_PGPASSWORD</c>,
/// or a pgpass file (<c>passfile=</c>), or what Npgsql reads itself (<c>PGPASSWORD</c>, <c>PGPASSFILE</c>, <c>~/.pgpass</c>). Never
/// created here (an empty database is bad input, as a missing <c>litedb:</c> file is); a writable opening migrates an older schema.
/// </summary>
internal static class PostgresStoreSpec
{
    private const string Form = "postgres:postgresql://USER@HOST[:PORT]/DATABASE?blobs=DIR";

    /// <summary>Opens the store <paramref name="location"/> (the text after <c>postgres:</c>) names; bad input is a <see cref="UsageException"/>.</summary>
    /// <remarks>
    /// <c>blobs=s3://BUCKET/PREFIX</c> with <c>endpoint=</c> and <c>region=</c> beside it keeps the blob bytes in a bucket (issue 17);
    /// the AWS SDK's standard chain gives the credentials.
    /// </remarks>
    public static PostgresRegistryStore Open(string location, TimeProvider time, bool readOnly)
    {
        var shown = "postgres:" + S3BlobsSpec.Redacted(PostgresAddress.Redacted(location));
        var question = location.IndexOf('?', StringComparison.Ordinal);
        var s3Settings = string.Empty;
        var address = location;
        if (question >= 0 && location.Contains("s3://", StringComparison.OrdinalIgnoreCase))
        {
            (var rest, s3Settings) = S3BlobsSpec.Split(location[(question + 1)..], shown, keep: "password");
            address = rest.Length == 0 ? location[..question] : location[..question] + "?" + rest;
        }

        var (builder, blobs) = Parse(address);
        var s3 = S3BlobsSpec.IsS3(blobs) ? S3BlobsSpec.Parse(blobs, s3Settings, shown, S3BlobsSpec.PostgresForm) : null;
        if (s3 is null && s3Settings.Length > 0)
        {
            throw new UsageException($"--store {shown}: endpoint= and region= go with blobs=s3://BUCKET/PREFIX ({S3BlobsSpec.PostgresForm}).");
        }

        try
        {
            return PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = builder.ConnectionString, BlobsPath = s3 is null ? blobs : null, S3Blobs = s3, ReadOnly = readOnly }, time);
        }
        catch (Exception e) when (e is InvalidDataException or DirectoryNotFoundException)
        {
            throw new UsageException($"--store {(s3 is null ? "postgres:" + PostgresAddress.Redacted(location) : shown)}: {e.Message}");
        }
    }

    private static readonly PostgresAddress.Kind Address = new(
        "postgres", Form, "the store's database", "blobs", "the store's folder of blob bytes (shared by every process that uses the store)");

    /// <summary>The connection (no password unless from <c>HARBOR_GC_PGPASSWORD</c>) and the blob folder an address names.</summary>
    internal static (NpgsqlConnectionStringBuilder Connection, string Blobs) Parse(string location) => PostgresAddress.Parse(Address, location);
}
