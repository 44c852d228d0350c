using LiteDB;
using static Harbor.Gc.Storage.LiteDb.LiteDbDocuments;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>Copying a store of another collation into a new database of the fixed one.</summary>
public sealed partial class LiteDbRegistryStore
{
    private static readonly string[] StoreCollections = [Meta, LiteDbDocuments.Blobs, Artifacts, Tags, AccessoryLinks, LayerLinks];

    /// <summary>
    /// Copies every record of the store <paramref name="source"/> (of any collation: one made before the collation was fixed) into
    /// a new database <paramref name="targetPath"/> of the fixed ordinal collation, with the same store id, so that it opens with the
    /// same blob folder. The source is only read: each collection is read whole, in the order its pages link it, which needs no
    /// comparison of keys, so a collation the reading process orders differently cannot make a record go missing. Every count is
    /// checked after the copy. No other process may have the store open meanwhile.
    /// </summary>
    /// <param name="source">The store to copy (<see cref="LiteDbStoreOptions.DatabasePath"/>, <see cref="LiteDbStoreOptions.BlobsPath"/>).</param>
    /// <param name="targetPath">The new database file; it must not exist. Put it in the source's folder to keep the blob folder
    /// beside it, and replace the source with it once no process uses the store.</param>
    /// <returns>How many records were copied.</returns>
    /// <exception cref="InvalidDataException">The source is not a Harbor.Gc store (see <see cref="Open"/>), or the target exists.</exception>
    /// <exception cref="LiteDbStoreInUseException">Another process has the store open.</exception>
    public static long Convert(LiteDbStoreOptions source, string targetPath)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(source.DatabasePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(targetPath);
        var path = Path.GetFullPath(source.DatabasePath);
        var target = Path.GetFullPath(targetPath);
        var what = $"The LiteDB store '{path}'";
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The LiteDB store '{path}' does not exist.", path);
        }

        if (File.Exists(target) || File.Exists(LiteDbFile.LogPath(target)))
        {
            throw new InvalidDataException($"'{target}' exists; give a new file to copy the store into. Nothing was changed.");
        }

        var header = LiteDbFile.Inspect(path, Kind, what, writable: false);
        if (!header.Collections.Contains(Meta))
        {
            EnsureIsStore(path, header); // throws: not a store
        }

        // no other opener of ours may write meanwhile: the blob folder's lock, taken as a direct-mode opener takes it
        var blobs = source.S3Blobs is null ? source.ResolveBlobsPath() : null;
        var marker = OwnerMarker(path, blobs);
        using var folderLock = blobs is null || Directory.Exists(blobs) ? LockBlobFolder(path, marker, new LiteDbStoreOptions { DatabasePath = path, BlobsPath = blobs, Connection = LiteDbConnectionMode.Direct, ReadOnly = true }) : null;
        var temporary = Path.Combine(Path.GetDirectoryName(target) ?? ".", $".{Path.GetFileName(target)}.creating-{Guid.NewGuid():N}");
        long copied = 0;
        try
        {
            using (var from = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct, ReadOnly = true }))
            using (var to = new LiteDatabase(new ConnectionString { Filename = temporary, Connection = ConnectionType.Direct, Collation = LiteDbFile.Collation }))
            {
                // by scanning, never by key: the source's index order may not be the one this process computes
                var meta = from.GetCollection(Meta).FindAll().ToDictionary(d => d["_id"].AsString, d => d[Value], StringComparer.Ordinal);
                if (!meta.TryGetValue(SchemaKey, out var schema) || !schema.IsInt32 || schema.AsInt32 != SchemaVersion || !meta.ContainsKey(StoreIdKey) || !meta.ContainsKey(VersionKey))
                {
                    throw new InvalidDataException($"'{path}' is not {Kind} of schema version {SchemaVersion}. Nothing was changed.");
                }

                foreach (var name in StoreCollections)
                {
                    var count = 0;
                    var into = to.GetCollection(name);
                    foreach (var batch in from.GetCollection(name).FindAll().Chunk(1_000))
                    {
                        count += into.InsertBulk(batch);
                    }

                    // every record read is written: counted again in the source and in the copy
                    var inSource = from.GetCollection(name).Count();
                    var inCopy = into.Count();
                    if (count != inSource || inCopy != inSource)
                    {
                        throw new InvalidDataException($"Copying '{path}' failed: collection '{name}' has {inSource} records, {count} were read and {inCopy} written. '{path}' is unchanged.");
                    }

                    copied += count;
                }

                CreateIndexes(to);
                to.Checkpoint();
            }

            File.Move(temporary, target, overwrite: false);
            return copied;
        }
        catch (LiteException e)
        {
            throw LiteDbFile.Unreadable(what, e);
        }
        finally
        {
            File.Delete(temporary);
            File.Delete(LiteDbFile.LogPath(temporary));
        }
    }
}
