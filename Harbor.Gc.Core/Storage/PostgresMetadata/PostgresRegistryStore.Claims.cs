using System.Collections.Concurrent;
using Harbor.Gc.Model;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Storage.PostgresMetadata;

public sealed partial class PostgresRegistryStore : ISharedSweepStore
{
    // A claim is a session-level advisory lock of the two-key form: this class, and the digest's first 32 bits. It is taken with
    // pg_try_advisory_lock (another collector's claim is skipped, never waited for: the row-by-row equivalent of FOR UPDATE SKIP
    // LOCKED) on a connection the run holds for the whole sweep, and released when the blob is done (sent with the next claim); PostgreSQL releases every lock
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

    /// <summary>
    /// A sweep's claims: one session, used by one worker at a time. A claim's release goes with the session's next claim, in its batch
    /// (one round trip per blob instead of two): a blob done stays claimed until then, or until the session ends with the sweep, which
    /// only makes another collector skip a blob this one has finished.
    /// </summary>
    private sealed class Claims(NpgsqlConnection connection) : ISweepClaims
    {
        private readonly SemaphoreSlim _session = new(1, 1);
        private readonly ConcurrentQueue<int> _released = new();

        public async ValueTask<IAsyncDisposable?> TryClaimBlobAsync(Digest digest, CancellationToken cancellationToken)
        {
            var key = Key(digest);
            await _session.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // the releases first (the same key released and claimed again stays claimed), then the claim
                await using var batch = new NpgsqlBatch(connection);
                var releases = 0;
                while (_released.TryDequeue(out var released))
                {
                    batch.BatchCommands.Add(Call("pg_advisory_unlock", released));
                    releases++;
                }

                batch.BatchCommands.Add(Call("pg_try_advisory_lock", key));
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < releases; i++)
                {
                    await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                }

                return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetBoolean(0) ? new Claim(this, key) : null;
            }
            finally
            {
                _session.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _session.WaitAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false); // the session ends, and every claim it still holds with it
            _session.Dispose();
        }

        private static int Key(Digest digest) => unchecked((int)(digest.Prefix >> 32));

        /// <summary>A call of an advisory lock function of the claim class.</summary>
        private static NpgsqlBatchCommand Call(string function, int key)
        {
            var command = new NpgsqlBatchCommand($"SELECT {function}(@class, @key)");
            command.Parameters.Add(new NpgsqlParameter("class", NpgsqlDbType.Integer) { Value = BlobClaimClass });
            command.Parameters.Add(new NpgsqlParameter("key", NpgsqlDbType.Integer) { Value = key });
            return command;
        }

        private sealed class Claim(Claims claims, int key) : IAsyncDisposable
        {
            private int _released;

            /// <summary>Releases the claim with the session's next claim (or its end).</summary>
            public ValueTask DisposeAsync()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0)
                {
                    claims._released.Enqueue(key);
                }

                return ValueTask.CompletedTask;
            }
        }
    }
}
