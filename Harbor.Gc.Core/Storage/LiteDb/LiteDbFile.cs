using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LiteDB;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// What a file is, read from its first page before LiteDB is let near it, and whether another process holds it. LiteDB 5 writes
/// on open: it cuts a file that is not a whole number of 8 KiB pages down to one, writes a new empty database over a file it cut
/// to nothing, and marks a file it fails to read as damaged (a byte of its first page). So a file is opened only once these bytes
/// say it is a LiteDB 5 database of the right kind, whole, unmarked and with the fixed collation; a file that is not is refused
/// with a message naming it, and nothing in it or beside it changes.
/// </summary>
internal static class LiteDbFile
{
    /// <summary>LiteDB 5's page size.</summary>
    public const int PageSize = 8192;

    /// <summary>The invariant culture's LCID, the culture of <see cref="Collation.Binary"/>.</summary>
    public const int InvariantLcid = 127;

    // the header page (LiteDB 5, HeaderPage.cs and EnginePragmas.cs): offsets in the file's first page
    private const string HeaderInfo = "** This is a LiteDB file **";
    private const int HeaderInfoAt = 32;
    private const int FileVersionAt = 59;
    private const byte FileVersion = 8;
    private const int LastPageIdAt = 64;
    private const int CollationLcidAt = 80;
    private const int CollationSortAt = 84;
    private const int InvalidStateAt = 191;
    private const int CollectionsAt = 192;
    private const int CollectionsSize = 8000;

    // LiteDB 4 wrote the same text after its 25-byte page header, in 4 KiB pages
    private const int Version4HeaderInfoAt = 25;

    private static readonly byte[] HeaderInfoBytes = Encoding.ASCII.GetBytes(HeaderInfo);
    private static readonly byte[] SqliteMagic = Encoding.ASCII.GetBytes("SQLite format 3\0");

    /// <summary>
    /// The collation of every database this project creates: the invariant culture with ordinal comparison, which compares
    /// UTF-16 code units and so orders keys the same under ICU, NLS and invariant globalization, whatever the culture.
    /// </summary>
    public static Collation Collation => Collation.Binary;

    /// <summary>The collation as LiteDB writes it in messages and pragmas (<c>/Ordinal</c>: no culture, ordinal).</summary>
    public static string CollationText => Describe(InvariantLcid, CompareOptions.Ordinal);

