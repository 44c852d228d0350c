using System.Data.Common;

namespace Harbor.Gc.Storage;

/// <summary>
/// The store's database failed in the middle of a run (the server went away, the connection was lost or ended by an administrator):
/// the run stopped there. What it did is consistent, as after a crash at that point: an item it left half deleted is finished by
/// the next run.
/// </summary>
public sealed class StoreFailedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store's description (never with a password).</param>
    /// <param name="inner">The database's error.</param>
    public StoreFailedException(string store, DbException inner)
        : base($"{store}: the store's database failed during the run ({Describe(inner)}); the run stopped there. What it deleted is consistent: "
            + "anything it left half deleted is finished by the next run. Run again when the database is back.", inner) => Store = store;

    /// <summary>The store.</summary>
    public string Store { get; }

    private static string Describe(DbException e) =>
        e.InnerException is { } cause && e.Message.StartsWith("Exception while", StringComparison.Ordinal) ? $"{e.Message}: {cause.Message}" : e.Message;
}
