using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;

namespace Harbor.Gc.Runner.Commands;

/// <summary>Opens the store a <c>--store</c> value names (DESIGN.md §9).</summary>
internal static class StoreSpec
{
    public const string Default = "litedb:harbor-gc.db";

    public static IRegistryStore Open(string spec, TimeProvider time)
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

                try
                {
                    return new DistributionRegistryStore(location, time);
                }
                catch (DirectoryNotFoundException e)
                {
                    throw new UsageException($"--store {spec}: {e.Message}");
                }

            case "litedb":
                throw new UsageException($"--store {spec}: the LiteDB store is not available in this version yet; use --store distribution:DIR.");
            default:
                throw new UsageException($"--store {spec}: unknown store kind '{kind}'; use distribution:DIR (or litedb:PATH once available).");
        }
    }
}
