using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Scheduling;

namespace Harbor.Gc.Retention;

/// <summary>
/// The shared part of reading Harbor's retention and immutable-rule JSON: selectors, with every problem collected into a
/// list (never the first one only). Unknown fields are ignored, as Harbor's own decoder does.
/// </summary>
internal sealed class PolicyJsonReader
{
    private const string DoublestarKind = "doublestar";

    internal List<PolicyError> Errors { get; } = [];

    internal void Error(string path, string? rule, string message) => Errors.Add(new PolicyError(path, rule, message));

    internal static JsonElement? Property(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    internal string? String(JsonElement obj, string name, string path, string? rule, bool required)
    {
        var value = Property(obj, name);
        if (value is null)
        {
            if (required)
            {
                Error($"{path}.{name}", rule, "missing");
            }

            return null;
        }

        if (value.Value.ValueKind != JsonValueKind.String)
        {
            Error($"{path}.{name}", rule, $"expected a string, found {Kind(value.Value)}");
            return null;
        }

        return value.Value.GetString();
    }

    internal bool Bool(JsonElement obj, string name, string path, string? rule)
    {
        var value = Property(obj, name);
        switch (value?.ValueKind)
        {
            case null:
                return false;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                Error($"{path}.{name}", rule, $"expected true or false, found {Kind(value.Value)}");
                return false;
        }
    }

    /// <summary>Reads <c>scope_selectors.repository</c>: exactly one doublestar repository selector.</summary>
    internal RepositorySelector? RepositorySelector(JsonElement rule, string path, string ruleName)
    {
        var scopes = Property(rule, "scope_selectors");
        var list = scopes is { ValueKind: JsonValueKind.Object } s ? Property(s, "repository") : null;
        if (!Single(list, $"{path}.scope_selectors.repository", ruleName, "repository", out var selector, out var selectorPath))
        {
            return null;
        }

        var decoration = Decoration(selector, selectorPath, ruleName, "repoMatches", "repoExcludes");
        var pattern = Pattern(selector, selectorPath, ruleName);
        return decoration is { } d && pattern is not null ? new RepositorySelector(d, pattern) : null;
    }

    /// <summary>Reads <c>tag_selectors</c>: exactly one doublestar tag selector with its <c>extras</c>.</summary>
    internal TagSelector? TagSelector(JsonElement rule, string path, string ruleName)
    {
        if (!Single(Property(rule, "tag_selectors"), $"{path}.tag_selectors", ruleName, "tag", out var selector, out var selectorPath))
        {
            return null;
        }

        var decoration = Decoration(selector, selectorPath, ruleName, "matches", "excludes");
        var pattern = Pattern(selector, selectorPath, ruleName);

        // Harbor's default without extras: untagged artifacts are in a "matches" rule's scope and left out of an
        // "excludes" rule's scope; extras is a JSON string holding {"untagged": bool}. As Harbor's doublestar selector
        // (src/lib/selector/selectors/doublestar/selector.go, New) reads it, a present extras object replaces the default
        // even without "untagged": "{}" (or "null") means false.
        var untagged = decoration != SelectorDecoration.Excludes;
        var extras = String(selector, "extras", selectorPath, ruleName, required: false);
        if (!string.IsNullOrEmpty(extras))
        {
            try
            {
                using var doc = JsonDocument.Parse(extras);
                if (doc.RootElement.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
                {
                    Error($"{selectorPath}.extras", ruleName, $"not a JSON object string (found {Kind(doc.RootElement)})");
                }
                else if (Property(doc.RootElement, "untagged") is not { } flag)
                {
                    untagged = false;
                }
                else if (flag.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    untagged = flag.GetBoolean();
                }
                else
                {
                    Error($"{selectorPath}.extras", ruleName, $"'untagged' must be true or false, found {Kind(flag)}");
                }
            }
            catch (JsonException e)
            {
                Error($"{selectorPath}.extras", ruleName, $"not a JSON object string ({e.Message})");
            }
        }

        return decoration is { } d && pattern is not null ? new TagSelector(d, pattern, untagged) : null;
    }

    internal string? Cron(string? cron, string path)
    {
        if (string.IsNullOrWhiteSpace(cron))
        {
            return null;
        }

        var problem = ValidateCron(cron);
        if (problem is not null)
        {
            Error(path, null, problem);
        }

        return cron;
    }

    /// <summary>Validates a cron expression: Harbor's six fields (with seconds), five fields, or a macro such as <c>@daily</c>.</summary>
    internal static string? ValidateCron(string cron) => CronSchedule.TryParse(cron, out _) is { } problem ? $"bad cron: {problem}" : null;

    /// <summary>Parses a document, turning malformed JSON into a <see cref="PolicyException"/> that gives the line.</summary>
    internal static JsonDocument ParseDocument(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new PolicyException(source, [new PolicyError($"line {e.LineNumber + 1}", null, $"not valid JSON: {e.Message}")]);
        }
    }

    internal static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string \"{value.GetString()}\"",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => "null",
    };

    internal static string RuleName(int index, string? template) =>
        string.Create(CultureInfo.InvariantCulture, $"rule {index + 1} ({template ?? "no template"})");

    /// <summary>A selector list must hold exactly one selector (Harbor's UI and API build one per rule).</summary>
    private bool Single(JsonElement? list, string listPath, string rule, string what, out JsonElement selector, out string selectorPath)
    {
        selector = default;
        selectorPath = $"{listPath}[0]";
        if (list is not { ValueKind: JsonValueKind.Array } array || array.GetArrayLength() == 0)
        {
            Error(listPath, rule, $"missing: a rule needs one {what} selector");
            return false;
        }

        if (array.GetArrayLength() > 1)
        {
            Error(listPath, rule, string.Create(CultureInfo.InvariantCulture, $"{array.GetArrayLength()} {what} selectors; Harbor allows one per rule"));
            return false;
        }

        selector = array[0];
        return true;
    }

    private SelectorDecoration? Decoration(JsonElement selector, string path, string rule, string matches, string excludes)
    {
        var kind = String(selector, "kind", path, rule, required: true);
        if (kind is not null && !string.Equals(kind, DoublestarKind, StringComparison.Ordinal))
        {
            Error($"{path}.kind", rule, $"unknown selector kind '{kind}' (only '{DoublestarKind}' exists)");
        }

        var decoration = String(selector, "decoration", path, rule, required: true);
        if (decoration is null)
        {
            return null;
        }

        if (string.Equals(decoration, matches, StringComparison.Ordinal))
        {
            return SelectorDecoration.Matches;
        }

        if (string.Equals(decoration, excludes, StringComparison.Ordinal))
        {
            return SelectorDecoration.Excludes;
        }

        Error($"{path}.decoration", rule, $"unknown decoration '{decoration}' (expected '{matches}' or '{excludes}')");
        return null;
    }

    private DoublestarPattern? Pattern(JsonElement selector, string path, string rule)
    {
        var pattern = String(selector, "pattern", path, rule, required: false) ?? string.Empty;
        var problem = DoublestarPattern.Validate(pattern);
        if (problem is not null)
        {
            Error($"{path}.pattern", rule, $"bad doublestar pattern '{pattern}': {problem}");
            return null;
        }

        return DoublestarPattern.Parse(pattern);
    }
}
