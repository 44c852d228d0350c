using System.Runtime.CompilerServices;
using Harbor.Gc.Model;

namespace Harbor.Gc.Graph;

/// <summary>Interns digests as dense integer ids, so the graph holds ints, not digests or strings.</summary>
/// <remarks>
/// Interning is the hottest loop of a snapshot (one lookup per blob and per reference, tens of millions at 1M artifacts) and
/// is bound by memory latency, so this is an open-addressing table whose slots hold the whole 32-byte hash and the id: a
/// lookup usually touches one cache line, where <see cref="Dictionary{TKey, TValue}"/> touches a bucket and an entry.
/// The hash bytes are uniform, so the first word is the hash code. sha512 digests (rare) keep their whole value aside and
/// are compared in full.
/// </remarks>
internal sealed class DigestTable
{
    private const int Stride = 5; // h0, h1, h2, h3, meta (id + 1, with the sha512 bit)
    private const ulong Sha512Bit = 1UL << 63;
    private const double MaxLoad = 0.7;

    private ulong[] _slots;
    private int _size;
    private int[] _slotOfId;
    private readonly Dictionary<int, Digest> _sha512 = [];

    public DigestTable(int capacity)
    {
        _slotOfId = new int[Math.Max(capacity, 16)];
        Allocate(Math.Max(capacity, 16), out _slots, out _size);
    }

    public int Count { get; private set; }

    public Digest this[int id] => At(_slotOfId[id], id);

    /// <summary>The first 8 bytes of a digest's hash as a big-endian number: sorting by it sorts digests of one algorithm.</summary>
    public ulong PrefixOf(int id) => PrefixAt(_slotOfId[id], id);

    /// <summary>
    /// Where a digest's words are in the table; with <see cref="PrefixAt"/> and <see cref="At"/>, a caller that needs a digest's
    /// prefix and later its value looks the id up once (one cache miss fewer per digest).
    /// </summary>
    public int SlotOf(int id) => _slotOfId[id];

    /// <summary><see cref="PrefixOf"/> for a digest whose <see cref="SlotOf">slot</see> is known.</summary>
    public ulong PrefixAt(int slot, int id) => _sha512.Count > 0 && _sha512.TryGetValue(id, out var long512) ? long512.Prefix : _slots[slot * Stride];

    /// <summary>The digest of <paramref name="id"/>, whose <see cref="SlotOf">slot</see> is known.</summary>
    public Digest At(int slot, int id)
    {
        if (_sha512.Count > 0 && _sha512.TryGetValue(id, out var long512))
        {
            return long512;
        }

        var s = slot * Stride;
        return Digest.FromSha256Words(_slots[s], _slots[s + 1], _slots[s + 2], _slots[s + 3]);
    }

    public int GetOrAdd(Digest digest) => Find(digest, add: true);

    /// <summary>
    /// Interns a batch, writing each id to <c>targets[ids[i]]</c>. A first pass loads each digest's home slot: the loads are
    /// independent, so the processor overlaps their cache misses, and the second pass finds the slots in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public void GetOrAddBatch(ReadOnlySpan<Digest> digests, Span<int> ids)
    {
        var slots = _slots;
        ulong touch = 0;
        foreach (ref readonly var d in digests)
        {
            touch += slots[(Home(d.Prefix, _size) * Stride) + 4];
        }

        _touch += touch;
        for (var i = 0; i < digests.Length; i++)
        {
            ids[i] = Find(digests[i], add: true);
        }
    }

    private ulong _touch;

    /// <summary>
    /// The ids in <paramref name="selected"/> (<paramref name="count"/> of them) ordered by their digests' 8-byte prefixes, with
    /// each one's prefix and slot (for <see cref="At"/>); digests with equal prefixes, which only a crafted digest makes, are
    /// left for the caller to order in full. One pass over the table instead of a lookup and a sort: the home slot grows
    /// with the prefix, so the slots are in prefix order but where a run of occupied slots pushed a digest past its home, or
    /// past the table's end to its start; an insertion sort puts those few back, and a table whose runs are long (crafted
    /// prefixes) is sorted as a whole instead.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="count"/> is not the number of ids in <paramref name="selected"/>.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    public (int[] Ids, ulong[] Prefixes, int[] Slots) InPrefixOrder(BitSet selected, int count)
    {
        ArgumentNullException.ThrowIfNull(selected);
        var ids = new int[count];
        var prefixes = new ulong[count];
        var slotsOf = new int[count];
        var n = 0;
        List<(ulong Prefix, int Id, int Slot)>? wrapped = null;
        var slots = _slots;
        for (var slot = 0; slot < _size; slot++)
        {
            var s = slot * Stride;
            var meta = slots[s + 4];
            if (meta == 0)
            {
                continue;
            }

            var id = (int)(meta & ~Sha512Bit) - 1;
            if (!selected[id])
            {
                continue;
            }

            if (n + (wrapped?.Count ?? 0) == count)
            {
                throw new ArgumentException($"The set holds more than the {count} ids it was said to.", nameof(count));
            }

            var prefix = slots[s];
            if (Home(prefix, _size) > slot)
            {
                (wrapped ??= []).Add((prefix, id, slot)); // pushed past the table's end: it sorts after the rest
                continue;
            }

            ids[n] = id;
            prefixes[n] = prefix;
            slotsOf[n++] = slot;
        }

        foreach (var (prefix, id, slot) in wrapped ?? [])
        {
            ids[n] = id;
            prefixes[n] = prefix;
            slotsOf[n++] = slot;
        }

        if (n != count)
        {
            throw new ArgumentException($"The set holds {n} ids, not the {count} it was said to.", nameof(count));
        }

        if (!InsertionSort(prefixes, ids, slotsOf, maxMoves: (4L * n) + 4096))
        {
            var items = new long[n];
            for (var i = 0; i < n; i++)
            {
                items[i] = ((long)ids[i] << 32) | (uint)slotsOf[i];
            }

            Array.Sort(prefixes, items);
            for (var i = 0; i < n; i++)
            {
                ids[i] = (int)(items[i] >> 32);
                slotsOf[i] = (int)items[i];
            }
        }

        return (ids, prefixes, slotsOf);
    }

