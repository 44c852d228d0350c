using System.Globalization;
using Harbor.Gc.Storage.LiteDb;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc store convert --store litedb:PATH --to NEW</c>: copies a LiteDB store made before the collation was fixed (or by
/// another collation) into a new database of the fixed one, with the same store id; PATH is only read (DESIGN.md §5, LiteDB store).
/// </summary>
internal static class StoreCommand
{
    public const string Usage = """
        harbor-gc store convert --store litedb:PATH --to NEW
          copies the LiteDB store PATH, made with another collation, into the new file NEW (put it in PATH's folder, beside the
          blob folder) with the fixed one; PATH is only read. Stop every process that uses the store first, then replace PATH by NEW
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        if (args is not ["convert", .. var rest])
        {
            throw new UsageException($"store: give a subcommand.\n{Usage}");
        }

        string? store = null;
        string? to = null;
        var arguments = new Arguments(rest);
        while (arguments.MoveNext())
        {
            switch (arguments.Current)
            {
                case "--store": store = arguments.Value(); break;
                case "--to": to = arguments.Value(); break;
                default: throw new UsageException($"store convert: unknown option '{arguments.Current}'.\n{Usage}");
            }
        }

        if (store is null || !store.StartsWith("litedb:", StringComparison.Ordinal) || store.Length == "litedb:".Length || to is null)
        {
            throw new UsageException($"store convert: give --store litedb:PATH and --to NEW.\n{Usage}");
        }

        var path = store["litedb:".Length..];
        long copied;
        try
        {
            copied = LiteDbRegistryStore.Convert(new LiteDbStoreOptions { DatabasePath = path }, to);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or LiteDbStoreInUseException)
        {
            throw new UsageException($"store convert: {e.Message}");
        }

        var from = Path.GetFullPath(path);
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"copied {copied:N0} records of {from} into {Path.GetFullPath(to)} (collation {LiteDbFile.CollationText}); {from} is unchanged.")).ConfigureAwait(false);
        await stdout.WriteLineAsync("With every process that uses the store stopped, replace the old file by the new one.").ConfigureAwait(false);
        return 0;
    }
}
