using Harbor.Gc.Retention;

namespace Harbor.Gc.Tests.Retention;

/// <summary>Harbor's retention policy JSON, as Harbor's API returns it (src/pkg/retention/policy/models.go shape).</summary>
public sealed class RetentionPolicyJsonTests
{
    /// <summary>A policy as Harbor exports it: ids, priorities, a numeric scope ref, trigger references, timestamps.</summary>
    internal const string HarborExport = """
    {
      "id": 3,
      "algorithm": "or",
      "rules": [
        {
          "id": 1, "priority": 1, "disabled": false, "action": "retain", "template": "latestPushedK",
          "params": { "latestPushedK": 10 },
          "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}" } ],
          "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] }
        },
        {
          "id": 2, "priority": 2, "disabled": true, "action": "retain", "template": "nDaysSinceLastPull",
          "params": { "nDaysSinceLastPull": 7 },
          "tag_selectors": [ { "kind": "doublestar", "decoration": "excludes", "pattern": "{dev,test}-*", "extras": "{\"untagged\":false}" } ],
          "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoExcludes", "pattern": "tmp/**" } ] }
        },
        {
          "id": 3, "priority": 3, "disabled": false, "action": "retain", "template": "always", "params": {},
          "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "release-*" } ],
          "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] }
        }
      ],
      "trigger": { "kind": "Schedule", "settings": { "cron": "0 0 0 * * *" }, "references": { "job_id": "5" } },
      "scope": { "level": "project", "ref": 7 },
      "creation_time": "2024-05-01T10:00:00Z",
      "update_time": "2024-05-02T10:00:00Z"
    }
    """;

    [Test]
    public void Given_a_policy_exported_from_Harbor_when_parsed_then_it_loads_unchanged()
    {
        var policy = RetentionPolicyJson.Parse(HarborExport, projectIds: new Dictionary<long, string> { [7] = "library" });

        policy.Project.Should().Be("library");
        policy.Schedule.Should().Be("0 0 0 * * *");
        policy.Rules.Should().HaveCount(3);
        policy.Rules[0].Should().Match<RetentionRule>(r => r.Template == RetentionTemplate.LatestPushedK && r.Parameter == 10 && !r.Disabled);
        policy.Rules[0].Tags.Untagged.Should().BeTrue();
        policy.Rules[1].Disabled.Should().BeTrue();
        policy.Rules[1].Tags.Decoration.Should().Be(SelectorDecoration.Excludes);
        policy.Rules[1].Repositories.Decoration.Should().Be(SelectorDecoration.Excludes);
        policy.Rules[2].Template.Should().Be(RetentionTemplate.Always);
        policy.Rules[2].Tags.Untagged.Should().BeTrue("Harbor's default without extras for 'matches' keeps untagged in scope");
    }

    [Test]
    public void Given_scope_ref_as_a_name_when_parsed_then_no_mapping_is_needed() =>
        RetentionPolicyJson.Parse(HarborExport.Replace("\"ref\": 7", "\"ref\": \"team\"", StringComparison.Ordinal)).Project.Should().Be("team");

    [TestCase("latestPulledN")]
    [TestCase("nDaysSinceLastPush")]
    [TestCase("latestActiveK")]
    [TestCase("lastXDays")]
    public void Given_each_parameterised_template_when_its_param_is_keyed_by_its_name_then_it_loads(string template)
    {
        var policy = RetentionPolicyJson.Parse(Policy(Rule(template, $"{{\"{template}\": \"4\"}}")));
        policy.Rules[0].TemplateName.Should().Be(template);
        policy.Rules[0].Parameter.Should().Be(4, "Harbor's UI may send the number as a string");
    }

    [TestCase("0 0 0 * * *")]
    [TestCase("0 */2 * * *")]
    [TestCase("@hourly")]
    [TestCase("@daily")]
    [TestCase("@weekly")]
    public void Given_a_cron_in_a_form_Harbor_or_cron_accepts_when_parsed_then_it_loads(string cron) =>
        RetentionPolicyJson.Parse(Policy(Rule("always", "{}"), cron)).Schedule.Should().Be(cron);

