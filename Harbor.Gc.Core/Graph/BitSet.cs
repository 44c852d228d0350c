using System.Numerics;

namespace Harbor.Gc.Graph;

/// <summary>A fixed-size set of small integers, one bit each: the mark set of the collector.</summary>
internal sealed class BitSet
{
    private readonly ulong[] _words;

    public BitSet(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _words = new ulong[(length + 63) >> 6];
    }

    public int Length { get; }

    public bool this[int index] => (_words[index >> 6] & (1UL << index)) != 0;

    /// <summary>Sets the bit; returns whether it was clear (so the caller visits each node once).</summary>
    public bool Add(int index)
    {
        ref var word = ref _words[index >> 6];
        var mask = 1UL << index;
        if ((word & mask) != 0)
        {
            return false;
        }

        word |= mask;
        return true;
    }

    public int Count()
    {
        var count = 0;
        foreach (var word in _words)
        {
            count += BitOperations.PopCount(word);
        }

        return count;
    }
}
