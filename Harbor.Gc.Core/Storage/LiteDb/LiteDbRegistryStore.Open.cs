using System.Text;
using Harbor.Gc.Storage.Blobs;
using LiteDB;
using static Harbor.Gc.Storage.LiteDb.LiteDbDocuments;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>Opening and creating the store: nothing is written to a file that is not this project's store.</summary>
public sealed partial class LiteDbRegistryStore
{
    private const string OwnerFile = ".harbor-gc-store";
    private const string Kind = "a Harbor.Gc LiteDB store";

    /// <summary>
    /// Opens the store, or creates it when <see cref="LiteDbStoreOptions.CreateIfMissing"/> is set. A file that is not a Harbor.Gc
    /// store of this schema and collation is refused before LiteDB touches it: nothing in it or beside it changes. A writable store
    /// creates the indexes an older database lacks; a read-only one (<see cref="LiteDbStoreOptions.ReadOnly"/>) writes nothing.
    /// </summary>
    /// <param name="options">Where and how.</param>
    /// <param name="timeProvider">The clock for push and touch times; <see cref="TimeProvider.System"/> when null.</param>
    /// <returns>The open store; dispose it.</returns>
    /// <exception cref="FileNotFoundException">The database file does not exist and may not be created.</exception>
    /// <exception cref="DirectoryNotFoundException">The blob folder of an existing database is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not a Harbor.Gc LiteDB store of this version (another file, another
    /// application's database, a damaged or cut-short store, a store of another collation), or the blob folder (or S3 prefix) belongs
    /// to another database, or the S3 server of <see cref="LiteDbStoreOptions.S3Blobs"/> cannot be reached or refuses. The message
    /// names the file (and bucket) and says what is wrong.</exception>
    /// <exception cref="LiteDbStoreInUseException">Another process holds the store in a way that rules out this opening: it has
    /// the file open in LiteDB's direct mode, or this opening is in direct mode and another process has the store open.</exception>
    public static LiteDbRegistryStore Open(LiteDbStoreOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DatabasePath);
        if (options.ReadOnly && options.CreateIfMissing)
        {
            throw new ArgumentException("A store opened read-only is never created: set ReadOnly or CreateIfMissing, not both.", nameof(options));
        }

        if (options.S3Blobs is not null && options.BlobsPath is not null)
        {
            throw new ArgumentException("Give the blob folder (BlobsPath) or the S3 blob location (S3Blobs), not both.", nameof(options));
        }

        var path = Path.GetFullPath(options.DatabasePath);
        if (!File.Exists(path) && !options.CreateIfMissing)
        {
            throw new FileNotFoundException($"The LiteDB store '{path}' does not exist (nothing was created).", path);
        }

        var time = timeProvider ?? TimeProvider.System;
        if (options.S3Blobs is null)
        {
            return OpenWith(options, path, options.ResolveBlobsPath(), null, time);
        }

