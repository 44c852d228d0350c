using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Registry;

/// <summary>The registry API enforcing rules read from Harbor's immutable-rule JSON (DESIGN.md §7), over both stores.</summary>
public class RegistryApiHarborRulesTests(StoreKind kind) : RegistryApiFixture(kind)
{
    /// <summary>As <c>GET /api/v2.0/projects/library/immutabletagrules</c> returns it: <c>v*</c> tags of every repository.</summary>
    private const string HarborRules = """
    [{"id": 7, "project_id": 1, "disabled": false, "priority": 0, "action": "immutable", "template": "immutable_template",
      "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
      "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}]
    """;

    internal override ITagImmutability Immutability { get; } = ImmutableRulesJson.Parse(HarborRules, "library");

    [Test]
    public async Task GivenHarborsRuleOnV_Tags_WhenV1IsMovedOrItsImageDeleted_ThenRefusedNamingTheRule_WhileLatestMoves()
    {
        // given the API with Harbor's rule "v* in every repository of library", and v1 and latest on one image
        var first = await PushImage("v1");
        await Api.TagAsync(Repo, "latest", first.Digest);
        var second = await PushImage("latest");

        // when v1 is moved to the second image, and the first image is deleted
        var move = async () => await Api.TagAsync(Repo, "v1", second.Digest);
        var delete = async () => await Api.DeleteArtifactAsync(new ArtifactKey(Repo, first.Digest));

        // then both are refused naming Harbor's rule, and latest (no rule matches it) moved freely
        (await move.Should().ThrowAsync<ImmutableTagException>()).Which.Rule.Should().Be("immutable rule 1 of project library (repository matches '**', tag matches 'v*')");
        (await delete.Should().ThrowAsync<ImmutableTagException>()).Which.Tag.Should().Be("v1");
        Store.GetTags().Select(t => (t.Name, t.Digest)).Should().BeEquivalentTo([("v1", first.Digest), ("latest", second.Digest)]);
    }
}
