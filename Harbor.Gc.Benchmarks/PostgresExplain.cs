using System.Diagnostics;
using System.Globalization;
using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.PostgresMetadata;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// Where the <c>postgres:</c> store's time goes, from the server's side: <c>pg_stat_statements</c> around a real run (which statements,
/// how often, how long), and <c>measure-postgres N 1 explain</c>: <c>EXPLAIN (ANALYZE, BUFFERS)</c> of the sweep's "is this blob
/// referenced" lookup on a freshly filled database, after pushes have filled the GIN index's pending list, and with the index's
/// fast update off.
/// </summary>
internal static class PostgresExplain
{
    public static async Task ResetStatementsAsync(PostgresBenchmarkCluster cluster, string database)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(database, pooling: false));
        await connection.OpenAsync().ConfigureAwait(false);
        await ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements").ConfigureAwait(false);
        await ExecuteAsync(connection, "SELECT pg_stat_statements_reset()").ConfigureAwait(false);
    }

    /// <summary>Prints the statements of <paramref name="database"/> that took the most server time since the last reset.</summary>
    public static async Task PrintStatementsAsync(PostgresBenchmarkCluster cluster, string database)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(database, pooling: false));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT calls, total_exec_time, mean_exec_time, rows, shared_blks_hit + shared_blks_read, query FROM pg_stat_statements s "
            + "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT 14", connection);
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        var text = new StringBuilder("  server time by statement (pg_stat_statements): calls, total ms, mean ms, rows, buffers, statement\n");
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var query = reader.GetString(5).ReplaceLineEndings(" ");
            text.Append(CultureInfo.InvariantCulture,
                $"  {reader.GetInt64(0),9:N0} {reader.GetDouble(1),10:N0} {reader.GetDouble(2),8:F3} {reader.GetInt64(3),9:N0} {reader.GetInt64(4),11:N0}  {query[..Math.Min(query.Length, 110)]}\n");
        }

        Console.Write(text);
    }

    public static async Task RunAsync(PostgresBenchmarkCluster cluster, string template)
    {
        var database = PostgresBenchmarkStore.Copy(cluster, template);
        try
        {
            await using var store = PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System);
            var plan = await new GarbageCollector(store, new RegistryGenerator.FixedTime(PostgresBenchmarkStore.Now)).PlanAsync(PostgresStopwatch.DryRunOptions).ConfigureAwait(false);
            var garbage = plan.Blobs.Select(b => b.Digest).Take(2_000).ToArray();
            await using var connection = new NpgsqlConnection(cluster.ConnectionString(database, pooling: false));
            await connection.OpenAsync().ConfigureAwait(false);
            await ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS pageinspect").ConfigureAwait(false);

            async Task LookAsync(string when)
            {
                Console.WriteLine($"-- {when}: {await PendingAsync(connection).ConfigureAwait(false)}");
                await using (var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS) " + PostgresRegistryStore.ReferencedQuery, connection))
                {
                    explain.Parameters.Add(new NpgsqlParameter("digests", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = new[] { garbage[0].ToHashBytes() } });
                    await using var reader = await explain.ExecuteReaderAsync().ConfigureAwait(false);
                    while (await reader.ReadAsync().ConfigureAwait(false))
                    {
                        Console.WriteLine("   " + reader.GetString(0));
                    }
                }

                var watch = Stopwatch.StartNew();
                foreach (var digest in garbage)
                {
                    await store.IsBlobReferencedAsync(digest).ConfigureAwait(false);
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"   {garbage.Length:N0} IsBlobReferencedAsync of garbage blobs through the store: {watch.Elapsed.TotalMilliseconds / garbage.Length:F3} ms each"));
            }

            await using (var sizes = new NpgsqlCommand(
                "SELECT avg(pg_column_size(a.*)), avg(pg_column_size(ref_digests)), avg(pg_column_size(refs)), "
                + "avg(pg_column_size(children)), avg(pg_column_size(labels)), avg(cardinality(ref_digests)) FROM artifacts a", connection))
            await using (var reader = await sizes.ExecuteReaderAsync().ConfigureAwait(false))
            {
                await reader.ReadAsync().ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"   artifact row: {reader.GetDecimal(0):F0} bytes on average; ref_digests {reader.GetDecimal(1):F0}, refs (packed) {reader.GetDecimal(2):F0}, "
                    + $"children {reader.GetDecimal(3):F0}, labels {reader.GetDecimal(4):F0}; {reader.GetDecimal(5):F1} references per artifact"));
            }

            await ReadCostsAsync(connection, store).ConfigureAwait(false);
            await LookAsync("freshly filled (index built by CREATE INDEX)");
            var pushed = await PushAsync(cluster, database, 3_000).ConfigureAwait(false);
            await LookAsync($"after {pushed}");
            await ExecuteAsync(connection, "ALTER INDEX artifacts_ref_digests SET (fastupdate = off)").ConfigureAwait(false);
            await ExecuteAsync(connection, "SELECT gin_clean_pending_list('artifacts_ref_digests')").ConfigureAwait(false);
            await LookAsync("fastupdate = off, pending list cleaned");
            pushed = await PushAsync(cluster, database, 3_000).ConfigureAwait(false);
            await LookAsync($"fastupdate = off, after {pushed}");
        }
        finally
        {
            PostgresBenchmarkStore.Drop(cluster, database);
        }
    }

    /// <summary>Where a snapshot's time goes: the server sending each table (binary COPY out, bytes dropped), rows read without their fields, the store's snapshot.</summary>
    internal static async Task ReadCostsAsync(NpgsqlConnection connection, PostgresRegistryStore store)
    {
        for (var round = 0; round < 3; round++)
        {
            var line = new StringBuilder("   read costs:");
            foreach (var table in new[] { "blobs", "artifacts", "tags" })
            {
                var watch = Stopwatch.StartNew();
                long bytes = 0;
                await using (var raw = await connection.BeginRawBinaryCopyAsync($"COPY {table} TO STDOUT (FORMAT BINARY)").ConfigureAwait(false))
                {
                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = await raw.ReadAsync(buffer, 0, buffer.Length).ConfigureAwait(false)) > 0)
                    {
                        bytes += n;
                    }
                }

                var copied = watch.Elapsed.TotalMilliseconds;
                watch.Restart();
                long rows = 0;
                await using (var command = new NpgsqlCommand($"SELECT * FROM {table}", connection))
                await using (var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess).ConfigureAwait(false))
                {
                    while (await reader.ReadAsync().ConfigureAwait(false))
                    {
                        rows++;
                    }
                }

                line.Append(CultureInfo.InvariantCulture, $" {table} {rows:N0} rows, {bytes / 1e6:N0} MB: COPY out {copied:N0} ms, rows unread {watch.Elapsed.TotalMilliseconds:N0} ms;");
            }

            var total = Stopwatch.StartNew();
            var sink = new PostgresStopwatch.CountingSink();
            await store.ReadSnapshotAsync(sink).ConfigureAwait(false);
            Console.WriteLine(line.Append(CultureInfo.InvariantCulture, $" whole snapshot {total.Elapsed.TotalMilliseconds:N0} ms ({sink.Phases})"));
        }
    }

    private static async Task<string> PushAsync(PostgresBenchmarkCluster cluster, string database, int images)
    {
        var pushers = Enumerable.Range(10, 4).Select(i => new PostgresStopwatch.Pusher(PostgresBenchmarkStore.Open(cluster, database, TimeProvider.System, maxPoolSize: 4), i)).ToArray();
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(pushers.Select(p => p.PushCountAsync(images / pushers.Length))).ConfigureAwait(false);
        var elapsed = watch.Elapsed;
        var manifestSeconds = pushers.Sum(p => p.ManifestTime.TotalSeconds);
        foreach (var pusher in pushers)
        {
            await pusher.DisposeAsync().ConfigureAwait(false);
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"{images:N0} image pushes from 4 clients ({images / elapsed.TotalSeconds:N0} images/s, manifests {4 * images / manifestSeconds:N0}/s)");
    }

    private static async Task<string> PendingAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT n_pending_pages, n_pending_tuples FROM gin_metapage_info(get_raw_page('artifacts_ref_digests', 0))", connection);
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        await reader.ReadAsync().ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture, $"GIN pending list of artifacts_ref_digests: {reader.GetInt64(0)} pages, {reader.GetInt64(1)} tuples");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