    [TestCase("0 0 0 * * 9", "$.trigger.settings.cron", "bad cron")]
    [TestCase("61 * * * *", "$.trigger.settings.cron", "bad cron")]
    [TestCase("* * *", "$.trigger.settings.cron", "3 fields")]
    public void Given_a_bad_cron_when_parsed_then_the_error_names_the_field(string cron, string path, string message)
    {
        var errors = Errors(Policy(Rule("always", "{}"), cron));
        errors.Should().ContainSingle().Which.Should().Match<PolicyError>(e => e.Path == path && e.Message.Contains(message));
    }

    [Test]
    public void Given_every_kind_of_rule_error_when_parsed_then_all_are_reported_at_once_with_rule_and_path()
    {
        var json = Policy(
            Rule("latestPushedK", "{\"latestPushedK\": -1}"),
            Rule("newestK", "{}"),
            Rule("nDaysSinceLastPush", "{\"nDaysSinceLastPush\": -3}"),
            Rule("latestPulledN", "{}"),
            Rule("always", "{}", tagKind: "regex"),
            Rule("always", "{}", tagDecoration: "contains"),
            Rule("always", "{}", tagPattern: "[abc"),
            Rule("always", "{}", repoDecoration: "matches"),
            Rule("latestActiveK", "{\"latestActiveK\": \"many\"}"));

        var errors = Errors(json);

        var expected = new[]
        {
            ("$.rules[0].params.latestPushedK", "rule 1 (latestPushedK)", "must be 0 or more"),
            ("$.rules[1].template", "rule 2 (newestK)", "unknown template 'newestK'"),
            ("$.rules[2].params.nDaysSinceLastPush", "rule 3 (nDaysSinceLastPush)", "must be 0 or more"),
            ("$.rules[3].params.latestPulledN", "rule 4 (latestPulledN)", "missing"),
            ("$.rules[4].tag_selectors[0].kind", "rule 5 (always)", "unknown selector kind 'regex'"),
            ("$.rules[5].tag_selectors[0].decoration", "rule 6 (always)", "unknown decoration 'contains'"),
            ("$.rules[6].tag_selectors[0].pattern", "rule 7 (always)", "bad doublestar pattern '[abc'"),
            ("$.rules[7].scope_selectors.repository[0].decoration", "rule 8 (always)", "unknown decoration 'matches'"),
            ("$.rules[8].params.latestActiveK", "rule 9 (latestActiveK)", "expected a whole number"),
        };
        errors.Select(e => (e.Path, e.Rule)).Should().Equal(expected.Select(x => (x.Item1, (string?)x.Item2)));
        for (var i = 0; i < expected.Length; i++)
        {
            errors[i].Message.Should().StartWith(expected[i].Item3);
        }
    }

    [Test]
    public void Given_more_than_15_rules_when_parsed_then_the_error_says_Harbors_limit()
    {
        var rules = Enumerable.Repeat(Rule("always", "{}"), 16).ToArray();
        Errors(Policy(rules)).Should().ContainSingle().Which.Should().Match<PolicyError>(e => e.Path == "$.rules" && e.Message.Contains("at most 15"));
    }

    [Test]
    public void Given_no_rules_when_parsed_then_it_is_an_error() =>
        Errors(Policy()).Should().ContainSingle().Which.Message.Should().Contain("no rules");

    [TestCase("{\"level\": \"system\", \"ref\": \"x\"}", "$.scope.level", "unknown scope level")]
    [TestCase("{\"level\": \"project\"}", "$.scope.ref", "missing")]
    [TestCase("{\"level\": \"project\", \"ref\": 9}", "$.scope.ref", "project id 9 has no name")]
    public void Given_a_bad_scope_when_parsed_then_the_error_names_it(string scope, string path, string message)
    {
        var json = Policy(Rule("always", "{}")).Replace("{\"level\": \"project\", \"ref\": \"library\"}", scope, StringComparison.Ordinal);
        Errors(json).Should().ContainSingle().Which.Should().Match<PolicyError>(e => e.Path == path && e.Message.Contains(message));
    }