        // the retries wait on the system clock: they wait for a server, and a test's fake clock (the store's) would never let them go on
        var s3 = new S3BlobStore(options.S3Blobs, TimeProvider.System);
        try
        {
            return OpenWith(options, path, null, s3, time);
        }
        catch
        {
            s3.Dispose();
            throw;
        }
    }

    /// <summary>Opens the store with its bytes in the folder <paramref name="blobs"/>, or in <paramref name="s3"/> (which the store then owns).</summary>
    private static LiteDbRegistryStore OpenWith(LiteDbStoreOptions options, string path, string? blobs, S3BlobStore? s3, TimeProvider time)
    {
        var what = $"The LiteDB store '{path}'";
        if (!File.Exists(path))
        {
            if (blobs is not null && File.Exists(Path.Combine(blobs, OwnerFile)))
            {
                throw new InvalidDataException($"The blob folder '{blobs}' belongs to another LiteDB store; '{path}' was not created. Give each store its own folder.");
            }

            if (s3?.ReadClaim() is { Length: > 0 })
            {
                throw new InvalidDataException($"The S3 blob store {s3.Root} belongs to another store; '{path}' was not created. Give each store its own prefix.");
            }

            Create(path, blobs);
        }

        // in shared mode every LiteDB operation is taken under the store's own cross-process lock as well (LiteDB's named mutex is
        // not shared by processes with another /tmp or user), and so is the first look at the file: its exclusive probe would
        // otherwise meet a shared-mode process of another /tmp in the middle of an operation and refuse it as a direct-mode holder
        var shared = options.Connection == LiteDbConnectionMode.Shared ? new CrossProcessLock(path) : null;
        FileStream? folderLock;
        try
        {
            // the file's own bytes first: LiteDB writes to what it opens
            var header = shared is null ? Inspect() : shared.Run(Inspect);
            EnsureIsStore(path, header);
            if (blobs is not null && !Directory.Exists(blobs))
            {
                throw new DirectoryNotFoundException($"The blob folder '{blobs}' of the LiteDB store '{path}' does not exist.");
            }

            folderLock = LockBlobFolder(path, OwnerMarker(path, blobs), options);
        }
        catch
        {
            shared?.Dispose();
            throw;
        }

        try
        {
            LiteDatabase db;
            try
            {
                db = new LiteDatabase(new ConnectionString
                {
                    Filename = path,
                    Connection = options.Connection == LiteDbConnectionMode.Shared ? ConnectionType.Shared : ConnectionType.Direct,
                    ReadOnly = options.ReadOnly,
                    Collation = LiteDbFile.Collation,
                });
            }
            catch (LiteException e)
            {
                throw LiteDbFile.Unreadable(what, e);
            }

            try
            {
                var store = new LiteDbRegistryStore(db, (IBlobContentStore?)s3 ?? new FileSystemBlobStore(blobs!), path, time, options.ReadOnly, folderLock, shared);
                var storeId = store.Read(store.ReadStoreId);
                if (s3 is null)
                {
                    ClaimBlobFolder(folderLock, blobs!, path, storeId, options.ReadOnly);
                }
                else
                {
                    s3.Claim(storeId, options.ReadOnly, $"the LiteDB store '{path}'");
                }

                if (!options.ReadOnly)
                {
                    store.Read(store.EnsureIndexes);
                    shared?.CreateFile(); // only now that the file is known to be this project's store, and never by a read-only open
                }

                return store;
            }
            catch (Exception e) when (e is LiteException or InvalidCastException)
            {
                db.Dispose();
                throw LiteDbFile.Unreadable(what, e);
            }
            catch
            {
                db.Dispose();
                throw;
            }
        }
        catch
        {
            folderLock?.Dispose();
            shared?.Dispose();
            throw;
        }

        LiteDbFileHeader Inspect() => LiteDbFile.Inspect(path, Kind, what, writable: !options.ReadOnly);
    }

    /// <summary>
    /// Creates an empty store at <paramref name="path"/>, whole or not at all: the database is written beside it under a temporary
    /// name (the fixed collation, the schema record, the store id, the indexes), closed, and renamed into place only if nothing
    /// is there by then (a store another process created meanwhile is kept and opened). A crash leaves at most the temporary file.
    /// </summary>
    private static void Create(string path, string? blobs)
    {
        var folder = Path.GetDirectoryName(path) ?? ".";
        var temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.creating-{Guid.NewGuid():N}");
        try
        {
            using (var db = new LiteDatabase(new ConnectionString { Filename = temporary, Connection = ConnectionType.Direct, Collation = LiteDbFile.Collation }))
            {
                var meta = db.GetCollection(Meta);
                meta.Insert(new BsonDocument { ["_id"] = SchemaKey, [Value] = SchemaVersion });
                meta.Insert(new BsonDocument { ["_id"] = VersionKey, [Value] = 0L });
                meta.Insert(new BsonDocument { ["_id"] = StoreIdKey, [Value] = Guid.NewGuid().ToString("N") });
                CreateIndexes(db);
                db.Checkpoint();
            }

            if (blobs is not null)
            {
                Directory.CreateDirectory(blobs);
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // another process created the store first: open that one
            }
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                File.Delete(temporary);
                File.Delete(LiteDbFile.LogPath(temporary));
            }
        }
    }

    /// <summary>Refuses a LiteDB file that is not a store of this project, or whose collation is not the fixed one.</summary>
    private static void EnsureIsStore(string path, LiteDbFileHeader header)
    {
        if (!header.Collections.Contains(Meta))
        {
            var what = header.Collections.Count == 0 ? "it is an empty LiteDB database, with no Harbor.Gc store id"
                : header.Collections.Contains("runs") ? "it is a harbor-gc run history (give the store's database, not the history's)"
                : $"it is a LiteDB database of another application (collections: {string.Join(", ", header.Collections)})";
            throw new InvalidDataException($"'{path}' is not {Kind}: {what}. Nothing was changed.");
        }

        if (!header.HasFixedCollation)
        {
            throw new InvalidDataException(
                $"The LiteDB store '{path}' was created with the collation '{header.CollationText}', not the fixed '{LiteDbFile.CollationText}' "
                + "of this version: LiteDB orders its keys by the collation and by the globalization of the process that wrote them, so "
                + "another process (the harbor-gc command runs with invariant globalization) would look keys up in the wrong places and "
                + "miss records. Nothing was changed. Stop every process that uses the store, copy it into a new file of the fixed "
                + $"collation with 'harbor-gc store convert --store litedb:{path} --to NEW.db' (NEW.db in the same folder; the store is only "
                + "read), then replace the old file by the new one.");
        }
    }

    /// <summary>
    /// The file whose lock is the store's lock across processes: the blob folder's marker, or, with the blobs in S3 (no folder), the
    /// file <c>DATABASE.owner</c> beside the database (the S3 prefix's own marker holds the store id; this one holds nothing).
    /// </summary>
    internal static string OwnerMarker(string databasePath, string? blobs) => blobs is null ? databasePath + ".owner" : Path.Combine(blobs, OwnerFile);

    /// <summary>
    /// Takes the blob folder's marker file as the store's lock across processes: a shared-mode opener holds it shared, a direct-mode
    /// opener exclusively, for as long as the store is open (advisory <c>flock</c> on Unix, a sharing mode on Windows). A writable
    /// opener creates the marker when the folder has none; a read-only one does without.
    /// </summary>
    private static FileStream? LockBlobFolder(string path, string marker, LiteDbStoreOptions options)
    {
        if (options.ReadOnly && !File.Exists(marker))
        {
            return null;
        }

        var direct = options.Connection == LiteDbConnectionMode.Direct;
        try
        {
            return new FileStream(
                marker,
                options.ReadOnly ? FileMode.Open : FileMode.OpenOrCreate,
                options.ReadOnly ? FileAccess.Read : FileAccess.ReadWrite,
                direct ? FileShare.None : FileShare.ReadWrite,
                1,
                FileOptions.None);
        }
        catch (IOException e) when (LiteDbFile.IsSharingViolation(e))
        {
            throw new LiteDbStoreInUseException(path, direct
                ? $"The LiteDB store '{path}' is open in another process; a store opened in direct mode must be the only one. Nothing was changed. Stop that process, or open the store in shared mode in both."
                : $"The LiteDB store '{path}' is open in another process in LiteDB's direct mode; nothing was changed. Stop that process, or open the store in shared mode in both.", e);
        }
    }

    /// <summary>
    /// Checks that the blob folder is this database's: the folder's marker file holds the store id the database holds. A folder
    /// whose marker is empty or new is claimed (unless read-only). A copied or moved store (database and folder together) keeps its
    /// id, so it opens anywhere.
    /// </summary>
    private static void ClaimBlobFolder(FileStream? marker, string blobs, string databasePath, string storeId, bool readOnly)
    {
        if (marker is null)
        {
            return; // read-only, and the folder was never claimed
        }

        marker.Position = 0;
        var buffer = new byte[256];
        var read = marker.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var claimed = Encoding.UTF8.GetString(buffer, 0, read).Trim();
        if (claimed.Length == 0)
        {
            if (!readOnly)
            {
                marker.Position = 0;
                marker.Write(Encoding.UTF8.GetBytes(storeId + "\n"));
                marker.Flush(flushToDisk: true);
            }

            return;
        }

        if (!string.Equals(claimed, storeId, StringComparison.Ordinal))
        {
            throw new InvalidDataException(
                $"The blob folder '{blobs}' belongs to another LiteDB store (id {claimed}), not to '{databasePath}' (id {storeId}); give each store its own folder.");
        }
    }

    private static void CreateIndexes(LiteDatabase db)
    {
        db.GetCollection(Artifacts).EnsureIndex(RepositoryField, "$." + RepositoryField);
        db.GetCollection(Artifacts).EnsureIndex(ReferencesIndex, ReferencesExpression);
        db.GetCollection(Artifacts).EnsureIndex(ChildrenIndex, ChildrenExpression);
        db.GetCollection(Tags).EnsureIndex(RepositoryField, "$." + RepositoryField);
        db.GetCollection(Tags).EnsureIndex(ArtifactKeyField, "$." + ArtifactKeyField);
        db.GetCollection(AccessoryLinks).EnsureIndex(SubjectKeyField, "$." + SubjectKeyField);
        db.GetCollection(LayerLinks).EnsureIndex(RepositoryField, "$." + RepositoryField);
    }

    /// <summary>The store id, after checking the schema record; a database without them is not a Harbor.Gc store.</summary>
    private string ReadStoreId()
    {
        if (_meta.FindById(SchemaKey) is not { } schema || _meta.FindById(StoreIdKey) is not { } id || _meta.FindById(VersionKey) is null)
        {
            throw new InvalidDataException($"'{DatabasePath}' is not {Kind}: it is a LiteDB database with no Harbor.Gc schema record or store id. Nothing was changed.");
        }

        if (schema[Value] is not { IsInt32: true } version || version.AsInt32 != SchemaVersion)
        {
            throw new InvalidDataException($"The LiteDB store '{DatabasePath}' has schema version {schema[Value]}; this version of Harbor.Gc reads version {SchemaVersion}. Nothing was changed.");
        }

        return id[Value].AsString;
    }

    /// <summary>Creates the indexes an older database lacks (a no-op on a current one).</summary>
    private int EnsureIndexes()
    {
        CreateIndexes(_db);
        return 0;
    }
}
