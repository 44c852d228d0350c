using Harbor.Gc.Model;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// The blob rows of one snapshot by id (<c>blobs.id</c>): each id's ordinal among the blobs the snapshot read, so a reference by id
/// (<see cref="PackedReferenceKeys"/>) names a blob without its digest. Ids below a few times the blobs expected are an array index
/// (the ids the server hands out grow by one a blob, and a collection's deletions leave gaps); a larger one, after many deletions,
/// goes to a dictionary.
/// </summary>
internal sealed class BlobRowOrdinals
{
    private readonly long _denseLimit;
    private int[] _dense; // by id: ordinal + 1, 0 for none
    private Dictionary<long, int>? _sparse;

    /// <param name="expected">The blobs the snapshot expects (a hint; 0 when unknown).</param>
    public BlobRowOrdinals(int expected)
    {
        _denseLimit = Math.Min(Array.MaxLength, (4L * Math.Max(expected, 0)) + (1 << 20));
        _dense = new int[Math.Min(_denseLimit, (long)Math.Max(expected, 0) + 1024)];
    }

    /// <summary>Records that the blob of row <paramref name="id"/> is the snapshot's <paramref name="ordinal"/>th.</summary>
    /// <exception cref="InvalidDataException">The id is not a row id (below 1) or a second row has it (the table was changed by hand).</exception>
    public void Add(long id, int ordinal, in Digest digest)
    {
        if (id < 1)
        {
            throw new InvalidDataException($"blobs.id of {digest} is {id}, not a row id this store hands out: the table was changed by something other than Harbor.Gc.");
        }

        bool added;
        if (id < _denseLimit)
        {
            if (id >= _dense.Length)
            {
                Array.Resize(ref _dense, (int)Math.Min(_denseLimit, Math.Max(id + 1, 2L * _dense.Length)));
            }

            added = _dense[id] == 0;
            if (added)
            {
                _dense[id] = ordinal + 1;
            }
        }
        else
        {
            added = (_sparse ??= []).TryAdd(id, ordinal);
        }

        if (!added)
        {
            throw new InvalidDataException($"blobs.id {id} is the id of two blob rows ({digest} is the second): the table was changed by something other than Harbor.Gc. Nothing was deleted.");
        }
    }

    /// <summary>The ordinal of the blob of row <paramref name="id"/>, or -1 when the snapshot has no such row.</summary>
    public int OrdinalOf(long id) =>
        (ulong)id < (ulong)_dense.Length ? _dense[id] - 1
        : id >= _denseLimit && _sparse is not null && _sparse.TryGetValue(id, out var ordinal) ? ordinal
        : -1;
}
