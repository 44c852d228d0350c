using System.Collections.Immutable;
using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;

namespace Harbor.Gc.Immutability;

/// <summary>
/// Harbor's immutable tag rules, the one check the registry API and retention both call (DESIGN.md §7). A tag is
/// immutable when an enabled rule of its project matches (repository, tag). Rules match user tags only: an accessory's
/// cosign tag-scheme tag (<c>sha256-&lt;hex&gt;.sig</c>) is never matched (goharbor/harbor#18014), and an untagged artifact is
/// never immutable, whatever an "excludes" rule says (goharbor/harbor#16335). An artifact is immutable when any of its user
/// tags is; a hard accessory is immutable when its subject is (the graph-level part lives with the caller that has the
/// graph, such as the retention evaluator). The registry API consults it as its <see cref="ITagImmutability"/>.
/// </summary>
public sealed class ImmutabilityRules : ITagImmutability
{
    private readonly Dictionary<string, ImmutableTagRule[]> _byProject;

    /// <summary>Creates the rule set.</summary>
    /// <param name="rules">The rules, of any number of projects; disabled rules are kept but never match.</param>
    public ImmutabilityRules(IEnumerable<ImmutableTagRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        Rules = [.. rules];
        _byProject = Rules.GroupBy(r => r.Project, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
    }

    /// <summary>No rules: nothing is immutable.</summary>
    public static ImmutabilityRules None { get; } = new([]);

    /// <summary>Every rule.</summary>
    public ImmutableArray<ImmutableTagRule> Rules { get; }

    /// <summary>Whether any enabled rule exists (when none does, callers can skip the check).</summary>
    public bool IsEmpty => !Rules.Any(r => !r.Disabled);

    /// <summary>The first enabled rule that makes a tag immutable, or <see langword="null"/>.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <returns>The rule, for an error message that names it; <see langword="null"/> when the tag is mutable.</returns>
    public ImmutableTagRule? FindRule(RepositoryName repository, string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (AccessoryClassifier.IsTagSchemeTag(tag) || !_byProject.TryGetValue(repository.Project, out var rules))
        {
            return null;
        }

        var path = PathBelowProject(repository);
        foreach (var rule in rules)
        {
            if (rule.Matches(path, tag))
            {
                return rule;
            }
        }

        return null;
    }

    /// <inheritdoc />
    string? ITagImmutability.FindRule(RepositoryName repository, string tag) => FindRule(repository, tag)?.ToString();

    /// <summary>Whether a tag is immutable.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag.</param>
    /// <returns>Whether an enabled rule matches it.</returns>
    public bool IsImmutable(RepositoryName repository, string tag) => FindRule(repository, tag) is not null;

    /// <summary>The first (tag, rule) that makes an artifact with these tags immutable, or <see langword="null"/>.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tags">The artifact's tags (tag-scheme tags are skipped; no tags: never immutable).</param>
    /// <returns>The tag and rule, or <see langword="null"/>.</returns>
    public (string Tag, ImmutableTagRule Rule)? FindImmutableTag(RepositoryName repository, IEnumerable<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        foreach (var tag in tags)
        {
            if (FindRule(repository, tag) is { } rule)
            {
                return (tag, rule);
            }
        }

        return null;
    }

    /// <summary>The repository path Harbor's selectors match: the name without its project (<c>library/a/b</c> → <c>a/b</c>).</summary>
    /// <param name="repository">The repository.</param>
    /// <returns>The path below the project.</returns>
    public static string PathBelowProject(RepositoryName repository)
    {
        var value = repository.Value;
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? value : value[(slash + 1)..];
    }
}
