using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using Harbor.Gc.Model;
using Npgsql;

namespace Harbor.Gc.Storage.PostgresMetadata;

/// <summary>
/// Reads the rows of <c>COPY (…) TO STDOUT (FORMAT BINARY)</c> from the raw copy stream: each row whole in a buffer, its fields as
/// spans, decoded by the caller. The snapshot's reader (millions of rows): a row costs a bounds walk and the caller's decoding, where
/// a data reader's row costs an asynchronous read and a column seek per field.
/// </summary>
/// <remarks>
/// The format (PostgreSQL's documentation, "COPY", binary format): an 11-byte signature, a 32-bit flags field and a header extension
/// of a 32-bit length; then each row as a 16-bit field count and each field as a 32-bit length (-1 for NULL) and that many bytes
/// in the type's binary send format (big-endian integers, raw <c>bytea</c>, UTF-8 text); then a field count of -1. Anything else —
/// another signature, a critical flag (bits 16-31: OIDs, or a newer format), a row of an unexpected field count, a field longer than what
/// is left — is refused with <see cref="InvalidDataException"/>, never read past.
/// </remarks>
internal sealed class BinaryCopyReader : IAsyncDisposable
{
    private static readonly byte[] Signature = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    private readonly NpgsqlRawCopyStream _stream;
    private readonly string _what;
    private readonly int _fields;
    private readonly int[] _offsets;
    private readonly int[] _lengths;
    private byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;
    private bool _ended;
    private bool _drained;
    private long _row;

    private BinaryCopyReader(NpgsqlRawCopyStream stream, string what, int fields)
    {
        _stream = stream;
        _what = what;
        _fields = fields;
        _offsets = new int[fields];
        _lengths = new int[fields];
    }

    /// <summary>Starts <c>COPY (<paramref name="query"/>) TO STDOUT (FORMAT BINARY)</c> and reads its header.</summary>
    /// <param name="connection">An open connection, in the transaction the rows are to be read in.</param>
    /// <param name="query">A query of <paramref name="fields"/> columns.</param>
    /// <param name="what">What the rows are, for messages (a table's name).</param>
    /// <param name="fields">The number of fields every row has.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    public static Task<BinaryCopyReader> StartAsync(NpgsqlConnection connection, string query, string what, int fields, CancellationToken cancellationToken) =>
        StartCopyAsync(connection, $"COPY ({query}) TO STDOUT (FORMAT BINARY)", what, fields, cancellationToken);

    /// <summary>
    /// Starts <c>COPY <paramref name="table"/> (<paramref name="columns"/>) TO STDOUT (FORMAT BINARY)</c> and reads its header: every
    /// row of the table, as the transaction sees it. Cheaper for the server than the query form, which runs the query's plan and
    /// projects each row before copying it (3–7% of the server's CPU in a 1M dry run, Harbor.Gc.Benchmarks/README.md); a
    /// generated column cannot be named here (PostgreSQL refuses it), only in a query.
    /// </summary>
    /// <param name="connection">An open connection, in the transaction the rows are to be read in.</param>
    /// <param name="table">The table's name.</param>
    /// <param name="columns">Its columns to read, comma-separated; each row has as many fields.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    public static Task<BinaryCopyReader> StartTableAsync(NpgsqlConnection connection, string table, string columns, CancellationToken cancellationToken) =>
        StartCopyAsync(connection, $"COPY {table} ({columns}) TO STDOUT (FORMAT BINARY)", table, columns.Count(c => c == ',') + 1, cancellationToken);

    private static async Task<BinaryCopyReader> StartCopyAsync(NpgsqlConnection connection, string copy, string what, int fields, CancellationToken cancellationToken)
    {
        var stream = await connection.BeginRawBinaryCopyAsync(copy, cancellationToken).ConfigureAwait(false);
        var reader = new BinaryCopyReader(stream, what, fields);
        try
        {
            await reader.ReadHeaderAsync(cancellationToken).ConfigureAwait(false);
            return reader;
        }
        catch
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Moves to the next row, read whole into the buffer; false after the last.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryRow(out var ended))
            {
                return true;
            }

            if (ended)
            {
                return false;
            }

