using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.Postgres;
using LiteDB;
using Npgsql;

namespace Harbor.Gc.Runner.Commands;

/// <summary>Opens the store a <c>--store</c> value names (DESIGN.md §9).</summary>
/// <remarks>
/// <c>litedb:PATH</c> is the LiteDB database file PATH with the blob bytes in the folder <c>blobs</c> beside it, opened in LiteDB's
/// shared mode so that the registry that owns the store can keep running, and read-only for a command that writes nothing (a dry
/// run, an explanation, checking a daemon configuration). It is never created here: a missing file is bad input, and so is a file
/// that is not a Harbor.Gc store, a damaged store, a store of another collation and a store another process holds in direct mode
/// (LiteDbRegistryStore.Open refuses each before LiteDB touches the file).
/// <para>
/// <c>harbor:postgresql://USER@HOST[:PORT]/DATABASE?storage=DIR[&amp;passfile=FILE]</c> is a Harbor installation: its PostgreSQL database
/// and its registry's storage folder DIR, read only (<see cref="HarborDatabaseStore"/>). The password never goes on the command line
/// (one in the address is refused): it comes from <c>HARBOR_GC_PGPASSWORD</c>, or a pgpass file (<c>passfile=</c>), or what Npgsql reads
/// itself (<c>PGPASSWORD</c>, <c>PGPASSFILE</c>, <c>~/.pgpass</c>). A command that would write (a real run) is refused: such a plan is
/// applied through Harbor.
/// </para>
/// </remarks>
internal static class StoreSpec
{
    public const string Default = "litedb:harbor-gc.db";

    /// <summary>
    /// Opens the store (read-only when <paramref name="readOnly"/>), runs <paramref name="use"/> on it and closes it; bad data in the
    /// store is bad input (exit 2), and so is a LiteDB store found damaged while it is read.
    /// </summary>
    /// <param name="spec">The <c>--store</c> value.</param>
    /// <param name="time">The clock.</param>
    /// <param name="readOnly">Open it read-only (a dry run, explain).</param>
    /// <param name="use">What to do with the store.</param>
    /// <param name="gracePeriod">The Distribution store's grace period (<c>--grace-period</c>); its default when null.</param>
    public static async Task<T> UseAsync<T>(string spec, TimeProvider time, bool readOnly, Func<IRegistryStore, Task<T>> use, TimeSpan? gracePeriod = null)
    {
        var opened = Open(spec, time, readOnly, gracePeriod);
        try
        {
            return await use(opened).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new UsageException(e.Message);
        }
        catch (LiteException e) when (opened is LiteDbRegistryStore liteDb)
        {
            // a page no read came across before (an index the snapshot does not read)
            throw new UsageException($"--store {spec}: {LiteDbFile.Unreadable($"The LiteDB store '{liteDb.DatabasePath}'", e).Message}");
        }
        finally
        {
            (opened as IDisposable)?.Dispose();
        }
    }

