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
    public static PostgresRegistryStore Open(string location, TimeProvider time, bool readOnly)
    {
        var (builder, blobs) = Parse(location);
        try
        {
            return PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = builder.ConnectionString, BlobsPath = blobs, ReadOnly = readOnly }, time);
        }
        catch (Exception e) when (e is InvalidDataException or DirectoryNotFoundException)
        {
            throw new UsageException($"--store postgres:{PostgresAddress.Redacted(location)}: {e.Message}");
        }
    }

    private static readonly PostgresAddress.Kind Address = new(
        "postgres", Form, "the store's database", "blobs", "the store's folder of blob bytes (shared by every process that uses the store)");

    /// <summary>The connection (no password unless from <c>HARBOR_GC_PGPASSWORD</c>) and the blob folder an address names.</summary>
    internal static (NpgsqlConnectionStringBuilder Connection, string Blobs) Parse(string location) => PostgresAddress.Parse(Address, location);
}
