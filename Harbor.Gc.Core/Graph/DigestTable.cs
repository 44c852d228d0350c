using System.Runtime.InteropServices;
using Harbor.Gc.Model;

namespace Harbor.Gc.Graph;

/// <summary>Interns digests as dense integer ids, so the graph holds ints, not digests or strings.</summary>
internal sealed class DigestTable
{
    private readonly Dictionary<Digest, int> _ids;
    private Digest[] _digests;

    public DigestTable(int capacity)
    {
        capacity = Math.Max(capacity, 16);
        _ids = new Dictionary<Digest, int>(capacity);
        _digests = new Digest[capacity];
    }

    public int Count { get; private set; }

    public Digest this[int id] => _digests[id];

    public int GetOrAdd(Digest digest)
    {
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, digest, out var exists);
        if (exists)
        {
            return id;
        }

        id = Count;
        if (Count == _digests.Length)
        {
            Array.Resize(ref _digests, _digests.Length * 2);
        }

        _digests[Count++] = digest;
        return id;
    }

    public bool TryGet(Digest digest, out int id) => _ids.TryGetValue(digest, out id);
}
