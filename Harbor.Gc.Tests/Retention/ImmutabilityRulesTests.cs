using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Tests.Retention;

/// <summary>Harbor's immutable tag rules (DESIGN.md §7), read from the JSON Harbor's API returns.</summary>
public sealed class ImmutabilityRulesTests
{
    /// <summary>As <c>GET /api/v2.0/projects/library/immutabletagrules</c> returns them.</summary>
    private const string HarborRules = """
    [
      {"id": 1, "project_id": 1, "disabled": false, "priority": 0, "action": "immutable", "template": "immutable_template",
       "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "{v*,release-*}"}],
       "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "team/**"}]}},
      {"id": 2, "project_id": 1, "disabled": true, "priority": 0, "action": "immutable", "template": "immutable_template",
       "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
       "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}},
      {"id": 3, "project_id": 1, "disabled": false, "priority": 0, "action": "immutable", "template": "immutable_template",
       "tag_selectors": [{"kind": "doublestar", "decoration": "excludes", "pattern": "dev-*"}],
       "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "base"}]}}
    ]
    """;

    private static readonly ImmutabilityRules Rules = ImmutableRulesJson.Parse(HarborRules, "library");

    [TestCase("library/team/api", "v1.2", true)]
    [TestCase("library/team/api", "release-3", true)]
    [TestCase("library/team/api", "latest", false, TestName = "Given_a_tag_no_enabled_rule_matches_then_it_is_mutable_even_though_a_disabled_catch_all_exists")]
    [TestCase("library/other", "v1", false)]
    [TestCase("other/team/api", "v1", false, TestName = "Given_another_project_then_its_rules_do_not_apply")]
    [TestCase("library/base", "stable", true, TestName = "Given_an_excludes_rule_then_a_tag_it_does_not_exclude_is_immutable")]
    [TestCase("library/base", "dev-1", false)]
    public void Given_Harbors_rules_when_a_tag_is_checked_then_immutability_follows_the_enabled_rules(string repository, string tag, bool expected) =>
        Rules.IsImmutable(RepositoryName.Parse(repository), tag).Should().Be(expected);

    // goharbor/harbor#18014: a cosign tag-scheme tag is the accessory's name, never matched by a rule.
    [Test]
    public void Given_a_catch_all_rule_when_a_tag_scheme_tag_is_checked_then_it_is_never_immutable()
    {
        var rules = new ImmutabilityRules([new ImmutableTagRule("library", 0, RepositorySelector.Matching("**"), TagSelector.Matching("**"))]);
        var sig = "sha256-" + new string('a', 64) + ".sig";

        rules.IsImmutable(RepositoryName.Parse("library/app"), sig).Should().BeFalse();
        rules.IsImmutable(RepositoryName.Parse("library/app"), "anything").Should().BeTrue();
    }

    // goharbor/harbor#16335: an excludes rule does not make an untagged artifact immutable.
    [Test]
    public void Given_an_excludes_rule_when_an_artifact_has_no_tags_then_it_is_not_immutable() =>
        Rules.FindImmutableTag(RepositoryName.Parse("library/base"), []).Should().BeNull();

    [Test]
    public void Given_an_immutable_tag_when_the_rule_is_looked_up_then_the_message_names_the_rule_and_project()
    {
        var hit = Rules.FindImmutableTag(RepositoryName.Parse("library/team/api"), ["latest", "v2"]);
        hit.Should().NotBeNull();
        hit!.Value.Tag.Should().Be("v2");
        hit.Value.Rule.ToString().Should().Be("immutable rule 1 of project library (repository matches 'team/**', tag matches '{v*,release-*}')");
    }

    [Test]
    public void Given_rule_sets_wrapped_with_their_projects_when_parsed_then_each_applies_to_its_project()
    {
        var json = $$"""[{"project": "library", "rules": {{HarborRules}}}, {"project": "team", "rules": []}]""";
        var rules = ImmutableRulesJson.Parse(json);
        rules.Rules.Should().HaveCount(3).And.OnlyContain(r => r.Project == "library");
        rules.IsImmutable(RepositoryName.Parse("library/team/x"), "v1").Should().BeTrue();
    }

    [Test]
    public void Given_a_bare_array_without_a_project_when_parsed_then_the_error_says_a_project_is_needed()
    {
        var parse = () => ImmutableRulesJson.Parse(HarborRules);
        parse.Should().Throw<PolicyException>().Which.Errors.Should().ContainSingle().Which.Message.Should().Contain("needs its project");
    }

    [Test]
    public void Given_bad_rules_when_parsed_then_every_error_names_the_rule_and_path()
    {
        const string json = """
        [
          {"action": "retain", "template": "immutable_template",
           "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "{a"}],
           "scope_selectors": {"repository": [{"kind": "regex", "decoration": "repoMatches", "pattern": "**"}]}},
          {"template": "other", "tag_selectors": [],
           "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}
        ]
        """;
        var parse = () => ImmutableRulesJson.Parse(json, "library");
        parse.Should().Throw<PolicyException>().Which.Errors.Select(e => (e.Path, e.Rule)).Should().BeEquivalentTo(new (string, string?)[]
        {
            ("$[0].action", "immutable rule 1 of project library"),
            ("$[0].scope_selectors.repository[0].kind", "immutable rule 1 of project library"),
            ("$[0].tag_selectors[0].pattern", "immutable rule 1 of project library"),
            ("$[1].template", "immutable rule 2 of project library"),
            ("$[1].tag_selectors", "immutable rule 2 of project library"),
        });
    }
}
