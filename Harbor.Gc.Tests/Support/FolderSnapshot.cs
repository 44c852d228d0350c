using System.Globalization;
using System.Text;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Everything under a folder, for a before/after comparison that nothing changed: each entry's path (relative, never following a
/// symbolic link), type (<c>f</c> file, <c>d</c> folder, <c>l</c> symbolic link, <c>p</c> FIFO, <c>s</c> socket, <c>c</c>/<c>b</c>
/// device), size, permission bits, modification time (to the nanosecond), a link's target, and a regular file's SHA-256.
/// </summary>
/// <remarks>
/// Read with <c>find -printf</c> and <c>sha256sum -z</c> rather than .NET: .NET cannot tell a FIFO from a file without opening it
/// (which blocks), and cannot open a name that is not UTF-8. Names are kept as bytes and shown with such bytes escaped
/// (<c>\xff</c>). Files over <see cref="HashLimit"/> (a sparse file of several GB) are compared by size and time, not hashed.
/// </remarks>
internal sealed class FolderSnapshot
{
    /// <summary>Files larger than this are not hashed.</summary>
    public const long HashLimit = 64L << 20;

    private FolderSnapshot(string root, SortedDictionary<string, string> entries)
    {
        Root = root;
        Entries = entries;
    }

    /// <summary>The folder.</summary>
    public string Root { get; }

    /// <summary>Each entry's relative path (<c>.</c> for the folder itself) and its description.</summary>
    public IReadOnlyDictionary<string, string> Entries { get; }

    /// <summary>Reads every entry under <paramref name="root"/> (the folder itself included).</summary>
    public static FolderSnapshot Take(string root)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var listing = Shell.Run("find", ["-P", root, "-printf", @"%y %s %m %T@ %P\0%l\0"]);
        var fields = Split(listing);
        for (var i = 0; i + 1 < fields.Count; i += 2)
        {
            var head = Escape(fields[i]);
            var space = -1;
            for (var n = 0; n < 4; n++)
            {
                space = head.IndexOf(' ', space + 1);
            }

            var path = head[(space + 1)..];
            var description = head[..space];
            if (description.StartsWith('l'))
            {
                description += " -> " + Escape(fields[i + 1]);
            }

            entries[path.Length == 0 ? "." : path] = description;
        }

        var maxBlocks = (HashLimit / 1024).ToString(CultureInfo.InvariantCulture) + "k";
        var hashes = Shell.Run("find", ["-P", root, "-type", "f", "-size", "-" + maxBlocks, "-exec", "sha256sum", "-z", "--", "{}", "+"]);
        var prefix = Encoding.UTF8.GetBytes(root.TrimEnd('/') + "/");
        foreach (var line in Split(hashes))
        {
            if (line.Length < 66)
            {
                continue;
            }

            var hash = Encoding.ASCII.GetString(line, 0, 64);
            var name = line.AsSpan(66);
            var relative = name.StartsWith(prefix) ? Escape(name[prefix.Length..].ToArray()) : Escape(name.ToArray());
            if (entries.TryGetValue(relative, out var description))
            {
                entries[relative] = description + " sha256:" + hash;
            }
        }

        return new FolderSnapshot(root, entries);
    }

    /// <summary>What differs in <paramref name="after"/>: entries gone, added or changed (each with both descriptions).</summary>
    public IReadOnlyList<string> Differences(FolderSnapshot after)
    {
        ArgumentNullException.ThrowIfNull(after);
        var differences = new List<string>();
        foreach (var (path, before) in Entries)
        {
            if (!after.Entries.TryGetValue(path, out var now))
            {
                differences.Add($"gone:    {path} ({before})");
            }
            else if (now != before)
            {
                differences.Add($"changed: {path} ({before} → {now})");
            }
        }

        differences.AddRange(after.Entries.Keys.Where(p => !Entries.ContainsKey(p)).Select(p => $"added:   {p} ({after.Entries[p]})"));
        return differences;
    }

    /// <summary>Fails unless the folder is exactly as this snapshot saw it, listing up to 40 differences.</summary>
    public void ShouldBeUnchanged(string because)
    {
        var differences = Differences(Take(Root));
        differences.Should().BeEmpty($"nothing under {Root} may change: {because}; found {differences.Count} differences:\n{string.Join("\n", differences.Take(40))}\n");
    }

    /// <summary>A path's bytes as text, each byte that is not part of valid UTF-8 written <c>\xNN</c>.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes, out var rune, out var consumed) == System.Buffers.OperationStatus.Done)
            {
                text.Append(rune.ToString());
            }
            else
            {
                consumed = 1;
                text.Append(CultureInfo.InvariantCulture, $"\\x{bytes[0]:x2}");
            }

            bytes = bytes[consumed..];
        }

        return text.ToString();
    }

    private static List<byte[]> Split(byte[] output)
    {
        var parts = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < output.Length; i++)
        {
            if (output[i] == 0)
            {
                parts.Add(output[start..i]);
                start = i + 1;
            }
        }

        return parts;
    }
}