            if (_drained)
            {
                throw Damaged("the stream ended before its trailer", _row + 1);
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether field <paramref name="field"/> of the row is NULL.</summary>
    public bool IsNull(int field) => _lengths[field] < 0;

    /// <summary>The bytes of field <paramref name="field"/> (empty for NULL), valid until the next <see cref="ReadAsync"/>.</summary>
    public ReadOnlySpan<byte> Bytes(int field) => _lengths[field] <= 0 ? [] : _buffer.AsSpan(_offsets[field], _lengths[field]);

    /// <summary>A <c>bytea</c> field holding a digest's raw hash (32 bytes for sha256, 64 for sha512; anything else is refused).</summary>
    public Digest Digest(int field) => _lengths[field] is 32 or 64
        ? Model.Digest.FromHash(Bytes(field))
        : throw Damaged($"field {field} is {(IsNull(field) ? "NULL" : $"{_lengths[field]} bytes")}, not a digest's hash (32 bytes for sha256, 64 for sha512)");

    /// <summary>An <c>int8</c> field.</summary>
    public long Int64(int field) => BinaryPrimitives.ReadInt64BigEndian(Fixed(field, 8));

    /// <summary>An <c>int4</c> field.</summary>
    public int Int32(int field) => BinaryPrimitives.ReadInt32BigEndian(Fixed(field, 4));

    /// <summary>An <c>int2</c> field.</summary>
    public short Int16(int field) => BinaryPrimitives.ReadInt16BigEndian(Fixed(field, 2));

    /// <summary>A <c>bool</c> field.</summary>
    public bool Boolean(int field) => Fixed(field, 1)[0] != 0;

    /// <summary>A <c>text</c> field, decoded (a new string).</summary>
    public string String(int field) => IsNull(field) ? throw Damaged($"field {field} is NULL") : Encoding.UTF8.GetString(Bytes(field));

    /// <summary>A <c>text[]</c> field of one dimension (empty for NULL or no elements).</summary>
    public ImmutableArray<string> Strings(int field)
    {
        var builder = ImmutableArray.CreateBuilder<string>(ArrayCount(field, out var rest));
        for (var i = 0; i < builder.Capacity; i++)
        {
            builder.Add(Encoding.UTF8.GetString(NextElement(field, ref rest, i)));
        }

        return builder.MoveToImmutable();
    }

    /// <summary>A <c>bytea[]</c> field of one dimension whose elements are digests' raw hashes (empty for NULL or no elements).</summary>
    public ImmutableArray<Digest> Digests(int field)
    {
        var builder = ImmutableArray.CreateBuilder<Digest>(ArrayCount(field, out var rest));
        for (var i = 0; i < builder.Capacity; i++)
        {
            builder.Add(Model.Digest.FromHash(NextElement(field, ref rest, i)));
        }

        return builder.MoveToImmutable();
    }

    /// <summary>
    /// A <c>bytea[]</c> field as <see cref="Digests(int)"/> reads it, into <paramref name="digests"/> (grown when short) instead of a
    /// new array: the number of digests.
    /// </summary>
    public int Digests(int field, ref Digest[] digests)
    {
        var count = ArrayCount(field, out var rest);
        if (digests.Length < count)
        {
            digests = new Digest[Math.Max(count, digests.Length * 2)];
        }

        for (var i = 0; i < count; i++)
        {
            digests[i] = Model.Digest.FromHash(NextElement(field, ref rest, i));
        }

        return count;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    /// <summary>An array's element count (the array binary format: dimensions, a has-NULLs flag, the element type's oid, then each dimension's size and lower bound); <paramref name="rest"/> its elements.</summary>
    private int ArrayCount(int field, out ReadOnlySpan<byte> rest)
    {
        rest = Bytes(field);
        if (IsNull(field))
        {
            return 0;
        }

        if (rest.Length < 12)
        {
            throw Damaged($"field {field} is not an array ({rest.Length} bytes)");
        }

        var dimensions = BinaryPrimitives.ReadInt32BigEndian(rest);
        if (dimensions == 0)
        {
            return 0;
        }

        if (dimensions != 1 || rest.Length < 20)
        {
            throw Damaged($"field {field} is an array of {dimensions} dimensions, not 1");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(rest[12..]);
        rest = rest[20..];
        return count >= 0 && count <= rest.Length / 4 ? count : throw Damaged($"field {field} is an array of {count} elements in {rest.Length} bytes");
    }

    private ReadOnlySpan<byte> NextElement(int field, ref ReadOnlySpan<byte> rest, int index)
    {
        var length = rest.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(rest) : throw Damaged($"field {field}'s array ends before element {index}");
        if (length < 0 || length > rest.Length - 4)
        {
            throw Damaged($"field {field}'s array element {index} is NULL or longer than the array");
        }

        var element = rest.Slice(4, length);
        rest = rest[(4 + length)..];
        return element;
    }

    private ReadOnlySpan<byte> Fixed(int field, int length) =>
        _lengths[field] == length ? _buffer.AsSpan(_offsets[field], length) : throw Damaged($"field {field} has {_lengths[field]} bytes, not {length}");

    /// <summary>The refusal, naming the rows and the row (1 for the first; by default the one last read).</summary>
    private InvalidDataException Damaged(string problem, long? row = null) => new($"The binary COPY of {_what} is not what was asked for: row {row ?? _row}: {problem}.");

    /// <summary>Takes the next row when it is whole in the buffer; <paramref name="ended"/> at the trailer.</summary>
    private bool TryRow(out bool ended)
    {
        ended = false;
        var buffer = _buffer;
        var at = _start;
        if (_end - at < 2)
        {
            return false;
        }

        var count = BinaryPrimitives.ReadInt16BigEndian(buffer.AsSpan(at));
        at += 2;
        if (count == -1)
        {
            _start = at;
            _ended = ended = true;
            return false;
        }

        if (count != _fields)
        {
            throw Damaged($"{count} fields, not {_fields}", _row + 1);
        }

        for (var i = 0; i < count; i++)
        {
            if (_end - at < 4)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(at));
            at += 4;
            if (length < -1)
            {
                throw Damaged($"field {i} has the length {length}", _row + 1);
            }

            _offsets[i] = at;
            _lengths[i] = length;
            if (length > 0)
            {
                if (_end - at < length)
                {
                    return false;
                }

                at += length;
            }
        }

        _start = at;
        _row++;
        return true;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_ended)
        {
            throw Damaged("read past the end");
        }

        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2); // a row longer than the buffer (an artifact of many references)
        }

