using System.CommandLine;
using System.Globalization;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc store convert --store litedb:PATH --to NEW</c>: copies a LiteDB store made before the collation was fixed (or by
/// another collation) into a new database of the fixed one, with the same store id; PATH is only read (DESIGN.md §5, LiteDB store).
/// </summary>
internal static class StoreCommand
{
    public static Command Create(CommandContext context)
    {
        var store = Cli.StoreOption(defaultValue: null);
        store.Description = "The LiteDB store to copy (only read): litedb:PATH, with ?blobs=DIR or ?blobs=s3://BUCKET/PREFIX&endpoint=URL&region=REGION as gc takes it (the blobs are not copied)";
        var to = Cli.FileOption("--to", "The new file (in PATH's folder, beside the blob folder)", "NEW");
        var convert = new Command("convert", "Copy a LiteDB store made with another collation into a new file with the fixed one") { store, to };
        convert.SetAction((p, _) => ConvertAsync(p.GetValue(store), p.GetValue(to), context.Stdout));
        convert.WithNotes("""
            Stop every process that uses the store first, then replace PATH by NEW.
            """);
        return new Command("store", "Store maintenance") { convert };
    }

    private static async Task<int> ConvertAsync(string? store, string? to, TextWriter stdout)
    {
        if (store is null || !store.StartsWith("litedb:", StringComparison.Ordinal) || store.Length == "litedb:".Length || to is null)
        {
            throw new UsageException("store convert: give --store litedb:PATH and --to NEW.");
        }

        if (to.StartsWith("litedb:", StringComparison.Ordinal) || to.Contains('?', StringComparison.Ordinal))
        {
            // convert copies the database, never blob bytes: a blob address given for the copy (say, moving them into a bucket) is
            // not what it does, and as a file name it would make a file named after the address
            throw new UsageException("store convert: --to names the new database file only (a path, no litedb: and no ?blobs=): the blob bytes are not copied, and the copy opens with the blobs= of --store.");
        }

        // litedb:PATH, with blobs=DIR or blobs=s3://… as gc takes it: only the database file is copied; the blob bytes stay where
        // they are, and NEW keeps the store id that claims them (the folder's or the bucket prefix's .harbor-gc-store)
        var (options, shown) = StoreSpec.ParseLiteDb(store["litedb:".Length..]);
        var path = options.DatabasePath;
        long copied;
        try
        {
            copied = LiteDbRegistryStore.Convert(options, to);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"store convert: {e.Message}");
        }

        var from = Path.GetFullPath(path);
        var blobs = options.S3Blobs is not null ? $" Its blobs stay in the bucket: open it as {shown.Replace(path, Path.GetFullPath(to), StringComparison.Ordinal)}." : string.Empty;
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"copied {copied:N0} records of {from} into {Path.GetFullPath(to)} (collation {LiteDbFile.CollationText}); {from} is unchanged.{blobs}")).ConfigureAwait(false);
        await stdout.WriteLineAsync("With every process that uses the store stopped, replace the old file by the new one.").ConfigureAwait(false);
        return 0;
    }
}
