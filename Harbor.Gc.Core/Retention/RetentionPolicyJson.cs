using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace Harbor.Gc.Retention;

/// <summary>
/// Reads Harbor's own retention policy JSON (as its API returns and exports it) into a <see cref="RetentionPolicy"/>, and
/// validates typed policies. Every problem is collected and reported at once, each with its JSON path and the rule (index
/// and template) it concerns.
/// </summary>
public static class RetentionPolicyJson
{
    /// <summary>Parses and validates a policy.</summary>
    /// <param name="json">Harbor's retention policy JSON.</param>
    /// <param name="source">What was read, for messages (a file name).</param>
    /// <param name="projectIds">Harbor's numeric project ids to names, for a <c>scope.ref</c> that is a number.</param>
    /// <returns>The policy.</returns>
    /// <exception cref="PolicyException">The policy is malformed or invalid; every problem is listed.</exception>
    public static RetentionPolicy Parse(string json, string source = "policy", IReadOnlyDictionary<long, string>? projectIds = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new PolicyJsonReader();
        var doc = PolicyJsonReader.ParseDocument(json, source);

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new PolicyException(source, [new PolicyError("$", null, $"expected a policy object, found {PolicyJsonReader.Kind(root)}")]);
            }

            var algorithm = reader.String(root, "algorithm", "$", null, required: false);
            if (algorithm is not null && !string.Equals(algorithm, "or", StringComparison.Ordinal))
            {
                reader.Error("$.algorithm", null, $"unknown algorithm '{algorithm}' (Harbor knows only 'or')");
            }

            var project = Scope(reader, root, projectIds);
            var rules = Rules(reader, root);
            var cron = Trigger(reader, root);
            if (reader.Errors.Count > 0)
            {
                throw new PolicyException(source, reader.Errors);
            }

