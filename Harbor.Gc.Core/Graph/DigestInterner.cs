using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Harbor.Gc.Model;

namespace Harbor.Gc.Graph;

/// <summary>
/// Interns the digests of a snapshot on a second thread, in batches, and hands each batch's ids back to the
/// <see cref="GraphBuilder"/> (which writes them into its arrays under <see cref="ArraysLock"/>; the builder takes the same
/// lock only to replace an array it grows). The thread starts with the second full batch, so a small snapshot is interned on
/// the caller's thread in <see cref="Complete"/>.
/// </summary>
internal sealed class DigestInterner : IDisposable
{
    /// <summary>Where an id goes.</summary>
    internal enum Target : byte
    {
        Blob,
        Artifact,
        Reference,
        Child,
    }

    private const int BatchSize = 4096;
    private const int LookupGroup = 64; // DigestTable.GetOrAddBatch overlaps the cache misses of this many lookups
    private const int QueueLength = 16;

    private readonly GraphBuilder _builder;
    private readonly BlockingCollection<Batch> _queue = new(QueueLength);
    private readonly ConcurrentBag<Batch> _free = [];
    private DigestTable _table = new(16);
    private Batch _current = new();
    private Batch? _held;
    private Thread? _worker;
    private Exception? _failure;
    private bool _completed;

    public DigestInterner(GraphBuilder builder) => _builder = builder;

    /// <summary>The lock under which ids are written into the builder's arrays and those arrays are replaced.</summary>
    public object ArraysLock { get; } = new();

    /// <summary>Whether the second thread was started (a large snapshot).</summary>
    public bool Threaded => _worker is not null;

    /// <summary>The table; read it only after <see cref="Complete"/>.</summary>
    public DigestTable Table => _table;

    /// <summary>Sizes the table for the expected number of distinct digests (before the first digest).</summary>
    public void Reserve(int digests)
    {
        if (_worker is null && _held is null && _current.Count == 0 && _table.Count == 0)
        {
            _table = new DigestTable(digests);
        }
    }

    public void Enqueue(in Digest digest, Target kind, int position)
    {
        var batch = _current;
        var i = batch.Count++;
        batch.Digests[i] = digest;
        batch.Kinds[i] = kind;
        batch.Positions[i] = position;
        if (batch.Count == BatchSize)
        {
            Submit(batch);
            _current = _free.TryTake(out var reused) ? reused : new Batch();
        }
    }

    /// <summary>Interns what is left, waits for the thread, and returns the table (now owned by the caller).</summary>
    public DigestTable Complete()
    {
        if (_completed)
        {
            throw new InvalidOperationException("The interner was already completed.");
        }

        _completed = true;
        if (_worker is null)
        {
            if (_held is not null)
            {
                Process(_held);
            }

            Process(_current);
            return _table;
        }

        _queue.Add(_current);
        _queue.CompleteAdding();
        _worker.Join();
        if (_failure is not null)
        {
            throw new InvalidOperationException("Interning the snapshot's digests failed.", _failure);
        }

        return _table;
    }

    public void Dispose()
    {
        if (_worker is not null && !_queue.IsAddingCompleted)
        {
            _queue.CompleteAdding();
            _worker.Join();
        }

        _completed = true;
    }

    private void Submit(Batch batch)
    {
        if (_worker is null && _held is null)
        {
            _held = batch; // one batch is not worth a thread yet
            return;
        }

        if (_worker is null)
        {
            _worker = new Thread(Run) { IsBackground = true, Name = "harbor-gc interner" };
            _worker.Start();
            _queue.Add(_held!);
            _held = null;
        }

        _queue.Add(batch);
    }

    private void Run()
    {
        try
        {
            foreach (var batch in _queue.GetConsumingEnumerable())
            {
                Process(batch);
                batch.Count = 0;
                _free.Add(batch);
            }
        }
#pragma warning disable CA1031 // handed to the builder's thread, which rethrows it in Complete
        catch (Exception e)
#pragma warning restore CA1031
        {
            _failure = e;
            foreach (var _ in _queue.GetConsumingEnumerable())
            {
                // drain, so the producer never blocks on a full queue
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once per snapshot: skip tier 0 and OSR
    private void Process(Batch batch)
    {
        var n = batch.Count;
        for (var i = 0; i < n; i += LookupGroup)
        {
            var m = Math.Min(LookupGroup, n - i);
            _table.GetOrAddBatch(batch.Digests.AsSpan(i, m), batch.Ids.AsSpan(i, m));
        }

        lock (ArraysLock)
        {
            _builder.Apply(batch.Kinds.AsSpan(0, n), batch.Positions.AsSpan(0, n), batch.Ids.AsSpan(0, n));
        }
    }

    private sealed class Batch
    {
        public readonly Digest[] Digests = new Digest[BatchSize];
        public readonly Target[] Kinds = new Target[BatchSize];
        public readonly int[] Positions = new int[BatchSize];
        public readonly int[] Ids = new int[BatchSize];
        public int Count;
    }
}
