using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Retention;

/// <summary>Whether retention keeps or deletes an artifact.</summary>
public enum RetentionOutcome
{
    /// <summary>Kept.</summary>
    Retained,

    /// <summary>Deleted.</summary>
    Deleted,
}

/// <summary>Why an artifact is kept or deleted.</summary>
public enum RetentionReason
{
    /// <summary>One or more rules retained it (see <see cref="ArtifactRetention.RetainedBy"/>).</summary>
    RetainedByRule,

    /// <summary>An immutable tag rule protects it (or its subject): always retained.</summary>
    Immutable,

    /// <summary>A hard accessory whose subject is kept: it follows its subject.</summary>
    AccessoryOfRetained,

    /// <summary>
    /// A child of an index kept because a kept index lists it (<see cref="ArtifactRetention.Cause"/>): an untagged child, or a
    /// tagged child (a candidate) that no rule retains.
    /// </summary>
    ChildKept,

    /// <summary>A hard accessory whose subject does not exist: retention leaves it to GC.</summary>
    OrphanAccessory,

    /// <summary>A candidate that no rule retained; for a tagged index child, <see cref="ArtifactRetention.Cause"/> is its last index, which goes too.</summary>
    NotRetained,

    /// <summary>A hard accessory of a deleted artifact (cascade, recursively).</summary>
    AccessoryOfDeleted,

    /// <summary>An untagged child that only deleted indexes reference (cascade).</summary>
    ChildOfDeleted,
}

/// <summary>The decision for one artifact.</summary>
/// <param name="Digest">The artifact.</param>
/// <param name="Tags">Its user tags, sorted (tag-scheme tags excluded).</param>
/// <param name="Outcome">Kept or deleted.</param>
/// <param name="Reason">Why.</param>
/// <param name="RetainedBy">The 0-based indexes (in the policy) of the rules that retained it; empty unless a rule did.</param>
/// <param name="Cause">For a cascade or a follower: the subject or index it follows.</param>
/// <param name="ImmutableBy">For an immutable artifact: the tag and rule that make it so.</param>
public sealed record ArtifactRetention(
    Digest Digest,
    ImmutableArray<string> Tags,
    RetentionOutcome Outcome,
    RetentionReason Reason,
    ImmutableArray<int> RetainedBy,
    Digest? Cause = null,
    string? ImmutableBy = null)
{
    /// <summary>Its manifest size in bytes, as the store gave it.</summary>
    public long Size { get; init; }

    /// <summary>Its accessory type (<c>signature.cosign</c>, <c>sbom.harbor</c>, …) when it is an accessory, else <see langword="null"/>.</summary>
    public string? AccessoryType { get; init; }

    /// <summary>
    /// Whether it is a candidate (DESIGN.md §6): counted in its repository's <see cref="RepositoryRetention.Total"/>; a hard
    /// accessory or an untagged index child is not, it follows its subject or index (<see cref="Cause"/>).
    /// </summary>
    public bool Candidate { get; init; }
}

/// <summary>
/// The plan for one repository. Its counts are over candidates, as Harbor's retention history counts them
/// (src/pkg/retention/job.go, saveRetainNum: total = the candidates, retained = total − deleted); hard accessories and untagged
/// index children are listed in <see cref="Artifacts"/> under their subject or index and counted in
/// <see cref="ArtifactsDeleted"/> only.
/// </summary>
/// <param name="Repository">The repository.</param>
/// <param name="Total">Its candidates.</param>
/// <param name="Retained">The candidates kept.</param>
/// <param name="Deleted">The candidates deleted.</param>
/// <param name="Artifacts">Every artifact's decision, by digest.</param>
public sealed record RepositoryRetention(RepositoryName Repository, int Total, int Retained, int Deleted, ImmutableArray<ArtifactRetention> Artifacts)
{
    /// <summary>Every artifact the plan deletes in the repository: the deleted candidates with their accessories and children.</summary>
    public int ArtifactsDeleted => Artifacts.Count(a => a.Outcome == RetentionOutcome.Deleted);
}

/// <summary>
/// The outcome of evaluating a retention policy over a snapshot (DESIGN.md §6). Pure data: the executor deletes
/// <see cref="DeleteOrder"/> in order, and a dry run prints the plan.
/// </summary>
/// <param name="Policy">The policy evaluated.</param>
/// <param name="EvaluatedAt">The time the day-based rules measured from.</param>
/// <param name="Repositories">The repositories some enabled rule selects, by name.</param>
/// <param name="Untouched">The project's repositories no enabled rule selects: nothing in them is touched.</param>
/// <param name="DeleteOrder">
/// Every artifact to delete, ordered so a hard accessory comes before its subject and an index before its children (an
/// artifact cannot be deleted while an index references it); deterministic for a given snapshot.
/// </param>
public sealed record RetentionPlan(
    RetentionPolicy Policy,
    DateTimeOffset EvaluatedAt,
    ImmutableArray<RepositoryRetention> Repositories,
    ImmutableArray<RepositoryName> Untouched,
    ImmutableArray<ArtifactKey> DeleteOrder)
{
    /// <summary>Candidates in the selected repositories (see <see cref="RepositoryRetention"/>).</summary>
    public int Total => Repositories.Sum(r => r.Total);

    /// <summary>Candidates kept in the selected repositories.</summary>
    public int Retained => Repositories.Sum(r => r.Retained);

    /// <summary>Candidates to delete.</summary>
    public int Deleted => Repositories.Sum(r => r.Deleted);

    /// <summary>Every artifact in the selected repositories, candidates or not.</summary>
    public int ArtifactCount => Repositories.Sum(r => r.Artifacts.Length);

    /// <summary>Every artifact to delete: the deleted candidates with their accessories and children (<see cref="DeleteOrder"/>).</summary>
    public int ArtifactsToDelete => DeleteOrder.Length;
}