            return new RetentionPolicy(project!, rules, cron);
        }
    }

    /// <summary>Validates a policy built in code: rule count, parameters, schedule.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns>Every problem found (empty when the policy is valid).</returns>
    public static IReadOnlyList<PolicyError> Validate(RetentionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var reader = new PolicyJsonReader();
        if (string.IsNullOrWhiteSpace(policy.Project))
        {
            reader.Error("$.scope.ref", null, "missing: the project the policy applies to");
        }

        CheckRuleCount(reader, policy.Rules.IsDefault ? 0 : policy.Rules.Length);
        for (var i = 0; !policy.Rules.IsDefault && i < policy.Rules.Length; i++)
        {
            var rule = policy.Rules[i];
            if (RetentionTemplates.HasParameter(rule.Template) && rule.Parameter < 0)
            {
                reader.Error($"$.rules[{i}].params.{rule.TemplateName}", PolicyJsonReader.RuleName(i, rule.TemplateName), $"must be 0 or more, found {rule.Parameter}");
            }
        }

        reader.Cron(policy.Schedule, "$.trigger.settings.cron");
        return reader.Errors;
    }

    private static string? Scope(PolicyJsonReader reader, JsonElement root, IReadOnlyDictionary<long, string>? projectIds)
    {
        if (PolicyJsonReader.Property(root, "scope") is not { ValueKind: JsonValueKind.Object } scope)
        {
            reader.Error("$.scope", null, "missing: {\"level\": \"project\", \"ref\": <project>}");
            return null;
        }

        var level = reader.String(scope, "level", "$.scope", null, required: true);
        if (level is not null && !string.Equals(level, "project", StringComparison.Ordinal))
        {
            reader.Error("$.scope.level", null, $"unknown scope level '{level}' (only 'project' exists)");
        }

        switch (PolicyJsonReader.Property(scope, "ref"))
        {
            case { ValueKind: JsonValueKind.String } name when !string.IsNullOrWhiteSpace(name.GetString()):
                return name.GetString();
            case { ValueKind: JsonValueKind.Number } id when id.TryGetInt64(out var number):
                if (projectIds is not null && projectIds.TryGetValue(number, out var mapped))
                {
                    return mapped;
                }

                reader.Error("$.scope.ref", null, string.Create(CultureInfo.InvariantCulture, $"project id {number} has no name: give the project's name, or map the id to it (harbor-gc: --project-id {number}=NAME; a daemon job: \"projectIds\": {{\"{number}\": \"NAME\"}})"));
                return null;
            case null:
                reader.Error("$.scope.ref", null, "missing: the project the policy applies to");
                return null;
            case { } other:
                reader.Error("$.scope.ref", null, $"expected a project name or id, found {PolicyJsonReader.Kind(other)}");
                return null;
        }
    }

    private static ImmutableArray<RetentionRule> Rules(PolicyJsonReader reader, JsonElement root)
    {
        if (PolicyJsonReader.Property(root, "rules") is not { ValueKind: JsonValueKind.Array } rules)
        {
            reader.Error("$.rules", null, "missing: a policy needs 1 to 15 rules");
            return [];
        }

        CheckRuleCount(reader, rules.GetArrayLength());
        var result = ImmutableArray.CreateBuilder<RetentionRule>();
        var index = 0;
        foreach (var rule in rules.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"$.rules[{index}]");
            if (rule.ValueKind != JsonValueKind.Object)
            {
                reader.Error(path, PolicyJsonReader.RuleName(index, null), $"expected a rule object, found {PolicyJsonReader.Kind(rule)}");
                index++;
                continue;
            }

            var templateName = reader.String(rule, "template", path, PolicyJsonReader.RuleName(index, null), required: true);
            var name = PolicyJsonReader.RuleName(index, templateName);
            var disabled = reader.Bool(rule, "disabled", path, name);
            var action = reader.String(rule, "action", path, name, required: false);
            if (action is not null && !string.Equals(action, "retain", StringComparison.Ordinal))
            {
                reader.Error($"{path}.action", name, $"unknown action '{action}' (Harbor knows only 'retain')");
            }

            RetentionTemplate? template = null;
            if (templateName is not null)
            {
                if (RetentionTemplates.TryParse(templateName, out var t))
                {
                    template = t;
                }
                else
                {
                    reader.Error($"{path}.template", name, $"unknown template '{templateName}' (known: {RetentionTemplates.KnownNames})");
                }
            }

            var parameter = template is { } known ? Parameter(reader, rule, path, name, known) : null;
            var repositories = reader.RepositorySelector(rule, path, name);
            var tags = reader.TagSelector(rule, path, name);
            if (template is { } tt && parameter is { } p && repositories is not null && tags is not null)
            {
                result.Add(new RetentionRule(tt, p, repositories, tags, disabled));
            }

            index++;
        }

        return result.ToImmutable();
    }

    private static int? Parameter(PolicyJsonReader reader, JsonElement rule, string path, string name, RetentionTemplate template)
    {
        if (!RetentionTemplates.HasParameter(template))
        {
            return 0;
        }

        // Harbor keys a template's parameter by the template's own name: {"latestPushedK": 3}.
        var key = RetentionTemplates.NameOf(template);
        var paramPath = $"{path}.params.{key}";
        var value = PolicyJsonReader.Property(rule, "params") is { } parameters ? PolicyJsonReader.Property(parameters, key) : null;
        long number;
        switch (value)
        {
            case null:
                reader.Error(paramPath, name, "missing");
                return null;
            case { ValueKind: JsonValueKind.Number } n when n.TryGetInt64(out number):
                break;
            case { ValueKind: JsonValueKind.String } s when long.TryParse(s.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number):
                break;
            case { } other:
                reader.Error(paramPath, name, $"expected a whole number, found {PolicyJsonReader.Kind(other)}");
                return null;
        }

        if (number < 0)
        {
            reader.Error(paramPath, name, string.Create(CultureInfo.InvariantCulture, $"must be 0 or more, found {number}"));
            return null;
        }

        if (number > int.MaxValue)
        {
            reader.Error(paramPath, name, string.Create(CultureInfo.InvariantCulture, $"too large: {number}"));
            return null;
        }

        return (int)number;
    }

    private static string? Trigger(PolicyJsonReader reader, JsonElement root)
    {
        if (PolicyJsonReader.Property(root, "trigger") is not { ValueKind: JsonValueKind.Object } trigger)
        {
            return null;
        }

        var settings = PolicyJsonReader.Property(trigger, "settings");
        var cron = settings is { ValueKind: JsonValueKind.Object } s ? reader.String(s, "cron", "$.trigger.settings", null, required: false) : null;
        return reader.Cron(cron, "$.trigger.settings.cron");
    }

    private static void CheckRuleCount(PolicyJsonReader reader, int count)
    {
        if (count == 0)
        {
            reader.Error("$.rules", null, "no rules: a policy needs 1 to 15");
        }
        else if (count > RetentionPolicy.MaxRules)
        {
            reader.Error("$.rules", null, string.Create(CultureInfo.InvariantCulture, $"{count} rules: Harbor allows at most {RetentionPolicy.MaxRules}"));
        }
    }
}
