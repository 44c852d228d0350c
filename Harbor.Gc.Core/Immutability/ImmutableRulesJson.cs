using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Immutability;

/// <summary>
/// Reads Harbor's immutable tag rules as its API returns them (<c>GET /projects/{name}/immutabletagrules</c>): a JSON array of
/// <c>{"disabled", "action": "immutable", "template": "immutable_template", "tag_selectors", "scope_selectors"}</c>. The
/// project comes either from the caller (a bare array) or from a wrapper <c>{"project": "library", "rules": [...]}</c>; a
/// file may also hold an array of such wrappers, one per project. Every problem is collected, with its JSON path.
/// </summary>
public static class ImmutableRulesJson
{
    /// <summary>Parses a rule file.</summary>
    /// <param name="json">The JSON.</param>
    /// <param name="project">The project of a bare array of rules.</param>
    /// <param name="source">What was read, for messages.</param>
    /// <returns>The rules.</returns>
    /// <exception cref="PolicyException">The file is malformed or invalid; every problem is listed.</exception>
    public static ImmutabilityRules Parse(string json, string? project = null, string source = "immutable rules")
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new PolicyJsonReader();
        var doc = PolicyJsonReader.ParseDocument(json, source);

        var rules = new List<ImmutableTagRule>();
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                ReadSet(reader, root, "$", rules);
            }
            else if (root.ValueKind == JsonValueKind.Array && root.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("rules", out _)))
            {
                var i = 0;
                foreach (var set in root.EnumerateArray())
                {
                    ReadSet(reader, set, string.Create(CultureInfo.InvariantCulture, $"$[{i++}]"), rules);
                }
            }
            else if (root.ValueKind == JsonValueKind.Array)
            {
                if (string.IsNullOrWhiteSpace(project))
                {
                    reader.Error("$", null, "a bare array of rules needs its project: give one, or wrap the rules as {\"project\": …, \"rules\": […]}");
                }
                else
                {
                    ReadRules(reader, root, "$", project, rules);
                }
            }
            else
            {
                reader.Error("$", null, $"expected an array of immutable tag rules, found {PolicyJsonReader.Kind(root)}");
            }
        }

        return reader.Errors.Count > 0 ? throw new PolicyException(source, reader.Errors) : new ImmutabilityRules(rules);
    }

    private static void ReadSet(PolicyJsonReader reader, JsonElement set, string path, List<ImmutableTagRule> rules)
    {
        var project = reader.String(set, "project", path, null, required: true);
        if (PolicyJsonReader.Property(set, "rules") is not { ValueKind: JsonValueKind.Array } array)
        {
            reader.Error($"{path}.rules", null, "missing: an array of immutable tag rules");
            return;
        }

        if (project is not null)
        {
            ReadRules(reader, array, $"{path}.rules", project, rules);
        }
    }

    private static void ReadRules(PolicyJsonReader reader, JsonElement array, string path, string project, List<ImmutableTagRule> rules)
    {
        var index = 0;
        foreach (var rule in array.EnumerateArray())
        {
            var rulePath = string.Create(CultureInfo.InvariantCulture, $"{path}[{index}]");
            var template = rule.ValueKind == JsonValueKind.Object ? reader.String(rule, "template", rulePath, null, required: false) : null;
            var name = string.Create(CultureInfo.InvariantCulture, $"immutable rule {index + 1} of project {project}");
            if (rule.ValueKind != JsonValueKind.Object)
            {
                reader.Error(rulePath, name, $"expected a rule object, found {PolicyJsonReader.Kind(rule)}");
                index++;
                continue;
            }

            if (template is not null && !string.Equals(template, "immutable_template", StringComparison.Ordinal))
            {
                reader.Error($"{rulePath}.template", name, $"unknown template '{template}' (expected 'immutable_template')");
            }

            var action = reader.String(rule, "action", rulePath, name, required: false);
            if (action is not null && !string.Equals(action, "immutable", StringComparison.Ordinal))
            {
                reader.Error($"{rulePath}.action", name, $"unknown action '{action}' (expected 'immutable')");
            }

            var disabled = reader.Bool(rule, "disabled", rulePath, name);
            var repositories = reader.RepositorySelector(rule, rulePath, name);
            var tags = reader.TagSelector(rule, rulePath, name);
            if (repositories is not null && tags is not null)
            {
                rules.Add(new ImmutableTagRule(project, index, repositories, tags, disabled));
            }

            index++;
        }
    }
}
