using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>The immutable-tag rules the registry-facing API consults before it moves or deletes a tag or deletes an artifact (DESIGN.md §7).</summary>
/// <remarks>
/// Only user tags are ever passed: a cosign tag-scheme tag naming an accessory (<c>sha256-&lt;hex&gt;.sig</c>) is not, as its
/// immutability comes from its subject. An implementation evaluates Harbor's immutable tag rules (repository and tag selectors,
/// disabled rules skipped).
/// </remarks>
public interface ITagImmutability
{
    /// <summary>The rule that makes a tag immutable.</summary>
    /// <param name="repository">The repository.</param>
    /// <param name="tag">The tag (a user tag).</param>
    /// <returns>A description of the first enabled rule matching the tag, for error messages; <see langword="null"/> when the tag is mutable.</returns>
    string? FindRule(RepositoryName repository, string tag);
}
