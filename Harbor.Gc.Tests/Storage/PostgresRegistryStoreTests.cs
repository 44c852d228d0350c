using System.Net;
using System.Net.Sockets;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// What is particular to the <c>postgres:</c> store (the shared suites run against it through <see cref="StoreKind.Postgres"/>):
/// opening refuses what it must not touch, the schema is migrated once under a lock, digests are stored compactly, and every lookup
/// the GC and the registry API make is served by an index.
/// </summary>
[NonParallelizable] // a database cluster
public class PostgresRegistryStoreTests
{
    private StoreFactory _stores = null!;
    private readonly List<IDisposable> _databases = [];

    [SetUp]
    public void SetUp() => _stores = new StoreFactory(StoreKind.Postgres);

    [TearDown]
    public void TearDown()
    {
        _stores.Dispose();
        foreach (var database in _databases)
        {
            database.Dispose();
        }

        _databases.Clear();
    }

    [Test]
    public void Open_UnreachableServer_IsRefused_NamingTheServer()
    {
        // given a port nothing listens on
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var connection = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Username = "harbor", Password = "secret-password-1", Database = "store", Timeout = 5 };

        // when the store is opened there
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = connection.ConnectionString, BlobsPath = _stores.NewFolder() });

        // then it is refused with the server named, and never the password
        open.Should().Throw<InvalidDataException>()
            .Where(e => e.Message.Contains($"postgresql://harbor@127.0.0.1:{port}/store", StringComparison.Ordinal) && e.Message.Contains("Cannot connect", StringComparison.Ordinal)
                && !e.Message.Contains("secret-password-1", StringComparison.Ordinal));
    }

    [Test]
    public void Open_WrongPassword_IsRefused_SayingSo_AndWithoutThePassword()
    {
        // given a store's database
        var database = NewStoreDatabase();
        var wrong = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Password = "wrong-password-42" };

        // when it is opened with the wrong password
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = wrong.ConnectionString, BlobsPath = _stores.NewFolder() });

        // then the credentials are named as the problem
        open.Should().Throw<InvalidDataException>()
            .Where(e => e.Message.Contains("refused the credentials of user 'harbor'", StringComparison.Ordinal) && e.Message.Contains(database.Name, StringComparison.Ordinal)
                && !e.Message.Contains("wrong-password-42", StringComparison.Ordinal));
    }

    [Test]
    public void Open_AnotherApplicationsDatabase_IsRefused_AndNothingIsCreated()
    {
        // given a database holding another application's table
        var name = PostgresTestDatabases.NewEmptyDatabase();
        _databases.Add(new PostgresTestDatabases.Database(name));
        Execute(name, "CREATE TABLE customers (id int PRIMARY KEY, name text)");

        // when the store is opened there, even asked to create itself
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = _stores.NewFolder(), CreateIfMissing = true });

        // then it is refused, naming the foreign table, and the database holds only what it held
        open.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains("another application", StringComparison.Ordinal) && e.Message.Contains("customers", StringComparison.Ordinal));
        Tables(name).Should().Equal("customers");
    }

    [Test]
    public void Open_EmptyDatabase_WithoutCreate_IsRefused_AndNothingIsCreated()
    {
        // given an empty database
        var name = PostgresTestDatabases.NewEmptyDatabase();
        _databases.Add(new PostgresTestDatabases.Database(name));

        // when it is opened as a store without being asked to create one (as harbor-gc does), writable and read-only
        var writable = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = _stores.NewFolder() });
        var readOnly = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = _stores.NewFolder(), ReadOnly = true });

        // then both are refused and nothing is created
        writable.Should().Throw<InvalidDataException>().WithMessage("*empty database with no Harbor.Gc store*");
        readOnly.Should().Throw<InvalidDataException>().WithMessage("*empty database with no Harbor.Gc store*");
        Tables(name).Should().BeEmpty();
    }

    [Test]
    public void Open_NewerSchemaVersion_IsRefused_AndNothingChanges()
    {
        // given a store whose schema a newer Harbor.Gc has migrated to the version after this one's
        var database = NewStoreDatabase();
        var newer = PostgresSchema.CurrentVersion + 1;
        Execute(database.Name, $"INSERT INTO harbor_gc_schema (version, name) VALUES ({newer}, '{newer:D4}_future')");
        Execute(database.Name, "CREATE TABLE future_things (id int)");
        var before = Tables(database.Name);

        // when this version opens it, writable
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = _stores.NewFolder() });

        // then it is refused, naming both versions, and nothing changes
        open.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains($"schema version {newer}, newer", StringComparison.Ordinal) && e.Message.Contains($"version {PostgresSchema.CurrentVersion}", StringComparison.Ordinal));
        Tables(database.Name).Should().Equal(before);
        Scalar<long>(database.Name, "SELECT count(*) FROM harbor_gc_schema").Should().Be(newer);
    }

    [Test]
    public async Task Open_Version1Store_IsMigrated_ToGinIndexesWithoutAPendingList_AndCompactRows_ThatReadBackTheSame()
    {
        // given a store as schema version 1 made it: GIN indexes with fast update (PostgreSQL's default) with entries pending, and
        // artifact rows with media types as text and references as five parallel arrays (a null media type, a foreign reference, a
        // sha512 digest, an artifact type)
        var name = PostgresTestDatabases.NewEmptyDatabase();
        _databases.Add(new PostgresTestDatabases.Database(name));
        await using (var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(name)))
        {
            await connection.OpenAsync();
            await PostgresSchema.EnsureAsync(connection, name, create: true, readOnly: false, CancellationToken.None, upTo: 1);
        }

        Execute(name, "INSERT INTO artifacts SELECT 'repo', sha256(i::text::bytea), 'application/vnd.oci.image.manifest.v1+json', 1, "
            + "CASE WHEN i % 2 = 0 THEN 'application/vnd.example.sbom' END, 100 + i, 10, 5, NULL, '{}', "
            + "ARRAY[sha256(('config' || i)::bytea), sha512(('layer' || i)::bytea), sha256('shared'::bytea)], ARRAY[7::bigint, 1000 + i, 3], "
            + "ARRAY['application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.layer.v1.tar+gzip', NULL], ARRAY[1::smallint, 2, 2], "
            + "ARRAY[false, false, true], ARRAY[sha256(('c' || i)::bytea)], NULL, NULL, i FROM generate_series(1, 100) i");
        Execute(name, "CREATE EXTENSION IF NOT EXISTS pageinspect");
        Scalar<long>(name, "SELECT n_pending_tuples FROM gin_metapage_info(get_raw_page('artifacts_ref_digests', 0))").Should().BeGreaterThan(0);

        // when this version opens it for writing
        await using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = _stores.NewFolder() });

        // then it is at this version, both indexes write straight into the index, and what was pending is merged
        Scalar<long>(name, "SELECT count(*) FROM harbor_gc_schema").Should().Be(PostgresSchema.CurrentVersion);
        foreach (var index in new[] { "artifacts_ref_digests", "artifacts_children" })
        {
            Scalar<string>(name, $"SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = '{index}'").Should().Contain("fastupdate=off", index);
            Scalar<long>(name, $"SELECT n_pending_tuples FROM gin_metapage_info(get_raw_page('{index}', 0))").Should().Be(0, index);
        }

        // and every artifact reads back as it was written, from the compact row (version 3), in every reference's order
        Scalar<long>(name, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'artifacts' AND column_name IN ('ref_sizes', 'ref_media_types', 'ref_kinds', 'ref_foreign')").Should().Be(0);
        foreach (var i in new[] { 1, 2, 100 })
        {
            var digest = Digest.FromHash(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            var artifact = await store.GetArtifactAsync(new ArtifactKey(RepositoryName.Parse("repo"), digest));
            artifact.Should().NotBeNull();
            artifact!.MediaType.Should().Be("application/vnd.oci.image.manifest.v1+json");
            artifact.ArtifactType.Should().Be(i % 2 == 0 ? "application/vnd.example.sbom" : null);
            artifact.Size.Should().Be(100 + i);
            artifact.Version.Should().Be(i);
            artifact.References.Should().Equal(
                new BlobReference(Digest.FromHash(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes($"config{i}"))), 7, "application/vnd.oci.image.config.v1+json", BlobReferenceKind.Config),
                new BlobReference(Digest.FromHash(System.Security.Cryptography.SHA512.HashData(System.Text.Encoding.ASCII.GetBytes($"layer{i}"))), 1000 + i, "application/vnd.oci.image.layer.v1.tar+gzip", BlobReferenceKind.Layer),
                new BlobReference(Digest.FromHash(System.Security.Cryptography.SHA256.HashData("shared"u8)), 3, null, BlobReferenceKind.Layer, IsForeign: true));
            artifact.Children.Should().Equal(Digest.FromHash(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes($"c{i}"))));
        }

        // and the GIN lookups still answer from the kept digests
        (await store.IsBlobReferencedAsync(Digest.FromHash(System.Security.Cryptography.SHA512.HashData("layer7"u8)))).Should().BeTrue();
    }

    [TestCase("DROP TABLE layer_links", "layer_links is missing", Description = "a version recorded, one of its tables missing")]
    [TestCase("DROP TABLE harbor_gc_schema", "no harbor_gc_schema record", Description = "the store's tables, no version record")]
    public void Open_HalfAppliedMigration_IsRefused_AndNothingChanges(string damage, string expected)
    {
        // given a store whose schema is not whole
        var database = NewStoreDatabase();
        Execute(database.Name, damage);
        var before = Tables(database.Name);

        // when it is opened, writable and asked to create itself
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = _stores.NewFolder(), CreateIfMissing = true });

        // then it is refused as half-applied, and nothing is created or repaired
        open.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains(expected, StringComparison.Ordinal) && e.Message.Contains("half-applied", StringComparison.Ordinal));
        Tables(database.Name).Should().Equal(before);
    }

    [Test]
    public async Task Open_ByFourOpenersAtOnce_OnAnEmptyDatabase_MigratesOnce()
    {
        // given an empty database
        var name = PostgresTestDatabases.NewEmptyDatabase();
        _databases.Add(new PostgresTestDatabases.Database(name));
        var folder = _stores.NewFolder();

        // when four openers (each with its own connections, as four processes) create the store at once
        var opened = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(name), BlobsPath = folder, CreateIfMissing = true }))));

        // then every one opens the one store, migrated once
        foreach (var store in opened)
        {
            store.Dispose();
        }

        Scalar<long>(name, "SELECT count(*) FROM harbor_gc_schema").Should().Be(PostgresSchema.CurrentVersion);
        Scalar<long>(name, "SELECT count(*) FROM harbor_gc_store").Should().Be(1);
    }

    [Test]
    public void Open_BlobFolderOfAnotherStore_IsRefused()
    {
        // given two stores, and the blob folder of the first
        var first = NewStoreDatabase();
        var folder = _stores.NewFolder();
        PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = first.ConnectionString, BlobsPath = folder, CreateIfMissing = true }).Dispose();
        var second = NewStoreDatabase();
        Execute(second.Name, "UPDATE harbor_gc_store SET id = 'another'");

        // when the second is opened with the first one's folder
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = second.ConnectionString, BlobsPath = folder });

        // then it is refused
        open.Should().Throw<InvalidDataException>().WithMessage("*belongs to another store*");
    }

    [Test]
    public void Open_AMissingDatabase_IsRefused_NamingIt()
    {
        // given a server without the database named
        var missing = new Npgsql.NpgsqlConnectionStringBuilder(PostgresTestDatabases.ConnectionString("no_such_store")).ConnectionString;

        // when the store is opened there, even asked to create itself
        var open = () => PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = missing, BlobsPath = _stores.NewFolder(), CreateIfMissing = true });

        // then it is refused, naming the database (a store's database is created by its operator, not by the store)
        open.Should().Throw<InvalidDataException>().WithMessage("There is no database 'no_such_store'*");
    }

    [Test]
    public async Task ReadOnly_ReadsTheStore_RefusesEveryWrite_AndWritesNothing()
    {
        // given a store holding an image, and a blob folder the read-only opener has never seen (no marker)
        var registry = new ScenarioRegistry(_stores);
        var image = registry.Image("library/app", [registry.Blob()], tag: "v1");
        var written = (PostgresRegistryStore)registry.Store.Inner;
        var database = written.Where[(written.Where.LastIndexOf('/') + 1)..];
        var folder = _stores.NewFolder();

        // when it is opened read-only and read, and every kind of write is attempted
        using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = PostgresTestDatabases.ConnectionString(database), BlobsPath = folder, ReadOnly = true });
        var read = await store.GetArtifactAsync(image.Key);
        using var bytes = new MemoryStream([1, 2, 3]);
        var writes = new Func<Task>[]
        {
            () => store.PutBlobAsync(Digest.Sha256Of([1, 2, 3]), bytes).AsTask(),
            () => store.PutTagAsync(image.Repository, "v2", image.Digest).AsTask(),
            () => store.TryUpdateBlobStatusAsync(image.References[0].Digest, BlobStatusSet.None, BlobStatus.Delete, null).AsTask(),
            () => store.DeleteArtifactAsync(image.Key, image.Version).AsTask(),
            () => store.DeleteBlobContentAsync(image.References[0].Digest).AsTask(),
        };

        // then it reads, each write is refused, nothing in the database changes and nothing is written to the folder
        read.Should().NotBeNull();
        foreach (var write in writes)
        {
            await write.Should().ThrowAsync<InvalidOperationException>().WithMessage("*opened read-only*");
        }

        registry.Store.GetArtifacts().Should().ContainSingle().Which.Version.Should().Be(read!.Version);
        registry.Store.GetTags().Should().ContainSingle();
        Directory.EnumerateFileSystemEntries(folder).Should().BeEmpty("a read-only opening claims no folder");
    }

    [Test]
    public void Digests_AreStoredAsTheirRawHash()
    {
        // given a blob and an image pushed through the store
        var registry = new ScenarioRegistry(_stores);
        var layer = registry.Blob();
        registry.Image("library/app", [layer], tag: "v1");
        var database = ((PostgresRegistryStore)registry.Store.Inner).Where;

        // then every digest column holds 32 bytes, none the 71-character text
        using var connection = Connect(registry);
        Query<long>(connection, "SELECT max(octet_length(digest))::bigint FROM blobs").Should().Be(32, database);
        Query<long>(connection, "SELECT max(octet_length(digest))::bigint FROM artifacts").Should().Be(32);
        Query<long>(connection, "SELECT max(octet_length(d))::bigint FROM artifacts, unnest(ref_digests) AS d").Should().Be(32);
        Query<long>(connection, "SELECT max(octet_length(digest))::bigint FROM tags").Should().Be(32);
    }

    /// <summary>Every lookup of the GC and the registry API, as the store makes it, with the index that must serve it.</summary>
    private static readonly (string Lookup, string Sql, string Index)[] Lookups =
    [
        ("is this blob referenced", PostgresRegistryStore.ReferencedQuery, "artifacts_ref_digests"),
        ("which indexes list this manifest", PostgresRegistryStore.ParentsQuery, "artifacts_children"),
        ("a blob", "SELECT * FROM blobs WHERE digest = @digest", "blobs_pkey"),
        ("an artifact", "SELECT * FROM artifacts WHERE repository = @repository AND digest = @digest", "artifacts_pkey"),
        ("a tag", "SELECT * FROM tags WHERE repository = @repository AND name = @name", "tags_pkey"),
        ("the tags of a repository", "SELECT * FROM tags WHERE repository = @repository", "tags_"),
        ("the tags of an artifact", "SELECT * FROM tags WHERE repository = @repository AND digest = @digest", "tags_artifact"),
        ("an accessory's link", "SELECT * FROM accessory_links WHERE repository = @repository AND accessory = @accessory", "accessory_links_pkey"),
        ("the referrers of a subject", "SELECT * FROM accessory_links WHERE repository = @repository AND subject = @digest", "accessory_links_subject"),
        ("a layer link", "SELECT * FROM layer_links WHERE repository = @repository AND digest = @layer", "layer_links_pkey"),
        ("a repository's artifacts referencing a blob", PostgresRegistryStore.ReferencedInRepositoryQuery, "artifacts_ref_digests"),
    ];

    [Test]
    public void EveryLookup_IsServedByItsIndex()
    {
        // given a store of 20,000 artifacts in 4 repositories, each tagged, signed, linking a layer and listing a child
        var database = NewStoreDatabase();
        Fill20000(database);
        using var connection = new NpgsqlConnection(database.ConnectionString);
        connection.Open();
        using (var priced = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            priced.ExecuteNonQuery();
        }

        // when each lookup is planned, with sequential scans priced out (a missing index then still shows a sequential scan), for
        // the artifact 4242 of repo2
        foreach (var (lookup, sql, index) in Lookups)
        {
            using var explain = new NpgsqlCommand("EXPLAIN " + sql, connection);
            explain.Parameters.AddWithValue("repository", "repo2");
            explain.Parameters.AddWithValue("digest", Sha256("4242"));
            explain.Parameters.AddWithValue("name", "v4242");
            explain.Parameters.AddWithValue("accessory", Sha256("a4242"));
            explain.Parameters.AddWithValue("layer", Sha256("l4242"));
            explain.Parameters.AddWithValue("child", new[] { Sha256("c4242") });
            explain.Parameters.AddWithValue("digests", new[] { Sha256("l4242") });
            var plan = new List<string>();
            using (var reader = explain.ExecuteReader())
            {
                while (reader.Read())
                {
                    plan.Add(reader.GetString(0));
                }
            }

            // then it reads through its index, never a whole table
            var text = string.Join("\n", plan);
            text.Should().Contain(index, $"{lookup} must use {index}:\n{text}").And.NotContain("Seq Scan", $"{lookup}:\n{text}");
        }

        static byte[] Sha256(string text) => System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>20,000 artifacts in 4 repositories (artifact i in repo(i % 4)), each tagged, signed, linking layer li and listing child ci.</summary>
    private static void Fill20000(PostgresTestDatabases.Database database)
    {
        using var connection = new NpgsqlConnection(database.ConnectionString);
        connection.Open();
        foreach (var sql in new[]
                 {
                     "INSERT INTO blobs SELECT sha256(('l' || i)::bytea), 1, NULL, 0, 0, 0 FROM generate_series(1, 20000) i",
                     "INSERT INTO artifacts (repository, digest, media_type, kind, artifact_type, size, pushed_at, first_pushed_at, pulled_at, labels, ref_digests, refs, ref_keys, "
                         + "children, subject, parse_problem, version) SELECT 'repo' || (i % 4), sha256(i::text::bytea), 1, 0, NULL, 1, 0, 0, NULL, '{}', "
                         + "ARRAY[sha256(('l' || i)::bytea)], '', '', ARRAY[sha256(('c' || i)::bytea)], NULL, NULL, i FROM generate_series(1, 20000) i",
                     "INSERT INTO tags SELECT 'repo' || (i % 4), 'v' || i, sha256(i::text::bytea), 0, NULL FROM generate_series(1, 20000) i",
                     "INSERT INTO accessory_links SELECT 'repo' || (i % 4), sha256(('a' || i)::bytea), sha256(i::text::bytea), 't', 0, false FROM generate_series(1, 20000) i",
                     "INSERT INTO layer_links SELECT 'repo' || (i % 4), sha256(('l' || i)::bytea), 0 FROM generate_series(1, 20000) i",
                     "ANALYZE",
                 })
        {
            using var command = new NpgsqlCommand(sql, connection);
            command.ExecuteNonQuery();
        }
    }

    [TestCase("force_custom_plan", Description = "as the store's sessions plan: for each run's values")]
    [TestCase("force_generic_plan", Description = "as PostgreSQL may plan a prepared statement after five runs: for any values")]
    public async Task TheGinLookups_AsTheStoreRunsThem_UseTheirIndexes_ForADigestNoArtifactReferences(string planCacheMode)
    {
        // given the store of 20,000 artifacts (each layer referenced once: no statistics say how common a digest is), opened
        var database = NewStoreDatabase();
        Fill20000(database);
        using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = database.ConnectionString, BlobsPath = _stores.NewFolder(), CreateIfMissing = true });
        await using var connection = await store.OpenConnectionAsync();
        Query<string>(connection, "SHOW plan_cache_mode").Should().Be("force_custom_plan", "every session of the store plans each run for its values");
        await ExecuteAsync(connection, $"SET plan_cache_mode = {planCacheMode}");

        // when each lookup a GIN index serves is prepared on one of its connections, with sequential scans allowed, and planned for
        // a digest no artifact references (as the sweep's reference check is, for each garbage blob)
        (string Lookup, string Sql, string Index)[] lookups =
        [
            ("is this blob referenced", PostgresRegistryStore.ReferencedQuery, "artifacts_ref_digests"),
            ("does an artifact of the repository reference this blob", PostgresRegistryStore.ReferencedInRepositoryQuery, "artifacts_ref_digests"),
            ("which indexes list this manifest", PostgresRegistryStore.ParentsQuery.Replace("@child", "@digests", StringComparison.Ordinal), "artifacts_children"),
        ];
        for (var l = 0; l < lookups.Length; l++)
        {
            var (lookup, sql, index) = lookups[l];
            var prepared = sql.Replace("@digests", "$1", StringComparison.Ordinal).Replace("@repository", "'repo2'", StringComparison.Ordinal);
            await ExecuteAsync(connection, $"PREPARE lookup{l}(bytea[]) AS {prepared}");
            var plan = new List<string>();
            await using (var explain = new NpgsqlCommand($"EXPLAIN EXECUTE lookup{l}(ARRAY[sha256('garbage'::bytea)])", connection))
            await using (var reader = await explain.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    plan.Add(reader.GetString(0));
                }
            }

            // then it reads through its index, never the whole table
            var text = string.Join("\n", plan);
            text.Should().Contain(index, $"{lookup} ({planCacheMode}) must use {index}:\n{text}").And.NotContain("Seq Scan", $"{lookup}:\n{text}");
        }
    }

    [TestCase(null, true, Description = "the default: Npgsql prepares what a connection runs often")]
    [TestCase("Max Auto Prepare=0", false, Description = "for a pooler that cannot keep prepared statements")]
    [TestCase("maxautoprepare=0", false, Description = "another spelling")]
    public async Task AStatementTheStoreRunsOften_IsPreparedOnItsConnection_UnlessTheConnectionStringSaysNot(string? setting, bool prepared)
    {
        // given a store opened with that connection string
        var database = NewStoreDatabase();
        var connectionString = setting is null ? database.ConnectionString : $"{database.ConnectionString};{setting}";
        using var store = PostgresRegistryStore.Open(new PostgresStoreOptions { ConnectionString = connectionString, BlobsPath = _stores.NewFolder(), CreateIfMissing = true });

        // when it looks a blob up twenty times, one after another (one pooled connection)
        for (var i = 0; i < 20; i++)
        {
            (await store.GetBlobAsync(Digest.Sha256Of([(byte)i]))).Should().BeNull();
        }

        // then that connection holds the lookup prepared, or nothing prepared; either way it plans each run for its values
        await using var connection = await store.OpenConnectionAsync();
        Query<long>(connection, "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM blobs WHERE digest%'").Should().Be(prepared ? 1 : 0);
        Query<string>(connection, "SHOW plan_cache_mode").Should().Be("force_custom_plan");
        PostgresRegistryStore.SetsMaxAutoPrepare(connectionString).Should().Be(setting is not null);
    }

    [Test]
    public async Task AColumnAddedUnderTheStoresPreparedStatements_BreaksNothing()
    {
        // given a registry whose store's connections prepared their statements over thirty pushes
        var registry = new ScenarioRegistry(_stores);
        for (var i = 0; i < 30; i++)
        {
            registry.Image("library/app", [registry.Blob()], tag: i % 2 == 0 ? $"v{i}" : null);
        }

        // when another process adds a column to each table (as a later version's migration may) while the store is open
        await using (var other = Connect(registry))
        {
            foreach (var table in new[] { "blobs", "artifacts", "tags", "accessory_links", "layer_links" })
            {
                await ExecuteAsync(other, $"ALTER TABLE {table} ADD COLUMN later_version_column integer");
            }
        }

        // then pushes, a real run and what it leaves work as before: every statement names its columns, so no prepared
        // statement's result changes
        for (var i = 0; i < 10; i++)
        {
            registry.Image("library/app", [registry.Blob()], tag: $"w{i}");
        }

        registry.Age();
        var result = await registry.Collector().RunAsync(new Harbor.Gc.Collection.GcOptions { DeleteUntagged = true });
        result.Outcome.Should().Be(Harbor.Gc.Collection.GcOutcome.Completed);
        result.ArtifactsDeleted.Should().Be(15, "the untagged images");
        registry.Store.GetArtifacts().Should().HaveCount(25);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private PostgresTestDatabases.Database NewStoreDatabase()
    {
        var database = PostgresTestDatabases.NewStoreDatabase();
        _databases.Add(database);
        return database;
    }

    private static NpgsqlConnection Connect(ScenarioRegistry registry) =>
        ((PostgresRegistryStore)registry.Store.Inner).OpenConnectionAsync().AsTask().GetAwaiter().GetResult();

    private static T Query<T>(NpgsqlConnection connection, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection);
        return (T)command.ExecuteScalar()!;
    }

    private static void Execute(string database, string sql)
    {
        using var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(database));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
        NpgsqlConnection.ClearPool(connection);
    }

    private static T Scalar<T>(string database, string sql)
    {
        using var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(database));
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        var result = (T)command.ExecuteScalar()!;
        NpgsqlConnection.ClearPool(connection);
        return result;
    }

    private static List<string> Tables(string database)
    {
        using var connection = new NpgsqlConnection(PostgresTestDatabases.ConnectionString(database));
        connection.Open();
        using var command = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", connection);
        var tables = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                tables.Add(reader.GetString(0));
            }
        }

        NpgsqlConnection.ClearPool(connection);
        return tables;
    }
}
