namespace Harbor.Gc.Collection;

/// <summary>Why an artifact is garbage.</summary>
public enum DeletionReason
{
    /// <summary>No tag, not a child of a live index, not an accessory, and older than the time window.</summary>
    Untagged,

    /// <summary>A hard accessory whose subject is garbage: it goes with its subject.</summary>
    AccessoryOfDeletedSubject,

    /// <summary>An untagged child of an index that is garbage.</summary>
    ChildOfDeletedIndex,

    /// <summary>A hard accessory whose subject does not exist, older than the time window.</summary>
    OrphanAccessory,

    /// <summary>
    /// Its manifest is in the registry's storage but Harbor's database no longer has the artifact (Harbor deleted it), older than the
    /// time window and referenced by nothing live: garbage whatever delete-untagged says (Harbor's GC removes such manifests from
    /// <c>artifact_trash</c>, <c>mark</c> and <c>sweep</c> in <c>src/jobservice/job/impl/gc/garbage_collection.go</c>).
    /// </summary>
    DeletedInHarbor,
}

/// <summary>The report names of <see cref="DeletionReason"/>.</summary>
public static class DeletionReasonExtensions
{
    /// <summary>The name used in reports: <c>untagged</c>, <c>accessory-of-deleted-subject</c>, …</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The name.</returns>
    public static string ToReportName(this DeletionReason reason) => reason switch
    {
        DeletionReason.Untagged => "untagged",
        DeletionReason.AccessoryOfDeletedSubject => "accessory-of-deleted-subject",
        DeletionReason.ChildOfDeletedIndex => "child-of-deleted-index",
        DeletionReason.OrphanAccessory => "orphan-accessory",
        DeletionReason.DeletedInHarbor => "deleted-in-harbor",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown deletion reason."),
    };

    /// <summary>Parses a report name.</summary>
    /// <param name="name">The name.</param>
    /// <returns>The reason.</returns>
    /// <exception cref="FormatException">Not a known reason.</exception>
    public static DeletionReason ParseReportName(string name) => name switch
    {
        "untagged" => DeletionReason.Untagged,
        "accessory-of-deleted-subject" => DeletionReason.AccessoryOfDeletedSubject,
        "child-of-deleted-index" => DeletionReason.ChildOfDeletedIndex,
        "orphan-accessory" => DeletionReason.OrphanAccessory,
        "deleted-in-harbor" => DeletionReason.DeletedInHarbor,
        _ => throw new FormatException($"'{name}' is not a deletion reason (untagged, accessory-of-deleted-subject, child-of-deleted-index, orphan-accessory, deleted-in-harbor)."),
    };
}
