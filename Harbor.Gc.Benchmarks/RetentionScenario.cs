using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage.InMemory;

namespace Harbor.Gc.Benchmarks;

/// <summary>
/// The retention benchmark's registry and policy: <see cref="RegistryGenerator"/> (seed 42) with every repository in one project
/// (<c>proj/release/appN</c> for every tenth, <c>proj/teamM/appN</c> for the others) and 60% of artifacts pulled, and a policy of
/// five rules as a Harbor project would have them.
/// </summary>
public static class RetentionScenario
{
    /// <summary>The evaluation's "now" (and the generator's).</summary>
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The policy, in Harbor's JSON: keep the 10 most recently pushed tagged artifacts; keep anything pulled within 30 days (untagged
    /// too); always keep every tagged artifact of <c>release/**</c>; outside <c>release/**</c>, keep the 3 most recently pulled whose
    /// tags are not all <c>v1*</c>; in <c>team{1,2,3}/**</c>, keep what was pushed within 14 days, untagged too.
    /// </summary>
    public const string PolicyJson = """
        {
          "algorithm": "or",
          "rules": [
            { "action": "retain", "template": "latestPushedK", "params": { "latestPushedK": 10 },
              "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":false}" } ],
              "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
            { "action": "retain", "template": "nDaysSinceLastPull", "params": { "nDaysSinceLastPull": 30 },
              "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}" } ],
              "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "**" } ] } },
            { "action": "retain", "template": "always", "params": {},
              "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":false}" } ],
              "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "release/**" } ] } },
            { "action": "retain", "template": "latestPulledN", "params": { "latestPulledN": 3 },
              "tag_selectors": [ { "kind": "doublestar", "decoration": "excludes", "pattern": "v1*" } ],
              "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoExcludes", "pattern": "release/**" } ] } },
            { "action": "retain", "template": "nDaysSinceLastPush", "params": { "nDaysSinceLastPush": 14 },
              "tag_selectors": [ { "kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}" } ],
              "scope_selectors": { "repository": [ { "kind": "doublestar", "decoration": "repoMatches", "pattern": "team{1,2,3}/**" } ] } }
          ],
          "trigger": { "kind": "Schedule", "settings": { "cron": "0 0 0 * * *" } },
          "scope": { "level": "project", "ref": "proj" }
        }
        """;

    /// <summary>The policy, parsed.</summary>
    public static RetentionPolicy Policy() => RetentionPolicyJson.Parse(PolicyJson, "benchmark policy");

    /// <summary>Generates the registry: <paramref name="artifacts"/> artifacts in <paramref name="artifacts"/> / 100 repositories.</summary>
    public static (InMemoryRegistryStore Store, RegistryGenerator Generator) Generate(int artifacts)
    {
        var generator = new RegistryGenerator(seed: 42)
        {
            PulledFraction = 0.6,
            RepositoryNames = r => RepositoryName.Parse(r % 10 == 0 ? $"proj/release/app{r}" : $"proj/team{r % 20}/app{r}"),
        };
        return (generator.Generate(artifacts, Now), generator);
    }
}
