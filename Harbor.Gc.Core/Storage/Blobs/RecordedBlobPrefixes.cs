namespace Harbor.Gc.Storage.Blobs;

/// <summary>
/// The first 64 bits of each recorded blob's digest, gathered while an embedded store's snapshot reads its blob records, to tell
/// the blob files that have no record (<see cref="IBlobContentStore.Leftovers"/>). A collision only keeps such a file (it is not
/// listed), and the deletion re-checks the record itself.
/// </summary>
/// <remarks>
/// Gathering is an append to an array: the snapshot's reading thread is its critical path, and a hash set's insert there cost a
/// cache miss per blob (at 2.9M blobs about a fifth of the reading thread's time; Harbor.Gc.Benchmarks/README.md, "The recorded
/// blobs in an array, and one packed field a blob"). The array is sorted once, at the first <see cref="Contains"/>, which only a
/// blob folder holding blob files asks; a folder is walked fan-out folder by fan-out folder, so the searches of one folder stay in
/// one stretch of it. One thread at a time.
/// </remarks>
internal sealed class RecordedBlobPrefixes(int expected)
{
    private ulong[] _prefixes = new ulong[Math.Clamp(expected, 16, Array.MaxLength)];
    private int _count;
    private bool _sorted = true;

    /// <summary>How many prefixes were added.</summary>
    public int Count => _count;

    /// <summary>Adds the prefix of a recorded blob.</summary>
    public void Add(ulong prefix)
    {
        if (_count == _prefixes.Length)
        {
            Array.Resize(ref _prefixes, (int)Math.Min(Array.MaxLength, _count * 2L));
        }

        _prefixes[_count++] = prefix;
        _sorted = false;
    }

    /// <summary>Whether a recorded blob has this prefix.</summary>
    public bool Contains(ulong prefix)
    {
        if (!_sorted)
        {
            Array.Sort(_prefixes, 0, _count);
            _sorted = true;
        }

        return Array.BinarySearch(_prefixes, 0, _count, prefix) >= 0;
    }

    /// <summary>
    /// <see cref="IBlobContentStore.Leftovers"/>' question for a blob file named by its algorithm folder and hex digest: whether a
    /// recorded blob may have that digest (its prefix was added).
    /// </summary>
    public bool MayBeRecorded(string algorithm, string hex) => Contains(PrefixOf(hex));

    /// <summary>The prefix of a digest given as hex (at least its first 16 digits): the number <see cref="Model.Digest"/>'s prefix is.</summary>
    public static ulong PrefixOf(ReadOnlySpan<char> hex) => ulong.Parse(hex[..16], System.Globalization.NumberStyles.AllowHexSpecifier, null);
}
