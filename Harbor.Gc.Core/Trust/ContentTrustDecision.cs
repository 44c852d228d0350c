using Harbor.Gc.Model;

namespace Harbor.Gc.Trust;

/// <summary>What <see cref="ContentTrustChecker.CheckPullAsync"/> decided.</summary>
public enum ContentTrustOutcome
{
    /// <summary>The project requires no signature.</summary>
    NotRequired,

    /// <summary>The artifact has a hard accessory of every required kind.</summary>
    Signed,

    /// <summary>Pulled by digest, the artifact is a child of an index that has (with the child's own) every required kind.</summary>
    SignedByIndex,

    /// <summary>The artifact is itself a signature (a hard cosign or notation accessory), which a verifying client must fetch.</summary>
    IsSignature,

    /// <summary>A required signature kind is missing: the pull is refused.</summary>
    Refused,

    /// <summary>There is no such manifest (the pull fails as not found, not for trust).</summary>
    NotFound,
}

/// <summary>The decision on one pull, with the reason in words.</summary>
/// <param name="Outcome">What was decided.</param>
/// <param name="Repository">The repository pulled from.</param>
/// <param name="Reference">The tag or digest the client asked for.</param>
/// <param name="Digest">The manifest the reference resolved to; <see langword="null"/> when not found.</param>
/// <param name="Required">The kinds the project requires.</param>
/// <param name="Missing">The required kinds no signature provides (non-empty only when refused).</param>
/// <param name="SignedIndex">For <see cref="ContentTrustOutcome.SignedByIndex"/>, an index whose signatures allowed the pull.</param>
/// <param name="Reason">Why, in a sentence naming the project, the kinds and the digest.</param>
public sealed record ContentTrustDecision(
    ContentTrustOutcome Outcome,
    RepositoryName Repository,
    string Reference,
    Digest? Digest,
    SignatureKinds Required,
    SignatureKinds Missing,
    Digest? SignedIndex,
    string Reason)
{
    /// <summary>Whether the pull may proceed as far as content trust is concerned (a missing manifest is not a trust refusal).</summary>
    public bool IsAllowed => Outcome != ContentTrustOutcome.Refused;

    /// <summary>The Harbor project of the repository.</summary>
    public string Project => Repository.Project;
}
