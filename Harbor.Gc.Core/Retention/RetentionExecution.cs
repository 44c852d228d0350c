using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Retention;

/// <summary>Why the executor kept an artifact that the plan deletes.</summary>
public enum RetentionSkipReason
{
    /// <summary>It changed since the snapshot (a new tag, pushed again, listed by a new index): the store's compare-and-swap refused.</summary>
    Changed,

    /// <summary>An immutable tag rule protects it, or the subject it is a hard accessory of.</summary>
    Immutable,

    /// <summary>Something that must go first was kept: a hard accessory of it, or an index that lists it.</summary>
    Dependent,

    /// <summary>A hard accessory whose subject is kept: it stays with its subject.</summary>
    SubjectKept,

    /// <summary>The plan names an artifact the snapshot does not hold (a plan made from another snapshot).</summary>
    NotInSnapshot,

    /// <summary>Its deletion failed or was refused (a path through a symbolic link, a file that cannot be removed); the next run tries again.</summary>
    Failed,
}

/// <summary>An artifact the plan deletes and the executor kept.</summary>
/// <param name="Key">The artifact.</param>
/// <param name="Reason">Why.</param>
/// <param name="Detail">The particulars: the rule and tag, or the artifact that was kept first.</param>
public sealed record SkippedArtifact(ArtifactKey Key, RetentionSkipReason Reason, string Detail)
{
    /// <summary>The reason as the report writes it.</summary>
    public string ReasonName => Reason switch
    {
        RetentionSkipReason.Changed => "changed",
        RetentionSkipReason.Immutable => "immutable",
        RetentionSkipReason.Dependent => "dependent-kept",
        RetentionSkipReason.SubjectKept => "subject-kept",
        RetentionSkipReason.Failed => "failed",
        _ => "not-in-snapshot",
    };
}

/// <summary>What <see cref="RetentionExecutor.ExecuteAsync"/> did.</summary>
/// <param name="Deleted">The artifacts it deleted, in the order it deleted them.</param>
/// <param name="AlreadyGone">The artifacts the plan deletes that were already gone (deleted by someone else, or by an interrupted run).</param>
/// <param name="Skipped">The artifacts the plan deletes that it kept, with why.</param>
/// <param name="Stopped">Whether it was cancelled before the end of the plan (what it did not reach is in none of the lists).</param>
public sealed record RetentionExecution(
    ImmutableArray<ArtifactKey> Deleted,
    ImmutableArray<ArtifactKey> AlreadyGone,
    ImmutableArray<SkippedArtifact> Skipped,
    bool Stopped);
