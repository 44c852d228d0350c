using System.Collections.Immutable;

namespace Harbor.Gc.Retention;

/// <summary>The templates of Harbor's retention rules (DESIGN.md §6), named as in Harbor's policy JSON.</summary>
public enum RetentionTemplate
{
    /// <summary><c>latestPushedK</c>: the k most recently pushed.</summary>
    LatestPushedK,

    /// <summary><c>latestPulledN</c>: the n most recently pulled (never pulled sorts last and is never retained).</summary>
    LatestPulledN,

    /// <summary><c>nDaysSinceLastPush</c>: pushed within the last d days (Harbor's <c>daysps</c>: the push's Unix second at or after the cutoff's).</summary>
    NDaysSinceLastPush,

    /// <summary><c>nDaysSinceLastPull</c>: pulled within the last d days (Harbor's <c>dayspl</c>: the pull's Unix second at or after the cutoff's).</summary>
    NDaysSinceLastPull,

    /// <summary><c>always</c>: every selected artifact.</summary>
    Always,

    /// <summary><c>latestActiveK</c>: the k most recent by the later of push and pull.</summary>
    LatestActiveK,

    /// <summary><c>lastXDays</c>: pushed within the last d days (Harbor's <c>lastx</c>: reads the push time only, its second strictly after the cutoff).</summary>
    LastXDays,
}

/// <summary>How a selector's pattern is applied.</summary>
public enum SelectorDecoration
{
    /// <summary>Selects what matches the pattern (<c>matches</c> / <c>repoMatches</c>).</summary>
    Matches,

    /// <summary>Selects what does not match the pattern (<c>excludes</c> / <c>repoExcludes</c>).</summary>
    Excludes,
}

/// <summary>A repository selector: a doublestar pattern over the repository path below the project.</summary>
/// <param name="Decoration">Matches or excludes.</param>
/// <param name="Pattern">The pattern, matched against the repository name without its project (Harbor matches
/// <c>library/nginx</c> as <c>nginx</c>).</param>
public sealed record RepositorySelector(SelectorDecoration Decoration, DoublestarPattern Pattern)
{
    /// <summary>Whether the selector selects <paramref name="repositoryPath"/> (the name below the project).</summary>
    /// <param name="repositoryPath">The repository path below the project.</param>
    /// <returns>Whether it is selected.</returns>
    public bool Selects(string repositoryPath) => Pattern.IsMatch(repositoryPath) == (Decoration == SelectorDecoration.Matches);

    /// <summary>A selector matching the pattern.</summary>
    /// <param name="pattern">The doublestar pattern.</param>
    /// <returns>The selector.</returns>
    public static RepositorySelector Matching(string pattern) => new(SelectorDecoration.Matches, DoublestarPattern.Parse(pattern));

    /// <summary>A selector excluding the pattern.</summary>
    /// <param name="pattern">The doublestar pattern.</param>
    /// <returns>The selector.</returns>
    public static RepositorySelector Excluding(string pattern) => new(SelectorDecoration.Excludes, DoublestarPattern.Parse(pattern));
}