    /// <summary>The write-ahead log LiteDB keeps beside <paramref name="path"/> (<c>name-log.ext</c>).</summary>
    public static string LogPath(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? ".", Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));

    /// <summary>A collation as a person reads it: the culture's name (or LCID) and the compare options.</summary>
    public static string Describe(int lcid, CompareOptions options)
    {
        string culture;
        if (lcid == InvariantLcid)
        {
            culture = "invariant culture";
        }
        else
        {
            try
            {
                // LiteDB's own table of culture names; creating one fails under invariant globalization with predefined cultures only
                culture = $"culture {new Collation(lcid, options).Culture.Name}";
            }
            catch (Exception e) when (e is CultureNotFoundException or ArgumentException or LiteException)
            {
                culture = string.Create(CultureInfo.InvariantCulture, $"culture LCID {lcid}");
            }
        }

        return $"{culture}, {options}";
    }

    /// <summary>
    /// Reads the first page of <paramref name="path"/> and checks that it is a whole, unmarked LiteDB 5 database; changes nothing.
    /// </summary>
    /// <param name="path">The full path; the file exists.</param>
    /// <param name="kind">What the caller wants the file to be, for messages (<c>a Harbor.Gc LiteDB store</c>).</param>
    /// <param name="writable">Whether the caller opens it for writing: then a partly written last page beside a log is
    /// LiteDB's to recover (a power loss during a checkpoint); a reader refuses it.</param>
    /// <returns>What the header says.</returns>
    /// <exception cref="InvalidDataException">It is not; the message says what it is and names the file.</exception>
    private static LiteDbFileHeader ReadHeader(string path, string kind, bool writable)
    {
        var page = new byte[PageSize];
        long length;
        int read;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            length = stream.Length;
            read = stream.ReadAtLeast(page, PageSize, throwOnEndOfStream: false);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidDataException($"'{path}' cannot be read ({e.Message}).", e);
        }

        var hasLog = File.Exists(LogPath(path));
        string Refuse(string what) => $"'{path}' is not {kind}: {what}. Nothing was changed.";
        string Damaged(string what) => $"'{path}' is damaged: {what}. Nothing was changed.";
        if (length == 0)
        {
            throw new InvalidDataException(Refuse("the file is empty"));
        }

        if (read >= SqliteMagic.Length && page.AsSpan(0, SqliteMagic.Length).SequenceEqual(SqliteMagic))
        {
            throw new InvalidDataException(Refuse("it is a SQLite database"));
        }

        if (read >= Version4HeaderInfoAt + HeaderInfoBytes.Length && page.AsSpan(Version4HeaderInfoAt, HeaderInfoBytes.Length).SequenceEqual(HeaderInfoBytes))
        {
            throw new InvalidDataException(Refuse("it is a LiteDB 4 database (this project reads LiteDB 5 files)"));
        }

        if (read < HeaderInfoAt + HeaderInfoBytes.Length || !page.AsSpan(HeaderInfoAt, HeaderInfoBytes.Length).SequenceEqual(HeaderInfoBytes))
        {
            // an encrypted LiteDB file starts with a page of salt (its first byte 1) and hides its header
            throw new InvalidDataException(page[0] == 1 && length >= 2 * PageSize && length % PageSize == 0
                ? Refuse("it is an encrypted LiteDB database, or not a LiteDB database at all")
                : Refuse(string.Create(CultureInfo.InvariantCulture, $"it is not a LiteDB 5 database (its first bytes are not LiteDB's header; {length:N0} bytes)")));
        }

        if (read < PageSize)
        {
            throw new InvalidDataException(Damaged(string.Create(CultureInfo.InvariantCulture, $"it is a LiteDB database cut short ({length:N0} bytes, less than one 8 KiB page)")));
        }

        if (page[FileVersionAt] != FileVersion)
        {
            throw new InvalidDataException(Refuse(string.Create(CultureInfo.InvariantCulture, $"it is a LiteDB database of file format {page[FileVersionAt]}, not LiteDB 5's format {FileVersion}")));
        }

        if (length % PageSize != 0 && !(writable && hasLog))
        {
            throw new InvalidDataException(Damaged(string.Create(CultureInfo.InvariantCulture,
                $"it is a LiteDB database cut short ({length:N0} bytes, not a whole number of 8 KiB pages)")));
        }

        var lastPageId = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(LastPageIdAt));
        if (!hasLog && ((long)lastPageId + 1) * PageSize > length)
        {
            throw new InvalidDataException(Damaged(string.Create(CultureInfo.InvariantCulture,
                $"it is a LiteDB database cut short ({length:N0} bytes, but its header counts {(long)lastPageId + 1:N0} pages of 8 KiB)")));
        }

        if (page[InvalidStateAt] != 0)
        {
            throw new InvalidDataException(Damaged("LiteDB marked it damaged after a read failed; restore it from a backup"));
        }

        IReadOnlyList<string> collections;
        try
        {
            // a BSON document of name → page; all zeros until the first collection is created
            var size = BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(CollectionsAt));
            if (size == 0)
            {
                collections = [];
            }
            else if (size < 5 || size > CollectionsSize)
            {
                throw new InvalidDataException("size");
            }
            else
            {
                collections = [.. BsonSerializer.Deserialize(page.AsSpan(CollectionsAt, size).ToArray()).Keys.Order(StringComparer.Ordinal)];
            }
        }
        catch (Exception e) when (e is InvalidDataException or LiteException or ArgumentException or InvalidCastException or IndexOutOfRangeException or OverflowException)
        {
            throw new InvalidDataException(Damaged("its LiteDB header cannot be read (the list of collections)"), e);
        }

        return new LiteDbFileHeader(
            length,
            BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(CollationLcidAt)),
            (CompareOptions)BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(CollationSortAt)),
            collections,
            hasLog);
    }

    /// <summary>
    /// Checks, changing nothing, that no other process holds the file outside LiteDB's shared mode and that its first page says it
    /// is a whole, unmarked LiteDB 5 database (<see cref="ReadHeader"/>). Both under LiteDB's own system-wide mutex for the file,
    /// so that no shared-mode operation has the file open or is halfway through a checkpoint meanwhile: an attempt to open it
    /// exclusively must then succeed, or another process holds it in LiteDB's direct mode (or another program has it open).
    /// </summary>
    /// <param name="path">The full path, exactly as LiteDB is given it (the mutex's name is derived from it); the file exists.</param>
    /// <param name="kind">What the caller wants the file to be, for messages (<c>a Harbor.Gc LiteDB store</c>).</param>
    /// <param name="what">The file, for messages (<c>The LiteDB store '/x/harbor-gc.db'</c>).</param>
    /// <param name="writable">Whether the caller opens it for writing (see <see cref="ReadHeader"/>).</param>
    /// <returns>What the header says.</returns>
    /// <exception cref="InvalidDataException">It is not a LiteDB 5 database, or is damaged; the message names the file.</exception>
    /// <exception cref="LiteDbStoreInUseException">Another process holds it.</exception>
    public static LiteDbFileHeader Inspect(string path, string kind, string what, bool writable)
    {
        using var mutex = new Mutex(false, MutexName(path));
        var owned = false;
        try
        {
            try
            {
                owned = mutex.WaitOne();
            }
            catch (AbandonedMutexException)
            {
                owned = true; // a shared-mode process died holding it; LiteDB carries on the same way
            }

            try
            {
                using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException e) when (IsSharingViolation(e))
            {
                throw new LiteDbStoreInUseException(path,
                    $"{what} is open in another process in LiteDB's direct mode (or another program holds the file); nothing was changed. "
                    + "Stop that process, or open the store in shared mode in both.", e);
            }

            return ReadHeader(path, kind, writable);
        }
        finally
        {
            if (owned)
            {
                mutex.ReleaseMutex();
            }
        }
    }

    /// <summary>Whether an exception from opening a file says another handle's lock or sharing mode forbids it.</summary>
    public static bool IsSharingViolation(IOException e) =>
        e is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException)
        && e.HResult is 11 /* EWOULDBLOCK, Linux */ or 35 /* EWOULDBLOCK, macOS */ or unchecked((int)0x80070020) /* sharing violation */ or unchecked((int)0x80070021) /* lock violation */;

    /// <summary>
    /// The name LiteDB 5's shared mode gives its mutex for <paramref name="path"/> (<c>SharedEngine</c>: the SHA-1 of the full path
    /// lower-cased in the current culture, upper-case hex).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "LiteDB names its mutex by SHA-1; this only computes the same name.")]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Globalization", "CA1308:Normalize strings to uppercase", Justification = "LiteDB lower-cases the path.")]
    public static string MutexName(string path) =>
        "Global\\" + Convert.ToHexString(SHA1.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(path).ToLower(CultureInfo.CurrentCulture)))) + ".Mutex";

    /// <summary>A LiteDB error while reading, as a message with no LiteDB internals in it.</summary>
    public static InvalidDataException Unreadable(string what, Exception e) => new(
        $"{what} is damaged: LiteDB could not read it ({Reason(e)}). Restore it from a backup; a damaged store is never collected.", e);

    private static string Reason(Exception e) => e switch
    {
        LiteException { ErrorCode: LiteException.INVALID_DATAFILE_STATE } => "a page does not hold what the file's structure says it holds",
        LiteException { ErrorCode: LiteException.INVALID_DATABASE } => "it is not a LiteDB database",
        LiteException { ErrorCode: var code } => string.Create(CultureInfo.InvariantCulture, $"LiteDB error {code}"),
        _ => "a record or page cannot be decoded",
    };
}

/// <summary>What the first page of a LiteDB 5 file says.</summary>
/// <param name="Length">The file's length in bytes.</param>
/// <param name="CollationLcid">The collation's culture (LCID; 127 the invariant culture).</param>
/// <param name="CollationOptions">The collation's compare options.</param>
/// <param name="Collections">The names of its collections (as of its last checkpoint), in ordinal order.</param>
/// <param name="HasLog">Whether its write-ahead log file is beside it (transactions not yet copied into the file).</param>
internal sealed record LiteDbFileHeader(long Length, int CollationLcid, CompareOptions CollationOptions, IReadOnlyList<string> Collections, bool HasLog)
{
    /// <summary>Whether the collation is <see cref="LiteDbFile.Collation"/>.</summary>
    public bool HasFixedCollation => CollationLcid == LiteDbFile.InvariantLcid && CollationOptions == CompareOptions.Ordinal;

    /// <summary>The collation, as a person reads it.</summary>
    public string CollationText => LiteDbFile.Describe(CollationLcid, CollationOptions);
}
