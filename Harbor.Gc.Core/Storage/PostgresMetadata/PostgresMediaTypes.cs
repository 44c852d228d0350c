using System.Collections.Concurrent;
using Npgsql;
using NpgsqlTypes;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// The store's media types as small numbers (schema version 3): the table <c>media_types</c> gives each media type or artifact type
/// text an id once, and artifact rows hold the ids. A registry has a handful of media types and millions of references to them; as
/// ids, a reference costs 4 bytes instead of about 50 in every row, and reading a row allocates no string.
/// </summary>
/// <remarks>
/// The table only grows (an id is never deleted or reused), so what this cache learned stays true: an id read in any transaction was
/// committed before it, and a name's id is the same for every process. A new name is added outside the push's transaction
/// (<c>INSERT … ON CONFLICT DO NOTHING</c>, then read back): a push that fails afterwards leaves an unused name, never a row that
/// points at an id nobody committed. Thread-safe.
/// </remarks>
internal sealed class PostgresMediaTypes
{
    private readonly ConcurrentDictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private volatile string?[] _names = [null];

    /// <summary>The id of <paramref name="name"/>, or 0 for none; the name must have been ensured (<see cref="EnsureAsync"/>).</summary>
    public int IdOf(string? name) =>
        name is null ? 0 : _ids.TryGetValue(name, out var id) ? id : throw new InvalidOperationException($"The media type '{name}' has no id yet (a bug: it was not ensured before the write).");

    /// <summary>The name of <paramref name="id"/> (0: none).</summary>
    /// <exception cref="UnknownMediaTypeIdException">The id was added after this cache last read the table.</exception>
    public string? NameOf(int id)
    {
        if (id == 0)
        {
            return null;
        }

        var names = _names;
        return (uint)id < (uint)names.Length && names[id] is { } name ? name : throw new UnknownMediaTypeIdException(id);
    }

    /// <summary>Gives every name in <paramref name="names"/> an id (one round trip when one is new to this process, none otherwise).</summary>
    public async Task EnsureAsync(NpgsqlDataSource dataSource, IEnumerable<string?> names, CancellationToken cancellationToken)
    {
        var missing = names.OfType<string>().Where(n => !_ids.ContainsKey(n)).Distinct(StringComparer.Ordinal).ToArray();
        if (missing.Length == 0)
        {
            return;
        }

        // one statement: the names added, and those there before it began; a name another process adds at the same moment is in
        // neither (the insert waits for it and skips it, the read's snapshot predates it), so the next round reads it
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        for (var round = 1; missing.Length > 0; round++)
        {
            if (round > 3)
            {
                throw new InvalidOperationException($"The media types {string.Join(", ", missing)} have no id after 3 rounds of adding them.");
            }

            await using var command = new NpgsqlCommand(
                "WITH added AS (INSERT INTO media_types (name) SELECT unnest(@names) ORDER BY 1 ON CONFLICT (name) DO NOTHING RETURNING id, name) "
                + "SELECT id, name FROM added UNION ALL SELECT id, name FROM media_types WHERE name = ANY(@names)", connection);
            command.Parameters.Add(new NpgsqlParameter("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = missing });
            var found = new List<(int, string)>();
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    found.Add((reader.GetInt32(0), reader.GetString(1)));
                }
            }

            Learn(found);
            missing = [.. missing.Where(n => !_ids.ContainsKey(n))];
        }
    }

    /// <summary>
    /// Reads the media types on <paramref name="connection"/> (all of them: a registry has a handful, and ids are not committed in the
    /// order they were given, so "the ids above the last one known" could miss one).
    /// </summary>
    public async Task RefreshAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT id, name FROM media_types", connection);
        var found = new List<(int, string)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                found.Add((reader.GetInt32(0), reader.GetString(1)));
            }
        }

        Learn(found);
    }

    private void Learn(List<(int Id, string Name)> found)
    {
        if (found.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            var names = _names;
            var length = Math.Max(names.Length, found.Max(f => f.Id) + 1);
            var next = new string?[length];
            names.CopyTo(next, 0);
            foreach (var (id, name) in found)
            {
                next[id] = name;
                _ids[name] = id;
            }

            _names = next;
        }
    }
}

/// <summary>An artifact row holds a media type id this process has not read yet (added by another process since): read them, retry.</summary>
/// <param name="id">The id.</param>
internal sealed class UnknownMediaTypeIdException(int id) : Exception($"media type id {id} is not known yet")
{
    /// <summary>The id.</summary>
    public int Id { get; } = id;
}
