using System.Numerics;
using System.Runtime.CompilerServices;

namespace Harbor.Gc.Graph;

/// <summary>Artifact ids by (repository id, digest id), packed by <see cref="RegistryGraph.ArtifactKeyOf"/>.</summary>
/// <remarks>
/// Built once per snapshot and looked up for every child, tag, accessory link and subject, at random: an open-addressing table
/// whose 16-byte entries hold the key and the id, so a lookup usually touches one cache line, where
/// <see cref="Dictionary{TKey, TValue}"/> touches a bucket and an entry. Fixed capacity: at most half full.
/// </remarks>
internal sealed class ArtifactIndex
{
    private readonly Entry[] _entries;
    private readonly int _shift;

    public ArtifactIndex(int capacity)
    {
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2));
        _entries = new Entry[size];
        _shift = 64 - BitOperations.Log2((uint)size);
    }

    public int Count { get; private set; }

    /// <summary>Adds the key; false (and nothing changed) when it is already there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAdd(long key, int artifact)
    {
        if (Count * 2 >= _entries.Length)
        {
            throw new InvalidOperationException($"The artifact index holds {Count} artifacts, its capacity.");
        }

        var mask = _entries.Length - 1;
        for (var i = Home(key); ; i = (i + 1) & mask)
        {
            ref var entry = ref _entries[i];
            if (entry.Id == 0)
            {
                entry = new Entry(key, artifact + 1);
                Count++;
                return true;
            }

            if (entry.Key == key)
            {
                return false;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(long key, out int artifact)
    {
        var mask = _entries.Length - 1;
        for (var i = Home(key); ; i = (i + 1) & mask)
        {
            var entry = _entries[i];
            if (entry.Id == 0)
            {
                artifact = -1;
                return false;
            }

            if (entry.Key == key)
            {
                artifact = entry.Id - 1;
                return true;
            }
        }
    }

    /// <summary>Fibonacci hashing: digest ids are dense, so the key's bits are spread by a multiplication.</summary>
    private int Home(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>A key and its artifact id plus one (zero: an empty entry).</summary>
    private readonly record struct Entry(long Key, int Id);
}
