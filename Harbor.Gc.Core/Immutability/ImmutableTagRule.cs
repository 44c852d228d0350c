using Harbor.Gc.Retention;

namespace Harbor.Gc.Immutability;

/// <summary>One of Harbor's immutable tag rules (DESIGN.md §7).</summary>
/// <param name="Project">The project the rule belongs to.</param>
/// <param name="Index">The rule's position in its rule set (0-based), for messages.</param>
/// <param name="Repositories">The repository selector (over the repository path below the project).</param>
/// <param name="Tags">The tag selector; its untagged flag is ignored: untagged artifacts are never immutable.</param>
/// <param name="Disabled">Whether the rule is skipped.</param>
public sealed record ImmutableTagRule(string Project, int Index, RepositorySelector Repositories, TagSelector Tags, bool Disabled = false)
{
    /// <summary>Whether this rule makes <paramref name="tag"/> in a repository with path <paramref name="repositoryPath"/> immutable.</summary>
    /// <param name="repositoryPath">The repository path below the project.</param>
    /// <param name="tag">A user tag.</param>
    /// <returns>Whether it does.</returns>
    public bool Matches(string repositoryPath, string tag) =>
        !Disabled && Repositories.Selects(repositoryPath) && Tags.Pattern.IsMatch(tag) == (Tags.Decoration == SelectorDecoration.Matches);

    /// <inheritdoc />
    public override string ToString() =>
        $"immutable rule {Index + 1} of project {Project} (repository {Describe(Repositories.Decoration, Repositories.Pattern)}, tag {Describe(Tags.Decoration, Tags.Pattern)})";

    private static string Describe(SelectorDecoration decoration, DoublestarPattern pattern) =>
        $"{(decoration == SelectorDecoration.Matches ? "matches" : "excludes")} '{pattern}'";
}