        // the raw copy stream returns at most one CopyData message (one row) a read: read until the buffer is half full, so a row
        // costs the parse of its bounds rather than a call into the stream
        var target = Math.Max(_end + 1, _buffer.Length / 2);
        do
        {
            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                _drained = true; // the server's CopyDone: what is buffered is all there is
                return;
            }

            _end += read;
        }
        while (_end < target);
    }

    private async Task ReadHeaderAsync(CancellationToken cancellationToken)
    {
        while (_end < Signature.Length + 8)
        {
            if (_drained)
            {
                throw Damaged("the stream ended inside its header", 0);
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!_buffer.AsSpan(0, Signature.Length).SequenceEqual(Signature))
        {
            throw Damaged("no binary COPY signature");
        }

        var flags = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(Signature.Length));
        if ((flags & unchecked((int)0xFFFF0000)) != 0)
        {
            throw Damaged($"header flags 0x{flags:x8} (bits 16-31 are critical: OIDs, or a format this reader does not know)");
        }

        var extension = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(Signature.Length + 4));
        _start = Signature.Length + 8;
        while (_end - _start < extension)
        {
            if (_drained)
            {
                throw Damaged("the stream ended inside its header", 0);
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        _start += extension;
    }
}

/// <summary>
/// The value of each distinct UTF-8 text a snapshot reads many times (repository names, media types): decoded into a stack buffer
/// and looked up, so a repeated text costs no string. At most <paramref name="capacity"/> texts are kept; beyond it each is made anew.
/// </summary>
internal sealed class Utf8Interner<T>(Func<string, T> create, int capacity = 1 << 16)
{
    private readonly Dictionary<string, T> _values = new(StringComparer.Ordinal);

    public T Get(ReadOnlySpan<byte> utf8)
    {
        Span<char> chars = utf8.Length <= 256 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        var length = Encoding.UTF8.GetChars(utf8, chars);
        var text = chars[..length];
        if (_values.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(text, out var value))
        {
            return value;
        }

        var key = new string(text);
        value = create(key);
        if (_values.Count < capacity)
        {
            _values.Add(key, value);
        }

        return value;
    }
}
