using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Harbor.Gc.Model;

/// <summary>
/// A content digest, <c>algorithm:hex</c>, as OCI and Docker use to address blobs and manifests.
/// </summary>
/// <remarks>
/// <para>Only <c>sha256</c> (64 hex characters) and <c>sha512</c> (128) are accepted, in lower case, exactly as
/// the OCI image specification registers them. Parsing is strict: upper case, separators, path characters,
/// whitespace or a wrong length are errors, so a parsed digest is always safe to put into a storage path.</para>
/// <para>A sha256 digest is stored inline as 32 bytes (four <see cref="ulong"/>s) with no heap allocation;
/// a sha512 digest keeps its first 32 bytes inline and the whole hash in an array.
/// <c>default(Digest)</c> is not a valid digest; <see cref="IsEmpty"/> tells it apart.</para>
/// </remarks>
public readonly struct Digest : IEquatable<Digest>, IComparable<Digest>, ISpanFormattable
{
    private const string Sha256Prefix = "sha256:";
    private const string Sha512Prefix = "sha512:";

    private readonly ulong _h0;
    private readonly ulong _h1;
    private readonly ulong _h2;
    private readonly ulong _h3;
    // null for default(Digest); Sha256Marker for sha256; the whole 64-byte hash for sha512.
    private readonly object? _kind;

    private static readonly object Sha256Marker = new();

    private Digest(ReadOnlySpan<byte> hash)
    {
        _h0 = BinaryPrimitives.ReadUInt64BigEndian(hash);
        _h1 = BinaryPrimitives.ReadUInt64BigEndian(hash[8..]);
        _h2 = BinaryPrimitives.ReadUInt64BigEndian(hash[16..]);
        _h3 = BinaryPrimitives.ReadUInt64BigEndian(hash[24..]);
        _kind = hash.Length == 64 ? hash.ToArray() : Sha256Marker;
    }

    /// <summary>The algorithm, or <see cref="DigestAlgorithm.None"/> for <c>default(Digest)</c>.</summary>
    public DigestAlgorithm Algorithm => _kind switch
    {
        null => DigestAlgorithm.None,
        byte[] => DigestAlgorithm.Sha512,
        _ => DigestAlgorithm.Sha256,
    };

    /// <summary>Whether this is <c>default(Digest)</c>, which is not a valid digest.</summary>
    public bool IsEmpty => Algorithm == DigestAlgorithm.None;

    private byte[]? Sha512Hash => _kind as byte[];

    /// <summary>The first 8 bytes of the hash as a big-endian number: a cheap sort key (ties broken by <see cref="CompareTo"/>).</summary>
    internal ulong Prefix => _h0;

    internal ulong H1 => _h1;

    internal ulong H2 => _h2;

    internal ulong H3 => _h3;

    internal bool IsSha512 => _kind is byte[];

    /// <summary>The raw hash: 32 bytes for sha256, 64 for sha512 (the compact form a database stores; <see cref="FromHash"/> reads it back).</summary>
    /// <exception cref="InvalidOperationException">The digest is empty.</exception>
    /// <summary>The length of the raw hash: 32 bytes for sha256, 64 for sha512.</summary>
    internal int HashLength => Sha512Hash is not null ? 64 : 32;

    /// <summary>Writes the raw hash (<see cref="HashLength"/> bytes) into <paramref name="destination"/>.</summary>
    internal void WriteHash(Span<byte> destination)
    {
        if (Sha512Hash is { } sha512)
        {
            sha512.CopyTo(destination);
            return;
        }

        if (IsEmpty)
        {
            throw new InvalidOperationException("An empty digest has no hash.");
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _h0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _h1);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _h2);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _h3);
    }

    internal byte[] ToHashBytes()
    {
        var hash = new byte[HashLength];
        WriteHash(hash);
        return hash;
    }

    /// <summary>Rebuilds a sha256 digest from the four big-endian words of its hash.</summary>
    internal static Digest FromSha256Words(ulong h0, ulong h1, ulong h2, ulong h3) => new(h0, h1, h2, h3);

    private Digest(ulong h0, ulong h1, ulong h2, ulong h3)
    {
        _h0 = h0;
        _h1 = h1;
        _h2 = h2;
        _h3 = h3;
        _kind = Sha256Marker;
    }

    /// <summary>The hexadecimal part, without the algorithm.</summary>
    public string Hex => IsEmpty ? string.Empty : ToString()[7..];

    /// <summary>The length of <see cref="ToString()"/>: 71 for sha256, 135 for sha512, 0 when empty.</summary>
    public int Length => Algorithm switch
    {
        DigestAlgorithm.Sha256 => 71,
        DigestAlgorithm.Sha512 => 135,
        _ => 0,
    };

    /// <summary>Computes the sha256 digest of <paramref name="content"/>.</summary>
    /// <param name="content">The bytes to hash.</param>
    /// <returns>The digest.</returns>
    public static Digest Sha256Of(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(content, hash);
        return new Digest(hash);
    }

    /// <summary>Creates a digest from a raw hash.</summary>
    /// <param name="hash">32 bytes (sha256) or 64 bytes (sha512).</param>
    /// <returns>The digest.</returns>
    /// <exception cref="ArgumentException">The hash is neither 32 nor 64 bytes long.</exception>
    public static Digest FromHash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length is not (32 or 64))
        {
            throw new ArgumentException($"A digest hash is 32 (sha256) or 64 (sha512) bytes, not {hash.Length}.", nameof(hash));
        }

        return new Digest(hash);
    }

    /// <summary>Parses <c>sha256:&lt;64 hex&gt;</c> or <c>sha512:&lt;128 hex&gt;</c>, lower case only.</summary>
    /// <param name="value">The text to parse.</param>
    /// <returns>The digest.</returns>
    /// <exception cref="InvalidDigestException">The text is not a valid digest; the message says why.</exception>
    public static Digest Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (TryParseCore(value, out var digest, out var problem))
        {
            return digest;
        }

        throw new InvalidDigestException(value, problem);
    }

    /// <summary>Parses like <see cref="Parse(string)"/> but reports failure with a return value.</summary>
    /// <param name="value">The text to parse.</param>
    /// <param name="digest">The digest, when the text is valid.</param>
    /// <returns>Whether the text is a valid digest.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, out Digest digest)
    {
        if (value is null)
        {
            digest = default;
            return false;
        }

        return TryParseCore(value, out digest, out _);
    }

    /// <summary>Parses a digest from UTF-8 or ASCII characters.</summary>
    /// <param name="value">The characters to parse.</param>
    /// <param name="digest">The digest, when the text is valid.</param>
    /// <returns>Whether the text is a valid digest.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, out Digest digest) => TryParseCore(value, out digest, out _);

    /// <summary>Tells why <paramref name="value"/> is not a valid digest, or returns <see langword="null"/> when it is.</summary>
    /// <param name="value">The text to check.</param>
    /// <returns>The problem, or <see langword="null"/>.</returns>
    public static string? Validate(ReadOnlySpan<char> value) => TryParseCore(value, out _, out var problem) ? null : problem;

    private static bool TryParseCore(ReadOnlySpan<char> value, out Digest digest, out string problem)
    {
        digest = default;
        var colon = value.IndexOf(':');
        if (colon < 0)
        {
            problem = "expected 'algorithm:hex', found no ':'";
            return false;
        }

        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        int expected;
        if (algorithm.SequenceEqual("sha256"))
        {
            expected = 64;
        }
        else if (algorithm.SequenceEqual("sha512"))
        {
            expected = 128;
        }
        else
        {
            problem = algorithm.Length == 0
                ? "the algorithm before ':' is empty"
                : $"unsupported algorithm '{Printable(algorithm)}' (sha256 and sha512 are supported, in lower case)";
            return false;
        }

        if (hex.Length != expected)
        {
            problem = $"{algorithm} takes {expected} hex characters after ':', found {hex.Length}";
            return false;
        }

        Span<byte> hash = stackalloc byte[expected / 2];
        for (var i = 0; i < hex.Length; i += 2)
        {
            var hi = HexValue(hex[i]);
            var lo = HexValue(hex[i + 1]);
            if (hi < 0 || lo < 0)
            {
                var at = hi < 0 ? i : i + 1;
                problem = $"character '{Printable(hex.Slice(at, 1))}' at position {colon + 1 + at} is not a lowercase hex digit";
                return false;
            }

            hash[i / 2] = (byte)((hi << 4) | lo);
        }

        digest = new Digest(hash);
        problem = string.Empty;
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };

    private static string Printable(ReadOnlySpan<char> text)
    {
        var shown = text.Length > 40 ? text[..40] : text;
        var chars = new char[shown.Length];
        for (var i = 0; i < shown.Length; i++)
        {
            chars[i] = char.IsControl(shown[i]) ? '?' : shown[i];
        }

        return text.Length > 40 ? new string(chars) + "…" : new string(chars);
    }

    /// <inheritdoc />
    public bool Equals(Digest other) =>
        _h0 == other._h0 && _h1 == other._h1 && _h2 == other._h2 && _h3 == other._h3 &&
        (ReferenceEquals(_kind, other._kind) ||
         (Sha512Hash is { } mine && other.Sha512Hash is { } theirs && mine.AsSpan().SequenceEqual(theirs)));

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Digest other && Equals(other);

    /// <inheritdoc />
    /// <remarks>The hash bytes are already uniformly distributed, so their first word is the hash code.</remarks>
    public override int GetHashCode() => (int)_h0 ^ (int)(_h0 >> 32);

    /// <inheritdoc />
    /// <remarks>Orders by algorithm, then by hash bytes; used to break ties deterministically.</remarks>
    public int CompareTo(Digest other)
    {
        var byAlgorithm = ((byte)Algorithm).CompareTo((byte)other.Algorithm);
        if (byAlgorithm != 0)
        {
            return byAlgorithm;
        }

        var c = _h0.CompareTo(other._h0);
        if (c == 0) c = _h1.CompareTo(other._h1);
        if (c == 0) c = _h2.CompareTo(other._h2);
        if (c == 0) c = _h3.CompareTo(other._h3);
        if (c == 0 && Sha512Hash is { } mine && other.Sha512Hash is { } theirs)
        {
            c = mine.AsSpan().SequenceCompareTo(theirs);
        }

        return c;
    }

    /// <summary>The digest as <c>algorithm:hex</c>.</summary>
    /// <returns>The text form, or an empty string for <c>default(Digest)</c>.</returns>
    public override string ToString()
    {
        var length = Length;
        if (length == 0)
        {
            return string.Empty;
        }

        return string.Create(length, this, static (span, d) => d.TryFormat(span, out _, default, null));
    }

    /// <inheritdoc />
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc />
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        var length = Length;
        if (destination.Length < length)
        {
            charsWritten = 0;
            return false;
        }

        if (length == 0)
        {
            charsWritten = 0;
            return true;
        }

        Span<byte> hash = stackalloc byte[64];
        int hashLength;
        if (Sha512Hash is { } sha512)
        {
            Sha512Prefix.CopyTo(destination);
            sha512.CopyTo(hash);
            hashLength = 64;
        }
        else
        {
            Sha256Prefix.CopyTo(destination);
            BinaryPrimitives.WriteUInt64BigEndian(hash, _h0);
            BinaryPrimitives.WriteUInt64BigEndian(hash[8..], _h1);
            BinaryPrimitives.WriteUInt64BigEndian(hash[16..], _h2);
            BinaryPrimitives.WriteUInt64BigEndian(hash[24..], _h3);
            hashLength = 32;
        }

        Convert.TryToHexStringLower(hash[..hashLength], destination[7..], out _);
        charsWritten = length;
        return true;
    }

    /// <summary>Compares two digests for equality.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(Digest left, Digest right) => left.Equals(right);

    /// <summary>Compares two digests for inequality.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(Digest left, Digest right) => !left.Equals(right);

    /// <summary>Orders two digests.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether <paramref name="left"/> sorts first.</returns>
    public static bool operator <(Digest left, Digest right) => left.CompareTo(right) < 0;

    /// <summary>Orders two digests.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether <paramref name="left"/> sorts last.</returns>
    public static bool operator >(Digest left, Digest right) => left.CompareTo(right) > 0;

    /// <summary>Orders two digests.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether <paramref name="left"/> sorts first or equal.</returns>
    public static bool operator <=(Digest left, Digest right) => left.CompareTo(right) <= 0;

    /// <summary>Orders two digests.</summary>
    /// <param name="left">The first digest.</param>
    /// <param name="right">The second digest.</param>
    /// <returns>Whether <paramref name="left"/> sorts last or equal.</returns>
    public static bool operator >=(Digest left, Digest right) => left.CompareTo(right) >= 0;
}