    // Harbor's src/lib/selector/selectors/doublestar/selector.go, New(): a non-empty extras string that unmarshals into
    // struct { Untagged bool } sets untagged to that field, so an object without "untagged" ("{}", or "null") means false;
    // only an absent or empty extras keeps the decoration's default (true for matches, false for excludes).
    [TestCase("matches", "{}", false)]
    [TestCase("matches", "null", false)]
    [TestCase("matches", "{\\\"other\\\":1}", false)]
    [TestCase("matches", "", true)]
    [TestCase("excludes", "{}", false)]
    [TestCase("excludes", "", false)]
    public void Given_extras_without_untagged_when_parsed_then_untagged_is_false_as_Harbors_doublestar_New(string decoration, string extras, bool untagged)
    {
        // Given a rule whose tag selector carries these extras
        var json = Policy(Rule("always", "{}", tagDecoration: decoration, extras: extras));

        // When it is parsed
        var policy = RetentionPolicyJson.Parse(json);

        // Then untagged is what Harbor's doublestar.New decides
        policy.Rules[0].Tags.Untagged.Should().Be(untagged);
    }

    [Test]
    public void Given_extras_that_is_not_an_object_when_parsed_then_it_is_reported()
    {
        Errors(Policy(Rule("always", "{}", extras: "[true]"))).Should().ContainSingle()
            .Which.Should().Match<PolicyError>(e => e.Path == "$.rules[0].tag_selectors[0].extras" && e.Message.Contains("not a JSON object"));
    }

    [Test]
    public void Given_bad_extras_or_algorithm_when_parsed_then_each_is_reported()
    {
        var json = Policy(Rule("always", "{}", extras: "not json")).Replace("\"or\"", "\"and\"", StringComparison.Ordinal);
        Errors(json).Select(e => e.Path).Should().BeEquivalentTo("$.algorithm", "$.rules[0].tag_selectors[0].extras");
    }

    [Test]
    public void Given_malformed_JSON_when_parsed_then_the_error_gives_the_line()
    {
        var parse = () => RetentionPolicyJson.Parse("{\n\"rules\": [", "p.json");
        parse.Should().Throw<PolicyException>().WithMessage("p.json*line*not valid JSON*");
    }

    [Test]
    public void Given_a_typed_policy_with_negative_k_and_bad_cron_when_validated_then_both_are_reported()
    {
        var policy = new RetentionPolicy(
            "library",
            [new RetentionRule(RetentionTemplate.LatestPushedK, -2, RepositorySelector.Matching("**"), TagSelector.Matching("**"))],
            "every day");
        RetentionPolicyJson.Validate(policy).Select(e => e.Path).Should().BeEquivalentTo("$.rules[0].params.latestPushedK", "$.trigger.settings.cron");
    }

    internal static string Policy(params string[] rules) => Policy(rules, "0 0 0 * * *");

    internal static string Policy(string rule, string cron) => Policy([rule], cron);

    internal static string Policy(string[] rules, string cron) =>
        "{\"algorithm\": \"or\", \"rules\": [" + string.Join(",", rules) + "], \"trigger\": {\"kind\": \"Schedule\", \"settings\": {\"cron\": \"" + cron +
        "\"}}, \"scope\": {\"level\": \"project\", \"ref\": \"library\"}}";

    internal static string Rule(
        string template,
        string parameters,
        string tagKind = "doublestar",
        string tagDecoration = "matches",
        string tagPattern = "**",
        string repoDecoration = "repoMatches",
        string extras = "{\\\"untagged\\\":true}") =>
        $$$"""
        {"disabled": false, "action": "retain", "template": "{{{template}}}", "params": {{{parameters}}},
         "tag_selectors": [{"kind": "{{{tagKind}}}", "decoration": "{{{tagDecoration}}}", "pattern": "{{{tagPattern}}}", "extras": "{{{extras}}}"}],
         "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "{{{repoDecoration}}}", "pattern": "**"}]}}
        """;

    private static IReadOnlyList<PolicyError> Errors(string json)
    {
        var parse = () => RetentionPolicyJson.Parse(json, "policy.json");
        return parse.Should().Throw<PolicyException>().Which.Errors;
    }
}
