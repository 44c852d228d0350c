namespace Harbor.Gc.Tests.Support;

/// <summary>
/// The base of the shared GC suite: every fixture deriving from it runs once per store (the attributes are inherited), so the
/// in-memory store, the LiteDB + filesystem store and the PostgreSQL + filesystem store are held to the same scenarios, properties and crash points.
/// </summary>
/// <param name="kind">The store this run of the fixture uses.</param>
[TestFixture(StoreKind.InMemory)]
[TestFixture(StoreKind.LiteDb)]
[TestFixture(StoreKind.Postgres)]
public abstract class StoreFixture(StoreKind kind)
{
    private StoreFactory? _stores;

    /// <summary>The store this run of the fixture uses.</summary>
    protected StoreKind Kind => kind;

    internal StoreFactory Stores => _stores ??= new StoreFactory(kind);

    /// <summary>Closes and deletes every store the test made.</summary>
    [TearDown]
    public void DisposeStores()
    {
        _stores?.Dispose();
        _stores = null;
    }

    /// <summary>An empty scenario registry over a new store.</summary>
    internal ScenarioRegistry NewRegistry() => new(Stores);

    /// <summary>The random registry of <paramref name="seed"/> in a new store.</summary>
    internal (TestStore Store, Microsoft.Extensions.Time.Testing.FakeTimeProvider Time, string Description) BuildRandom(int seed, int scale = 1) => Stores.Random(seed, scale);

    /// <summary>
    /// How many of something to run: LiteDB writes files, so its variant runs fewer random graphs; PostgreSQL (a database per store,
    /// a round trip per write) as many as LiteDB unless <paramref name="postgres"/> says fewer.
    /// </summary>
    protected int PerStore(int inMemory, int liteDb, int? postgres = null) => kind switch
    {
        StoreKind.InMemory => inMemory,
        StoreKind.Postgres => postgres ?? liteDb,
        _ => liteDb,
    };
}
