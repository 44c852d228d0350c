using System.Collections.Immutable;

namespace Harbor.Gc.Trust;

/// <summary>
/// Content trust per project (DESIGN.md §7): the signature kinds a pull of an artifact of a project's repositories requires.
/// </summary>
/// <remarks>
/// <para>This encodes Harbor's project metadata and its pull middleware (goharbor/harbor
/// <c>src/server/middleware/contenttrust</c>): <c>enable_content_trust_cosign</c> requires a cosign signature, and
/// <c>enable_content_trust</c> (Notary's switch before Harbor 2.9 removed Notary, since then notation's) requires a notation
/// signature. Harbor checks each enabled kind on its own and refuses the pull when any is missing, so with both enabled both must
/// exist: a requirement here is "all of" its kinds. A project without a requirement (or with <see cref="SignatureKinds.None"/>)
/// is not checked.</para>
/// </remarks>
public sealed class ContentTrustPolicy
{
    /// <summary>Harbor's project metadata key that requires a notation signature (Notary's before Harbor 2.9).</summary>
    public const string HarborContentTrustKey = "enable_content_trust";

    /// <summary>Harbor's project metadata key that requires a cosign signature.</summary>
    public const string HarborCosignKey = "enable_content_trust_cosign";

    private readonly ImmutableDictionary<string, SignatureKinds> _byProject;

    private ContentTrustPolicy(ImmutableDictionary<string, SignatureKinds> byProject) => _byProject = byProject;

    /// <summary>A policy that requires nothing of any project.</summary>
    public static ContentTrustPolicy None { get; } = new(ImmutableDictionary.Create<string, SignatureKinds>(StringComparer.Ordinal));

    /// <summary>The projects with a requirement, and what each requires.</summary>
    public IReadOnlyDictionary<string, SignatureKinds> Projects => _byProject;

    /// <summary>A policy that also requires <paramref name="kinds"/> of <paramref name="project"/> (replacing its previous requirement).</summary>
    /// <param name="project">The Harbor project: the first component of its repositories' names.</param>
    /// <param name="kinds">The kinds every pull requires, all of them; <see cref="SignatureKinds.None"/> removes the requirement.</param>
    /// <returns>The new policy; this one is unchanged.</returns>
    /// <exception cref="ArgumentException">The project is empty or contains a <c>/</c>, or <paramref name="kinds"/> has unknown bits.</exception>
    public ContentTrustPolicy Require(string project, SignatureKinds kinds)
    {
        ArgumentException.ThrowIfNullOrEmpty(project);
        if (project.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A project is the first component of a repository name; '{project}' contains '/'.", nameof(project));
        }

        if ((kinds & ~(SignatureKinds.Cosign | SignatureKinds.Notation)) != 0)
        {
            throw new ArgumentException($"Unknown signature kinds {(int)kinds} for project '{project}'.", nameof(kinds));
        }

        return new ContentTrustPolicy(kinds == SignatureKinds.None ? _byProject.Remove(project) : _byProject.SetItem(project, kinds));
    }

    /// <summary>
    /// A policy that also requires what a Harbor project's metadata enables: <c>enable_content_trust_cosign</c> → cosign,
    /// <c>enable_content_trust</c> → notation. Harbor stores the values as the strings <c>true</c> / <c>false</c>; any other value
    /// is an error, not "false", so a typo never turns trust off silently.
    /// </summary>
    /// <param name="project">The project.</param>
    /// <param name="metadata">The project's metadata as Harbor's API returns it (other keys are ignored).</param>
    /// <returns>The new policy; this one is unchanged.</returns>
    /// <exception cref="FormatException">A content trust key has a value other than <c>true</c> or <c>false</c>.</exception>
    public ContentTrustPolicy RequireFromHarborMetadata(string project, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var kinds = SignatureKinds.None;
        if (Flag(project, metadata, HarborCosignKey))
        {
            kinds |= SignatureKinds.Cosign;
        }

        if (Flag(project, metadata, HarborContentTrustKey))
        {
            kinds |= SignatureKinds.Notation;
        }

        return Require(project, kinds);
    }

    /// <summary>What a pull from <paramref name="project"/> requires; <see cref="SignatureKinds.None"/> when nothing.</summary>
    /// <param name="project">The project.</param>
    /// <returns>The required kinds, all of them.</returns>
    public SignatureKinds RequiredFor(string project) => _byProject.TryGetValue(project, out var kinds) ? kinds : SignatureKinds.None;

    private static bool Flag(string project, IReadOnlyDictionary<string, string> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var value))
        {
            return false;
        }

        return value.Trim().ToUpperInvariant() switch
        {
            "TRUE" => true,
            "FALSE" => false,
            _ => throw new FormatException($"Project '{project}' metadata '{key}' is '{value}'; expected \"true\" or \"false\"."),
        };
    }
}