    /// <summary>Opens the store a <c>--store</c> value names (read-only when <paramref name="readOnly"/>); bad input is a <see cref="UsageException"/>.</summary>
    public static IRegistryStore Open(string spec, TimeProvider time, bool readOnly, TimeSpan? gracePeriod = null)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? spec : spec[..colon];
        var location = colon < 0 ? string.Empty : spec[(colon + 1)..];
        switch (kind)
        {
            case "distribution":
                if (location.Length == 0)
                {
                    throw new UsageException("--store distribution:DIR: give DIR, the registry's storage rootdirectory (the folder holding docker/registry/v2).");
                }

                if (S3StoreSpec.IsS3(location))
                {
                    return S3StoreSpec.Open(location, time, gracePeriod);
                }

                try
                {
                    return new DistributionRegistryStore(location, time) { GracePeriod = gracePeriod ?? DistributionRegistryStore.DefaultGracePeriod };
                }
                catch (DirectoryNotFoundException e)
                {
                    throw new UsageException($"--store {spec}: {e.Message}");
                }

            case "litedb" when gracePeriod is not null:
                throw new UsageException($"--grace-period: only a distribution: store waits one (the litedb: store settles each deletion at once, under its lock); leave it out for {spec}.");

            case "litedb":
                return OpenLiteDb(spec, location, time, readOnly);

            case "harbor":
                return OpenHarbor(location, time, readOnly);

            case "postgres" when gracePeriod is not null:
                throw new UsageException("--grace-period: only a distribution: store waits one (the postgres: store settles each deletion at once, in its transaction); leave it out for a postgres: store.");

            case "postgres":
                return PostgresStoreSpec.Open(location, time, readOnly);

            default:
                throw new UsageException($"--store {spec}: unknown store kind '{kind}'; use litedb:PATH, distribution:DIR, distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION, harbor:postgresql://USER@HOST:PORT/DATABASE?storage=DIR or postgres:postgresql://USER@HOST:PORT/DATABASE?blobs=DIR (blobs=s3://BUCKET/PREFIX&endpoint=URL&region=REGION for blobs in a bucket).");
        }
    }

    /// <summary>
    /// Reads <c>PATH[?blobs=DIR|s3://BUCKET/PREFIX&amp;endpoint=URL&amp;region=REGION]</c> (what follows <c>litedb:</c>): the database
    /// file, and its blob folder or bucket; with the address as it may be shown (no credentials).
    /// </summary>
    /// <exception cref="UsageException">The address is not one.</exception>
    public static (LiteDbStoreOptions Options, string Shown) ParseLiteDb(string location)
    {
        var shown = "litedb:" + S3BlobsSpec.Redacted(location);
        var question = location.IndexOf('?', StringComparison.Ordinal);
        var path = question < 0 ? location : location[..question];
        if (path.Length == 0)
        {
            throw new UsageException("--store litedb:PATH: give PATH, the store's LiteDB database file (its blobs are in the folder 'blobs' beside it, or blobs=DIR or blobs=s3://BUCKET/PREFIX).");
        }

        string? blobs = null;
        var s3Settings = string.Empty;
        if (question >= 0)
        {
            (var rest, s3Settings) = S3BlobsSpec.Split(location[(question + 1)..], shown);
            foreach (var pair in rest.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var name = equals < 0 ? pair : pair[..equals];
                if (name != "blobs" || equals < 0)
                {
                    throw new UsageException($"--store {shown}: unknown setting '{name}'; litedb:PATH takes blobs=DIR, or blobs=s3://BUCKET/PREFIX with endpoint= and region= ({S3BlobsSpec.LiteDbForm}).");
                }

                blobs = Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
        }

        var s3 = blobs is not null && S3BlobsSpec.IsS3(blobs) ? S3BlobsSpec.Parse(blobs, s3Settings, shown, S3BlobsSpec.LiteDbForm) : null;
        if (s3 is null && s3Settings.Length > 0)
        {
            throw new UsageException($"--store {shown}: endpoint= and region= go with blobs=s3://BUCKET/PREFIX ({S3BlobsSpec.LiteDbForm}).");
        }

        return (new LiteDbStoreOptions { DatabasePath = path, BlobsPath = s3 is null ? blobs : null, S3Blobs = s3 }, shown);
    }

    /// <summary>
    /// <c>litedb:PATH[?blobs=DIR|s3://BUCKET/PREFIX&amp;endpoint=URL&amp;region=REGION]</c>: the LiteDB store, its blobs in the folder
    /// <c>blobs</c> beside PATH, in DIR, or in a bucket (issue 17).
    /// </summary>
    private static LiteDbRegistryStore OpenLiteDb(string spec, string location, TimeProvider time, bool readOnly)
    {
        var (options, shown) = ParseLiteDb(location);
        var (path, blobs, s3) = (options.DatabasePath, options.BlobsPath, options.S3Blobs);
        try
        {
            return LiteDbRegistryStore.Open(
                new LiteDbStoreOptions { DatabasePath = path, BlobsPath = s3 is null ? blobs : null, S3Blobs = s3, Connection = LiteDbConnectionMode.Shared, ReadOnly = readOnly }, time);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"--store {(s3 is null && blobs is null ? spec : shown)}: {e.Message}" + (e is FileNotFoundException ? " Check the path, or run where the store is." : string.Empty));
        }
    }

    /// <summary>The variable the <c>harbor:</c> and <c>postgres:</c> stores read the database password from (before Npgsql's own <c>PGPASSWORD</c>).</summary>
    public const string HarborPasswordVariable = PostgresAddress.PasswordVariable;

    private static readonly PostgresAddress.Kind HarborAddress = new(
        "harbor", "harbor:postgresql://USER@HOST:PORT/DATABASE?storage=DIR", "Harbor's database", "storage",
        "the storage rootdirectory of Harbor's registry (the folder holding docker/registry/v2)",
        "; Harbor's is usually postgres", "; Harbor's is usually registry");

    private static HarborDatabaseStore OpenHarbor(string location, TimeProvider time, bool readOnly)
    {
        var (builder, storage) = PostgresAddress.Parse(HarborAddress, location);
        if (!readOnly)
        {
            throw new UsageException($"--store harbor:{location}: harbor-gc reads a Harbor installation but does not write into it: run with --dry-run (or explain), "
                + "then apply the plan through Harbor: delete the artifacts through its API or UI (or let its tag retention do it) and let Harbor's own GC delete the blobs.");
        }

        try
        {
            return new HarborDatabaseStore(builder, storage, time);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new UsageException($"--store harbor:{location}: {e.Message.Replace("distribution:", "storage=", StringComparison.Ordinal)}");
        }
    }
}
