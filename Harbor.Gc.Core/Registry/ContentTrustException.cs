using Harbor.Gc.Model;
using Harbor.Gc.Trust;

namespace Harbor.Gc.Registry;

/// <summary>A pull was refused because the project requires a signature the artifact lacks (DESIGN.md §7); nothing was recorded.</summary>
public sealed class ContentTrustException : InvalidOperationException
{
    /// <summary>Creates the exception from a refusal.</summary>
    /// <param name="decision">The decision, whose <see cref="ContentTrustDecision.Outcome"/> is <see cref="ContentTrustOutcome.Refused"/>.</param>
    public ContentTrustException(ContentTrustDecision decision)
        : base($"Refused to pull {decision?.Repository}:{decision?.Reference}: {decision?.Reason}")
    {
        ArgumentNullException.ThrowIfNull(decision);
        Decision = decision;
    }

    /// <summary>The decision.</summary>
    public ContentTrustDecision Decision { get; }

    /// <summary>The project whose policy refused the pull.</summary>
    public string Project => Decision.Project;

    /// <summary>The signature kinds the artifact lacks.</summary>
    public SignatureKinds Missing => Decision.Missing;

    /// <summary>The manifest that was refused.</summary>
    public Digest Digest => Decision.Digest ?? default;
}
