using System.Globalization;
using Npgsql;

namespace Harbor.Gc.Storage.PostgresMetadata;

public sealed partial class PostgresRegistryStore : IExclusiveRunStore
{
    // the run lock: a session-level advisory lock of the two-key form, beside the migrations' (PostgresSchema), held by a connection
    // of its own for the whole real run; PostgreSQL releases it when that session ends, so a killed run leaves no lock behind
    private const int RunLockClass = 0x48474353; // "HGCS", as the migrations' lock
    private const int RunLockObject = 2;

    private string? _runLockConnection;

    /// <inheritdoc />
    IDisposable IExclusiveRunStore.TakeRunLock()
    {
        var connection = _runLockConnection is { } unpooled ? new NpgsqlConnection(unpooled) : _dataSource.CreateConnection();
        connection.Open();
        try
        {
            using var command = Command(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_try_advisory_lock({RunLockClass}, {RunLockObject})"));
            if (command.ExecuteScalar() is not true)
            {
                throw new InvalidDataException(
                    $"{Description}: another harbor-gc real run holds the store's run lock (two real runs never overlap on one postgres: store, "
                    + "whichever process runs them); nothing was changed. Run again when it has finished.");
            }

            return new RunLock(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The run lock held: disposing unlocks it and closes its connection.</summary>
    private sealed class RunLock(NpgsqlConnection connection) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                using var command = Command(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_unlock({RunLockClass}, {RunLockObject})"));
                command.ExecuteNonQuery();
            }
            catch (NpgsqlException)
            {
                // the session is gone, and its lock with it
            }
            finally
            {
                connection.Dispose();
            }
        }
    }
}