    /// <summary>Sorts nearly sorted keys (and their items) in place; gives up, leaving a permutation, after <paramref name="maxMoves"/> moves.</summary>
    private static bool InsertionSort(ulong[] keys, int[] ids, int[] slots, long maxMoves)
    {
        var moves = 0L;
        for (var i = 1; i < keys.Length; i++)
        {
            var key = keys[i];
            if (key >= keys[i - 1])
            {
                continue;
            }

            var id = ids[i];
            var slot = slots[i];
            var j = i - 1;
            do
            {
                keys[j + 1] = keys[j];
                ids[j + 1] = ids[j];
                slots[j + 1] = slots[j];
                j--;
                if (++moves > maxMoves)
                {
                    keys[j + 1] = key;
                    ids[j + 1] = id;
                    slots[j + 1] = slot;
                    return false;
                }
            }
            while (j >= 0 && keys[j] > key);

            keys[j + 1] = key;
            ids[j + 1] = id;
            slots[j + 1] = slot;
        }

        return true;
    }

    public bool TryGet(Digest digest, out int id)
    {
        id = Find(digest, add: false);
        return id >= 0;
    }

    private int Find(in Digest digest, bool add)
    {
        var h0 = digest.Prefix;
        var h1 = digest.H1;
        var h2 = digest.H2;
        var h3 = digest.H3;
        var sha512 = digest.IsSha512;
        var slots = _slots;
        var size = _size;
        var i = Home(h0, size);
        while (true)
        {
            var s = i * Stride;
            var meta = slots[s + 4];
            if (meta == 0)
            {
                return add ? Insert(i, digest) : -1;
            }

            if (slots[s] == h0 && slots[s + 1] == h1 && slots[s + 2] == h2 && slots[s + 3] == h3 && ((meta & Sha512Bit) != 0) == sha512)
            {
                var id = (int)(meta & ~Sha512Bit) - 1;
                if (!sha512 || _sha512[id] == digest)
                {
                    return id;
                }
            }

            i = i + 1 == size ? 0 : i + 1;
        }
    }

    /// <summary>The home slot: the top 32 bits of the (uniform) first word, scaled to the table size.</summary>
    private static int Home(ulong prefix, int size) => (int)(((prefix >> 32) * (ulong)(uint)size) >> 32);

    private int Insert(int slot, in Digest digest)
    {
        var id = Count++;
        if (id == _slotOfId.Length)
        {
            Array.Resize(ref _slotOfId, _slotOfId.Length * 2);
        }

        Write(_slots, slot, digest, id);
        _slotOfId[id] = slot;
        if (digest.IsSha512)
        {
            _sha512[id] = digest;
        }

        if (Count > _size * MaxLoad)
        {
            Grow();
        }

        return id;
    }

    private static void Write(ulong[] slots, int slot, in Digest digest, int id)
    {
        var s = slot * Stride;
        slots[s] = digest.Prefix;
        slots[s + 1] = digest.H1;
        slots[s + 2] = digest.H2;
        slots[s + 3] = digest.H3;
        slots[s + 4] = (uint)(id + 1) | (digest.IsSha512 ? Sha512Bit : 0UL);
    }

    private void Grow()
    {
        var old = _slots;
        Allocate(Count * 2, out _slots, out _size);
        for (var s = 0; s < old.Length; s += Stride)
        {
            var meta = old[s + 4];
            if (meta == 0)
            {
                continue;
            }

            var i = Home(old[s], _size);
            while (_slots[(i * Stride) + 4] != 0)
            {
                i = i + 1 == _size ? 0 : i + 1;
            }

            Array.Copy(old, s, _slots, i * Stride, Stride);
            _slotOfId[(int)(meta & ~Sha512Bit) - 1] = i;
        }
    }

    private static void Allocate(int entries, out ulong[] slots, out int size)
    {
        size = Math.Max(16, (int)(entries / MaxLoad) + 1);
        slots = new ulong[(long)size * Stride];
    }
}
