namespace Harbor.Gc.Graph;

/// <summary>A growable array of ints with direct access to its buffer, for building flat adjacency arrays.</summary>
internal struct IntList(int capacity)
{
    private int[] _items = new int[Math.Max(capacity, 4)];

    public int Count { get; private set; }

    public readonly int[] Buffer => _items;

    public void Add(int value)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[Count++] = value;
    }

    public readonly ReadOnlySpan<int> AsSpan() => _items.AsSpan(0, Count);
}
