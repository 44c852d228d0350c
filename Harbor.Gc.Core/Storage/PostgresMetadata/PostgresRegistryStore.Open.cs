using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Harbor.Gc.Storage.Blobs;
using Harbor.Gc.Storage.LiteDb;
using Npgsql;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>Opening the store: the database's schema checked (and created or migrated), the blob folder claimed.</summary>
public sealed partial class PostgresRegistryStore
{
    /// <summary>The blob folder's marker, which holds the id of the store it belongs to (the LiteDB store's marker too, so the two never share a folder).</summary>
    private const string OwnerFile = ".harbor-gc-store";

    /// <summary>The statements a connection keeps prepared (Npgsql's <c>Max Auto Prepare</c>) unless the connection string says.</summary>
    internal const int DefaultMaxAutoPrepare = 64;

    /// <summary>Run once on each of the store's connections: a prepared statement is planned for each run's values, never generically.</summary>
    internal const string PlanEachRun = "SET plan_cache_mode = force_custom_plan";

    /// <summary>Whether <paramref name="connectionString"/> sets <c>Max Auto Prepare</c> (under any of its spellings).</summary>
    internal static bool SetsMaxAutoPrepare(string connectionString)
    {
        var settings = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return settings.Keys.Cast<string>().Any(key => key.Replace(" ", string.Empty, StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Opens the store: connects, checks the database (a Harbor.Gc store of a version this build knows; created in an empty database
    /// with <see cref="PostgresStoreOptions.CreateIfMissing"/>; migrated to this version unless read-only), and checks that the blob
    /// folder is this store's. Anything refused is refused before a write: nothing changes.
    /// </summary>
    /// <param name="options">Where and how.</param>
    /// <param name="timeProvider">The clock for push and touch times; <see cref="TimeProvider.System"/> when null.</param>
    /// <returns>The open store; dispose it.</returns>
    /// <exception cref="DirectoryNotFoundException">The blob folder is missing (and may not be created).</exception>
    /// <exception cref="InvalidDataException">The server cannot be reached, refuses the credentials, has no such database, or the
    /// database is not a store this build may open (empty without <see cref="PostgresStoreOptions.CreateIfMissing"/>, another
    /// application's, of a newer schema version, half-migrated), or the blob folder (or S3 prefix) belongs to another store, or the
    /// S3 server of <see cref="PostgresStoreOptions.S3Blobs"/> cannot be reached or refuses. The message names the server and database
    /// (never the password) and the bucket, and says what is wrong.</exception>
    public static PostgresRegistryStore Open(PostgresStoreOptions options, TimeProvider? timeProvider = null) =>
        OpenAsync(options, timeProvider).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Open"/>
    /// <param name="options">Where and how.</param>
    /// <param name="timeProvider">The clock for push and touch times; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="cancellationToken">Stops the opening.</param>
    public static async ValueTask<PostgresRegistryStore> OpenAsync(PostgresStoreOptions options, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString);
        if ((options.S3Blobs is null) == string.IsNullOrWhiteSpace(options.BlobsPath))
        {
            throw new ArgumentException("Give the blob folder (BlobsPath) or the S3 blob location (S3Blobs): one of them.", nameof(options));
        }

        if (options.ReadOnly && options.CreateIfMissing)
        {
            throw new ArgumentException("A store opened read-only is never created: set ReadOnly or CreateIfMissing, not both.", nameof(options));
        }

        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        builder.ApplicationName ??= "harbor-gc";

        // a pooled connection goes back to the pool without a DISCARD ALL: the store leaves no session state on it but its own (the
        // advisory locks it takes on pooled connections and its read-only setting are the transaction's, a session-level advisory lock
        // is only ever taken on an unpooled connection of its own; what stays is the prepared statements and the plan cache mode
        // below, which are meant to), and the reset was one statement more for every operation (244,817 of them, 1.7 s of server
        // time, in a 100k-artifact real run)
        builder.NoResetOnClose = true;
        if (!SetsMaxAutoPrepare(options.ConnectionString))
        {
            // Npgsql prepares a statement a connection runs often, so the server parses it once, not on every push (with the plan
            // cache mode below: manifest pushes ×1.25-1.3, a real run's blob sweep ×1.6; Harbor.Gc.Benchmarks/README.md); a
            // connection string that sets Max Auto Prepare keeps its own (0: none, for a pooler that cannot keep prepared statements)
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        var where = Locate(builder);
        var blobs = options.S3Blobs is null ? Path.GetFullPath(options.BlobsPath!) : null;
        if (blobs is not null && !Directory.Exists(blobs) && !options.CreateIfMissing)
        {
            throw new DirectoryNotFoundException($"The blob folder '{blobs}' of the postgres: store {where} does not exist (nothing was created).");
        }

        var dataSourceBuilder = new NpgsqlDataSourceBuilder(builder.ConnectionString);
        // every session of the store plans each statement for its own values: a prepared statement is otherwise planned once for any
        // values after five runs, and such a plan can be one no value would get. The sweep's reference check, before it counted, was
        // planned without its digest as a scan of the whole artifacts table, for every blob (the sweep fell to a seventh of its rate;
        // Harbor.Gc.Benchmarks/README.md)
        dataSourceBuilder.UsePhysicalConnectionInitializer(
            connection =>
            {
                using var set = new NpgsqlCommand(PlanEachRun, connection);
                set.ExecuteNonQuery();
            },
            async connection =>
            {
                await using var set = new NpgsqlCommand(PlanEachRun, connection);
                await set.ExecuteNonQueryAsync().ConfigureAwait(false);
            });
        var dataSource = dataSourceBuilder.Build();
        var time = timeProvider ?? TimeProvider.System;
        // the retries wait on the system clock: they wait for a server, and a test's fake clock (the store's) would never let them go on
        var s3 = options.S3Blobs is { } s3Options ? new S3BlobStore(s3Options, TimeProvider.System) : null;
        try
        {
            string id;
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                id = await PostgresSchema.EnsureAsync(connection, $"The PostgreSQL database {where}", options.CreateIfMissing, options.ReadOnly, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e)
            {
                throw new InvalidDataException(Explain(e, where, builder), e);
            }
            catch (NpgsqlException e)
            {
                throw new InvalidDataException($"Cannot connect to the postgres: store's database {where}: {Postgres.ConnectionFailure.Reason(e)}. Check the host and port, that PostgreSQL accepts TCP connections from here, and the password (HARBOR_GC_PGPASSWORD, PGPASSWORD or a pgpass file). Nothing was changed.", e);
            }
            catch (TimeoutException e)
            {
                throw new InvalidDataException($"The postgres: store's database {where} did not answer in time: {e.Message}. Nothing was changed.", e);
            }

            if (s3 is not null)
            {
                s3.Claim(id, options.ReadOnly, $"the postgres: store {where}");
            }
            else
            {
                if (options.CreateIfMissing)
                {
                    Directory.CreateDirectory(blobs!);
                }

                ClaimBlobFolder(blobs!, where, id, options.ReadOnly);
            }

            return new PostgresRegistryStore(dataSource, (IBlobContentStore?)s3 ?? new FileSystemBlobStore(blobs!), where, time, options.ReadOnly)
            {
                // a real run's claims are made on a connection of its own, closed when the run ends (a pooled one would stay open, idle)
                _claimsConnection = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false }.ConnectionString,
            };
        }
        catch
        {
            s3?.Dispose();
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary><c>postgresql://USER@HOST:PORT/DATABASE</c>: where the store is, never with the password.</summary>
    internal static string Locate(NpgsqlConnectionStringBuilder builder) =>
        string.Create(CultureInfo.InvariantCulture, $"postgresql://{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}");

    private static string Explain(PostgresException e, string where, NpgsqlConnectionStringBuilder builder) => e.SqlState switch
    {
        PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification =>
            $"The PostgreSQL server of {where} refused the credentials of user '{builder.Username}' ({e.MessageText}). Give the password in HARBOR_GC_PGPASSWORD or PGPASSWORD, or in a pgpass file (passfile= or PGPASSFILE). Nothing was changed.",
        PostgresErrorCodes.InvalidCatalogName => $"There is no database '{builder.Database}' at {where} ({e.MessageText}); create it for the store first. Nothing was changed.",
        PostgresErrorCodes.InsufficientPrivilege => $"The user '{builder.Username}' may not use the tables of {where} ({e.MessageText}); the store's user owns its database. Nothing was changed.",
        _ => $"The postgres: store's database {where} failed: {e.SqlState} {e.MessageText}. Nothing was changed.",
    };

    /// <summary>
    /// Checks that the blob folder is this store's: its marker holds the store id the database holds. A folder with no marker (or an
    /// empty one) is claimed, unless read-only. A LiteDB store's folder holds that store's id and is refused.
    /// </summary>
    private static void ClaimBlobFolder(string blobs, string where, string id, bool readOnly)
    {
        var marker = Path.Combine(blobs, OwnerFile);
        string found;
        try
        {
            found = File.Exists(marker) ? File.ReadAllText(marker, Encoding.UTF8).Trim() : string.Empty;
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"The blob folder '{blobs}' is held by another store (its marker '{marker}' cannot be read: {e.Message}); the postgres: store {where} needs a folder of its own. Nothing was changed.", e);
        }

        if (found.Length == 0)
        {
            if (!readOnly)
            {
                File.WriteAllText(marker, id, Encoding.UTF8);
            }

            return;
        }

        if (!string.Equals(found, id, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"The blob folder '{blobs}' belongs to another store (id {found}), not to the postgres: store {where} (id {id}). Nothing was changed. Give each store its own folder.");
        }
    }
}
