using System.Diagnostics.Metrics;
using Harbor.Gc.Collection;
using Harbor.Gc.Immutability;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.InMemory;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Storage.PostgresMetadata;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harbor.Gc.DependencyInjection;

/// <summary>Registers Harbor.Gc in a container: <c>services.AddHarborGc(options => ...)</c>.</summary>
/// <remarks>
/// <para>Registers, each a singleton and each only when the container has none yet: <see cref="TimeProvider"/>
/// (<see cref="TimeProvider.System"/>; register your own first to replace it), the store as <see cref="IRegistryStore"/> and, for
/// a writable store (LiteDB, in-memory), as <see cref="IWritableRegistryStore"/>, the <see cref="GarbageCollector"/> (logging
/// through <see cref="ILogger{TCategoryName}"/> when the container has logging, its metrics on the container's
/// <see cref="IMeterFactory"/> when it has one), the <see cref="ImmutabilityRules"/> as <see cref="ITagImmutability"/>, and the
/// <see cref="RegistryApi"/> over the writable store and those rules (logging its refusals and deletions the same way).</para>
/// <para>The store is opened when first resolved, with the registered clock, and closed when the container is disposed.
/// <see cref="HarborGcOptions"/> are validated when the host starts (<c>ValidateOnStart</c>) or when first read: an invalid
/// value fails with an <see cref="OptionsValidationException"/> listing every bad value by its configuration key.</para>
/// <para>Calling it again adds the new configuration to the options and registers nothing twice.</para>
/// </remarks>
public static class HarborGcServiceCollectionExtensions
{
    /// <summary>Registers Harbor.Gc with options set by <paramref name="configure"/>.</summary>
    /// <param name="services">The container.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddHarborGc(this IServiceCollection services, Action<HarborGcOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddHarborGcServices().Configure(configure);
        return services;
    }

    /// <summary>
    /// Registers Harbor.Gc with options bound from the section <see cref="HarborGcOptions.SectionName"/> (<c>HarborGc</c>) of
    /// <paramref name="configuration"/>, then set by <paramref name="configure"/> when given (the delegate has the last word).
    /// Durations (<c>Gc:TimeWindow</c>, <c>Gc:MaxDuration</c>, <c>Store:GracePeriod</c>) are read in <see cref="Duration"/>'s grammar:
    /// <c>2h30m</c>, <c>90s</c>, <c>7d</c>, or <c>[d.]hh:mm:ss</c>; another text is listed by its key when the options are validated.
    /// </summary>
    /// <param name="services">The container.</param>
    /// <param name="configuration">The configuration root (its <c>HarborGc</c> section is read, e.g. <c>HarborGc:Gc:Workers</c>).</param>
    /// <param name="configure">Sets the options after binding; optional.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddHarborGc(this IServiceCollection services, IConfiguration configuration, Action<HarborGcOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(HarborGcOptions.SectionName);

        // as OptionsBuilder.Bind, but durations in Duration's grammar ("2h30m" as well as "02:30:00"), and reloaded with the section
        var options = services.AddHarborGcServices().Configure(o => HarborGcOptionsBinding.Bind(section, o));
        services.AddSingleton<IOptionsChangeTokenSource<HarborGcOptions>>(new ConfigurationChangeTokenSource<HarborGcOptions>(Microsoft.Extensions.Options.Options.DefaultName, section));
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services;
    }

    private static OptionsBuilder<HarborGcOptions> AddHarborGcServices(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HarborGcOptions>, HarborGcOptionsValidator>());
        services.TryAddSingleton(sp => OpenStore(Options(sp).Store, sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => sp.GetRequiredService<IRegistryStore>() as IWritableRegistryStore
            ?? throw new InvalidOperationException(
                $"The store '{sp.GetRequiredService<IRegistryStore>().Description}' ({HarborGcOptions.SectionName}:Store:Kind = {Options(sp).Store.Kind}) "
                + $"is read-only: {nameof(IWritableRegistryStore)} and {nameof(RegistryApi)} need a {HarborGcStoreKind.LiteDb}, {HarborGcStoreKind.Postgres} or {HarborGcStoreKind.InMemory} store."));
        services.TryAddSingleton(sp => ImmutabilityRulesLoader.Load(Options(sp).Immutability));
        services.TryAddSingleton<ITagImmutability>(sp => sp.GetRequiredService<ImmutabilityRules>());
        services.TryAddSingleton(sp => new GarbageCollector(
            sp.GetRequiredService<IRegistryStore>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<GarbageCollector>>(), sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp =>
        {
            var immutability = sp.GetRequiredService<ITagImmutability>();
            return new RegistryApi(
                sp.GetRequiredService<IWritableRegistryStore>(),
                immutability is ImmutabilityRules { IsEmpty: true } ? null : immutability,
                logger: sp.GetService<ILogger<RegistryApi>>());
        });
        return services.AddOptions<HarborGcOptions>().ValidateOnStart();
    }

    private static HarborGcOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<HarborGcOptions>>().Value;

    private static IRegistryStore OpenStore(HarborGcStoreOptions store, TimeProvider time) => store.Kind switch
    {
        HarborGcStoreKind.LiteDb => LiteDbRegistryStore.Open(
            new LiteDbStoreOptions { DatabasePath = store.Path!, BlobsPath = store.S3Blobs is null ? store.BlobsPath : null, S3Blobs = store.S3Blobs?.ToStoreOptions(), Connection = store.Connection, CreateIfMissing = store.CreateIfMissing },
            time),
        HarborGcStoreKind.Distribution => new DistributionRegistryStore(store.Root!, time) { GracePeriod = store.GracePeriod },
        HarborGcStoreKind.InMemory => new InMemoryRegistryStore(time),
        HarborGcStoreKind.Postgres => PostgresRegistryStore.Open(
            new PostgresStoreOptions { ConnectionString = store.ConnectionString!, BlobsPath = store.S3Blobs is null ? store.BlobsPath : null, S3Blobs = store.S3Blobs?.ToStoreOptions(), CreateIfMissing = store.CreateIfMissing },
            time),
        _ => throw new InvalidOperationException($"{HarborGcOptions.SectionName}:Store:Kind: {store.Kind} is not a store kind."),
    };
}
