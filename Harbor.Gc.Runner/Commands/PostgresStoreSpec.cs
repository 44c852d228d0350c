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
            throw new UsageException($"--store postgres:{Redacted(location)}: {e.Message}");
        }
    }

    /// <summary>The connection (no password unless from <c>HARBOR_GC_PGPASSWORD</c>) and the blob folder an address names.</summary>
    internal static (NpgsqlConnectionStringBuilder Connection, string Blobs) Parse(string location)
    {
        if (!location.StartsWith("postgresql://", StringComparison.Ordinal) && !location.StartsWith("postgres://", StringComparison.Ordinal))
        {
            throw new UsageException($"--store postgres:{Redacted(location)}: give the store's database as {Form} (the password in {StoreSpec.HarborPasswordVariable} or a passfile).");
        }

        if (!Uri.TryCreate(location, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new UsageException($"--store postgres:{Redacted(location)}: not a valid address; the form is {Form}.");
        }

        var userInfo = Uri.UnescapeDataString(uri.UserInfo);
        if (userInfo.Contains(':', StringComparison.Ordinal))
        {
            throw new UsageException($"--store postgres:{Redacted(location)}: a password on the command line is refused (other users can read it, and shells keep it); "
                + $"give it in {StoreSpec.HarborPasswordVariable} or PGPASSWORD, or in a pgpass file (passfile=FILE or PGPASSFILE).");
        }

        if (userInfo.Length == 0)
        {
            throw new UsageException($"--store postgres:{location}: name the database user (postgresql://USER@HOST...).");
        }

        var database = uri.AbsolutePath.Trim('/');
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw new UsageException($"--store postgres:{location}: name the database after the host (postgresql://USER@HOST:PORT/DATABASE).");
        }

        string? blobs = null;
        string? passfile = null;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? pair : pair[..equals];
            var value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);
            switch (name)
            {
                case "blobs":
                    blobs = value;
                    break;
                case "passfile":
                    passfile = value;
                    break;
                case "password":
                    throw new UsageException($"--store postgres:{Redacted(location)}: a password on the command line is refused; give it in {StoreSpec.HarborPasswordVariable} or PGPASSWORD, or in a pgpass file (passfile=FILE or PGPASSFILE).");
                default:
                    throw new UsageException($"--store postgres:{Redacted(location)}: unknown setting '{name}'; the settings are blobs=DIR (required) and passfile=FILE.");
            }
        }

        if (string.IsNullOrEmpty(blobs))
        {
            throw new UsageException($"--store postgres:{location}: give blobs=DIR, the store's folder of blob bytes (shared by every process that uses the store).");
        }

        if (passfile is not null && !File.Exists(passfile))
        {
            throw new UsageException($"--store postgres:{location}: the passfile '{Path.GetFullPath(passfile)}' does not exist.");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.IdnHost,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Username = userInfo,
            Database = Uri.UnescapeDataString(database),
            Timeout = 10,
        };
        if (Environment.GetEnvironmentVariable(StoreSpec.HarborPasswordVariable) is { Length: > 0 } password)
        {
            builder.Password = password;
        }
        else if (passfile is not null)
        {
            builder.Passfile = passfile;
        }

        return (builder, blobs);
    }

    /// <summary>The address with any password replaced by <c>***</c>, for messages.</summary>
    private static string Redacted(string location)
    {
        var at = location.IndexOf('@', StringComparison.Ordinal);
        var scheme = location.IndexOf("://", StringComparison.Ordinal);
        var redacted = location;
        if (at > 0 && scheme > 0 && location.IndexOf(':', scheme + 3) is var colon and > 0 && colon < at)
        {
            redacted = location[..(colon + 1)] + "***" + location[at..];
        }

        var password = redacted.IndexOf("password=", StringComparison.Ordinal);
        if (password >= 0)
        {
            var end = redacted.IndexOf('&', password);
            redacted = redacted[..(password + 9)] + "***" + (end < 0 ? string.Empty : redacted[end..]);
        }

        return redacted;
    }
}
