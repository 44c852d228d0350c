using System.Collections.Immutable;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.PostgresMetadata;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Tests.Storage;

/// <summary>
/// The binary COPY reader the <c>postgres:</c> store's snapshot reads every table with, against a real server: what PostgreSQL
/// sends decodes to what was selected, rows longer than the reader's buffer and rows cut across its refills included, and a stream
/// that is not what was asked for is refused rather than read past.
/// </summary>
[NonParallelizable] // a database cluster
public class BinaryCopyReaderTests
{
    private static readonly Digest Sha256 = Digest.Sha256Of("a"u8);

    [Test]
    public async Task Rows_DecodeToWhatWasSelected_IncludingNullsArraysAndRowsLongerThanTheBuffer()
    {
        // given rows of every field type the snapshot reads: an int2, int4, int8, bool, text (one of 200,000 bytes, three times the
        // reader's first buffer, and multi-byte UTF-8), bytea digests (sha256 and sha512), text[] and bytea[] (empty, NULL, and
        // every 1,000th row 3,000 digests: 108 KB, longer than the buffer); 5,000 rows, so rows are cut across the buffer's refills
        using var database = PostgresTestDatabases.NewStoreDatabase();
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        var sha512 = Digest.Parse("sha512:" + new string('c', 128));
        const string Query = """
            SELECT g::int2, (g * 100000)::int4, (g::int8 << 40), g % 2 = 0,
                   CASE WHEN g = 2 THEN repeat('é', 100000) ELSE 'row ' || g END,
                   CASE WHEN g = 3 THEN NULL ELSE @sha256 END, @sha512,
                   CASE g WHEN 1 THEN ARRAY[]::text[] WHEN 2 THEN NULL ELSE ARRAY['a', 'bé', ''] END,
                   CASE WHEN g = 1 THEN ARRAY[]::bytea[] WHEN g % 1000 = 0 THEN array_fill(@sha256, ARRAY[3000]) ELSE array_fill(@sha256, ARRAY[g % 7]) END
            FROM generate_series(1, 5000) g ORDER BY g
            """;

        // when they are read through a binary COPY (the query's parameters inlined: COPY takes none)
        var sql = Query.Replace("@sha256", $"'\\x{Sha256.Hex}'::bytea", StringComparison.Ordinal).Replace("@sha512", $"'\\x{sha512.Hex}'::bytea", StringComparison.Ordinal);
        await using var rows = await BinaryCopyReader.StartAsync(connection, sql, "generated rows", 9, CancellationToken.None);
        var read = 0;
        while (await rows.ReadAsync(CancellationToken.None))
        {
            // then every field of every row decodes to what was selected
            var g = ++read;
            rows.Int16(0).Should().Be((short)g);
            rows.Int32(1).Should().Be(g * 100000);
            rows.Int64(2).Should().Be((long)g << 40);
            rows.Boolean(3).Should().Be(g % 2 == 0);
            rows.String(4).Should().Be(g == 2 ? new string('é', 100000) : $"row {g}");
            if (g == 3)
            {
                rows.IsNull(5).Should().BeTrue();
            }
            else
            {
                rows.Digest(5).Should().Be(Sha256);
            }

            rows.Digest(6).Should().Be(sha512);
            rows.Strings(7).Should().Equal(g switch { 1 or 2 => ImmutableArray<string>.Empty, _ => ["a", "bé", ""] });
            var digests = rows.Digests(8);
            digests.Length.Should().Be(g == 1 ? 0 : g % 1000 == 0 ? 3000 : g % 7);
            digests.Where(d => d != Sha256).Should().BeEmpty();
        }

        read.Should().Be(5000);
    }

    [Test]
    public async Task ATablesCopy_ReadsTheNamedColumnsOfTheRowsTheTransactionSees()
    {
        // given a table of three rows, a repeatable-read transaction that has taken its snapshot, then a fourth row committed by
        // another connection and the first row deleted (as a push and a collection may, while a snapshot is read)
        using var database = PostgresTestDatabases.NewStoreDatabase();
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand(
                         "CREATE TABLE copied (id int8, name text, packed bytea GENERATED ALWAYS AS (int8send(id)) STORED); "
                         + "INSERT INTO copied (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three')", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        await using (var first = new NpgsqlCommand("SELECT count(*) FROM copied", connection, transaction))
        {
            (await first.ExecuteScalarAsync()).Should().Be(3L);
        }

        await using (var other = new NpgsqlConnection(database.ConnectionString))
        {
            await other.OpenAsync();
            await using var change = new NpgsqlCommand("INSERT INTO copied (id, name) VALUES (4, 'four'); DELETE FROM copied WHERE id = 1", other);
            await change.ExecuteNonQueryAsync();
        }

        // when the table is read through its COPY, columns named in another order than the table's
        var read = new List<(string, long)>();
        await using (var rows = await BinaryCopyReader.StartTableAsync(connection, "copied", "name, id", CancellationToken.None))
        {
            while (await rows.ReadAsync(CancellationToken.None))
            {
                read.Add((rows.String(0), rows.Int64(1)));
            }
        }

        // then the rows are the snapshot's (not the fourth, still the first), each with the named columns in that order
        read.Should().BeEquivalentTo([("one", 1L), ("two", 2L), ("three", 3L)]);

        // and a generated column is refused by the server (the store reads its packed blob column through a query's COPY)
        var generated = async () => await BinaryCopyReader.StartTableAsync(connection, "copied", "packed", CancellationToken.None);
        (await generated.Should().ThrowAsync<PostgresException>()).Which.MessageText.Should().Contain("generated column");
    }

    [Test]
    public async Task AStreamThatIsNotWhatWasAskedFor_IsRefusedNamingWhatAndWhere()
    {
        // given a real server
        using var database = PostgresTestDatabases.NewStoreDatabase();
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();

        // when rows of three fields are read as rows of two, then it is refused at the first row, naming the rows and the counts
        await using (var rows = await BinaryCopyReader.StartAsync(connection, "SELECT 1, 2, 3", "three columns", 2, CancellationToken.None))
        {
            var act = async () => await rows.ReadAsync(CancellationToken.None);
            (await act.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain("three columns").And.Contain("row 1").And.Contain("3 fields, not 2");
        }

        // when a bytea that is no digest's hash is read as a digest, or an int4 as an int8, then it is refused, not cut or padded
        await using var other = new NpgsqlConnection(database.ConnectionString);
        await other.OpenAsync();
        await using (var rows = await BinaryCopyReader.StartAsync(other, $"SELECT '\\x{Sha256.Hex}00'::bytea, 7::int4", "damaged", 2, CancellationToken.None))
        {
            (await rows.ReadAsync(CancellationToken.None)).Should().BeTrue();
            var digest = () => rows.Digest(0);
            digest.Should().Throw<InvalidDataException>().WithMessage("*damaged*row 1*field 0 is 33 bytes, not a digest's hash*");
            var wide = () => rows.Int64(1);
            wide.Should().Throw<InvalidDataException>().WithMessage("*damaged*field 1 has 4 bytes, not 8*");
            (await rows.ReadAsync(CancellationToken.None)).Should().BeFalse();
        }
    }
}
