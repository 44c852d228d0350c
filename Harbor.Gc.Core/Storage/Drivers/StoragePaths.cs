using System.Globalization;
using System.Text;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>The path syntax of <see cref="IStorageDriver"/>: relative, <c>/</c>-separated, plain segments.</summary>
internal static class StoragePaths
{
    /// <summary>Throws when <paramref name="path"/> is not a driver path (a segment empty, <c>.</c>, <c>..</c>, or holding a NUL).</summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static void Validate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            return;
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or ".." || segment.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{Escape(Encoding.UTF8.GetBytes(path))}' is not a storage path (a segment is empty, '.', '..' or holds a NUL).", nameof(path));
            }
        }
    }

    /// <summary>Joins segments into a path.</summary>
    public static string Join(params ReadOnlySpan<string> segments)
    {
        var builder = new StringBuilder();
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append('/');
            }

            builder.Append(segment);
        }

        return builder.ToString();
    }

    /// <summary>
    /// Compares two keys the way S3 orders them (by their UTF-8 bytes, which is the order of their code points): ordinal, except
    /// that a surrogate pair (a code point above U+FFFF) sorts after U+E000…U+FFFF, as its UTF-8 bytes do.
    /// </summary>
    public static int CompareKeys(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        var length = Math.Min(x.Length, y.Length);
        for (var i = 0; i < length; i++)
        {
            int a = x[i], b = y[i];
            if (a != b)
            {
                return Rank(a) - Rank(b);
            }
        }

        return x.Length - y.Length;

        static int Rank(int c) => c switch
        {
            >= 0xD800 and <= 0xDFFF => c + 0x2000, // above U+FFFF in UTF-8 order
            >= 0xE000 => c - 0x800,
            _ => c,
        };
    }

    /// <summary>Compares keys as S3 orders them (<see cref="CompareKeys"/>).</summary>
    public static readonly IComparer<string> KeyOrder = Comparer<string>.Create(CompareKeys);

    /// <summary>The full path of <paramref name="path"/> under <paramref name="root"/>, for messages.</summary>
    public static string Describe(string root, string path) => path.Length == 0 ? root : root + "/" + path;

    /// <summary>A printable form of a name: valid UTF-8 as it is, other bytes and control characters as <c>\xNN</c>.</summary>
    public static string Escape(ReadOnlySpan<byte> name)
    {
        var builder = new StringBuilder();
        var decoder = new UTF8Encoding(false, true);
        var i = 0;
        while (i < name.Length)
        {
            var length = SequenceLength(name[i]);
            if (length > 0 && i + length <= name.Length)
            {
                try
                {
                    var text = decoder.GetString(name.Slice(i, length));
                    if (!text.Any(char.IsControl))
                    {
                        builder.Append(text);
                        i += length;
                        continue;
                    }
                }
                catch (DecoderFallbackException)
                {
                    // not a valid sequence: escape its first byte and go on
                }
            }

            builder.Append(CultureInfo.InvariantCulture, $"\\x{name[i]:x2}");
            i++;
        }

        return builder.ToString();
    }

    private static int SequenceLength(byte lead) => lead switch
    {
        < 0x80 => 1,
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 0,
    };
}
