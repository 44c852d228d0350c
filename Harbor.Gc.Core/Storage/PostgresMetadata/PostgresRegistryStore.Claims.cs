using Harbor.Gc.Model;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Storage.PostgresMetadata;

public sealed partial class PostgresRegistryStore : ISharedSweepStore
{
    // A claim is a session-level advisory lock of the two-key form: this class, and the digest's first 32 bits. It is taken with
    // pg_try_advisory_lock (another collector's claim is skipped, never waited for: the row-by-row equivalent of FOR UPDATE SKIP
    // LOCKED) on a connection the run holds for the whole sweep, and released when the blob is done; PostgreSQL releases every lock
    // of a session that ends, so a killed collector's claims end with it. Two digests that share 32 bits only make one collector
    // skip a blob another is deleting; it stays for the next run. The migrations' lock uses another class (PostgresSchema), and
    // uploads lock a digest with the one-key form, a separate key space.
    private const int BlobClaimClass = 0x48474342; // "HGCB"

    /// <summary>The application name of a claims session (pg_stat_activity shows which sessions are collectors' sweeps).</summary>
    internal const string ClaimsApplicationName = "harbor-gc sweep";

    private string? _claimsConnection;

    /// <inheritdoc />
    async ValueTask<ISweepClaims> ISharedSweepStore.BeginClaimsAsync(CancellationToken cancellationToken)
    {
        EnsureWritable();
        var connection = _claimsConnection is { } unpooled
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(unpooled) { ApplicationName = ClaimsApplicationName }.ConnectionString)
            : _dataSource.CreateConnection();
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return new Claims(connection);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A sweep's claims: one session, used by one worker at a time.</summary>
    private sealed class Claims(NpgsqlConnection connection) : ISweepClaims
    {
        private readonly SemaphoreSlim _session = new(1, 1);

        public async ValueTask<IAsyncDisposable?> TryClaimBlobAsync(Digest digest, CancellationToken cancellationToken)
        {
            var key = Key(digest);
            return await CallAsync("pg_try_advisory_lock", key, cancellationToken).ConfigureAwait(false) is true ? new Claim(this, key) : null;
        }

        public async ValueTask DisposeAsync()
        {
            await _session.WaitAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false); // the session ends, and every claim it still holds with it
            _session.Dispose();
        }

        private static int Key(Digest digest) => unchecked((int)(digest.Prefix >> 32));

        private async ValueTask ReleaseAsync(int key)
        {
            try
            {
                await CallAsync("pg_advisory_unlock", key, CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException) when (connection.State is System.Data.ConnectionState.Broken or System.Data.ConnectionState.Closed)
            {
                // the session is gone, and its claims with it (the next claim fails the run)
            }
        }

        /// <summary>Calls an advisory lock function of the claim class on the session, one worker at a time.</summary>
        private async ValueTask<object?> CallAsync(string function, int key, CancellationToken cancellationToken)
        {
            await _session.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using var command = new NpgsqlCommand($"SELECT {function}(@class, @key)", connection);
                command.Parameters.Add(new NpgsqlParameter("class", NpgsqlDbType.Integer) { Value = BlobClaimClass });
                command.Parameters.Add(new NpgsqlParameter("key", NpgsqlDbType.Integer) { Value = key });
                return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _session.Release();
            }
        }

        private sealed class Claim(Claims claims, int key) : IAsyncDisposable
        {
            public ValueTask DisposeAsync() => claims.ReleaseAsync(key);
        }
    }
}