/// <summary>A tag selector, with Harbor's semantics for an artifact with several tags and for untagged artifacts.</summary>
/// <param name="Decoration">Matches or excludes.</param>
/// <param name="Pattern">The doublestar pattern over tags.</param>
/// <param name="Untagged">
/// Harbor's <c>extras</c> <c>{"untagged": …}</c>. With <see cref="SelectorDecoration.Matches"/> an untagged artifact is in
/// scope when this is <see langword="true"/>; with <see cref="SelectorDecoration.Excludes"/> it is in scope when this is
/// <see langword="false"/> (the flag then means "exclude untagged"), as Harbor's doublestar selector does.
/// </param>
public sealed record TagSelector(SelectorDecoration Decoration, DoublestarPattern Pattern, bool Untagged)
{
    /// <summary>
    /// Whether the selector selects an artifact with these user tags. As in Harbor: <c>matches</c> selects an artifact when
    /// any tag matches; <c>excludes</c> selects it when any tag does not match; an untagged artifact follows
    /// <see cref="Untagged"/>.
    /// </summary>
    /// <param name="tags">The artifact's user tags.</param>
    /// <returns>Whether the artifact is selected.</returns>
    public bool Selects(IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var matches = Decoration == SelectorDecoration.Matches;
        if (tags.Count == 0)
        {
            return matches ? Untagged : !Untagged;
        }

        foreach (var tag in tags)
        {
            if (Pattern.IsMatch(tag) == matches)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A selector matching the pattern.</summary>
    /// <param name="pattern">The doublestar pattern.</param>
    /// <param name="untagged">Whether untagged artifacts are in scope.</param>
    /// <returns>The selector.</returns>
    public static TagSelector Matching(string pattern, bool untagged = false) =>
        new(SelectorDecoration.Matches, DoublestarPattern.Parse(pattern), untagged);

    /// <summary>A selector excluding the pattern.</summary>
    /// <param name="pattern">The doublestar pattern.</param>
    /// <param name="excludeUntagged">Harbor's <c>untagged</c> flag for excludes: whether untagged artifacts are left out.</param>
    /// <returns>The selector.</returns>
    public static TagSelector Excluding(string pattern, bool excludeUntagged = false) =>
        new(SelectorDecoration.Excludes, DoublestarPattern.Parse(pattern), excludeUntagged);
}

/// <summary>One retention rule.</summary>
/// <param name="Template">The template.</param>
/// <param name="Parameter">k, n or d for the templates that take one (0 for <see cref="RetentionTemplate.Always"/>).</param>
/// <param name="Repositories">The repository selector.</param>
/// <param name="Tags">The tag selector.</param>
/// <param name="Disabled">Whether the rule is skipped.</param>
public sealed record RetentionRule(RetentionTemplate Template, int Parameter, RepositorySelector Repositories, TagSelector Tags, bool Disabled = false)
{
    /// <summary>Harbor's name of the template (as in the policy JSON).</summary>
    public string TemplateName => RetentionTemplates.NameOf(Template);

    /// <inheritdoc />
    public override string ToString() => Template == RetentionTemplate.Always ? TemplateName : $"{TemplateName}({Parameter})";
}

/// <summary>A retention policy: a project scope, 1–15 rules combined by OR, an optional cron schedule.</summary>
/// <param name="Project">The project (scope <c>level: project</c>): repositories under <c>Project/</c>.</param>
/// <param name="Rules">The rules.</param>
/// <param name="Schedule">The cron expression of the trigger, if scheduled.</param>
public sealed record RetentionPolicy(string Project, ImmutableArray<RetentionRule> Rules, string? Schedule = null)
{
    /// <summary>The most rules a Harbor policy may hold.</summary>
    public const int MaxRules = 15;
}

/// <summary>Harbor's template names and their parameter keys.</summary>
public static class RetentionTemplates
{
    private static readonly (RetentionTemplate Template, string Name, bool HasParameter)[] Table =
    [
        (RetentionTemplate.LatestPushedK, "latestPushedK", true),
        (RetentionTemplate.LatestPulledN, "latestPulledN", true),
        (RetentionTemplate.NDaysSinceLastPush, "nDaysSinceLastPush", true),
        (RetentionTemplate.NDaysSinceLastPull, "nDaysSinceLastPull", true),
        (RetentionTemplate.Always, "always", false),
        (RetentionTemplate.LatestActiveK, "latestActiveK", true),
        (RetentionTemplate.LastXDays, "lastXDays", true),
    ];

    /// <summary>Harbor's name of a template; it is also the key of its parameter in <c>params</c>.</summary>
    /// <param name="template">The template.</param>
    /// <returns>The name.</returns>
    public static string NameOf(RetentionTemplate template) => Array.Find(Table, t => t.Template == template).Name;

    /// <summary>Whether a template takes a parameter.</summary>
    /// <param name="template">The template.</param>
    /// <returns>Whether it does.</returns>
    public static bool HasParameter(RetentionTemplate template) => Array.Find(Table, t => t.Template == template).HasParameter;

    /// <summary>Looks a template up by Harbor's name.</summary>
    /// <param name="name">The name.</param>
    /// <param name="template">The template.</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string? name, out RetentionTemplate template)
    {
        foreach (var entry in Table)
        {
            if (string.Equals(entry.Name, name, StringComparison.Ordinal))
            {
                template = entry.Template;
                return true;
            }
        }

        template = default;
        return false;
    }

    /// <summary>The known names, for error messages.</summary>
    public static string KnownNames => string.Join(", ", Table.Select(t => t.Name));
}
