namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// The LiteDB store is held by another process in a way that opening it here would break: another process has the database
/// file open in LiteDB's direct mode (which assumes it is the only one), or, when opening in direct mode, another process has
/// the store open at all. Nothing was changed.
/// </summary>
public sealed class LiteDbStoreInUseException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="databasePath">The database file.</param>
    /// <param name="message">What holds it, naming the file.</param>
    /// <param name="inner">The sharing violation that showed it, if any.</param>
    public LiteDbStoreInUseException(string databasePath, string message, Exception? inner = null)
        : base(message, inner) => DatabasePath = databasePath;

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }
}
