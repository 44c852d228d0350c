namespace Harbor.Gc.Storage.Drivers;

/// <summary>A storage operation refused because it would reach through a symbolic link, leave the root or touch a special file.</summary>
public class StorageRefusedException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The full path refused.</param>
    /// <param name="reason">Why, as a clause (it is not a folder, it is a symbolic link, …).</param>
    public StorageRefusedException(string path, string reason)
        : base($"Refused '{path}': {reason}; nothing was deleted or moved there.")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The full path refused.</summary>
    public string Path { get; }

    /// <summary>Why.</summary>
    public string Reason { get; }
}

/// <summary>A folder the layout reads is a symbolic link.</summary>
public sealed class StorageLinkException : StorageRefusedException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The full path of the link.</param>
    public StorageLinkException(string path)
        : base(path, "it is a symbolic link")
    {
    }
}
