using Harbor.Gc.Accessories;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>The registry API enforcing rules read from Harbor's immutable-rule JSON (DESIGN.md §7), over both stores.</summary>
public class RegistryApiHarborRulesTests(StoreKind kind) : StoreFixture(kind)
{
    /// <summary>As <c>GET /api/v2.0/projects/library/immutabletagrules</c> returns it: release tags of every repository.</summary>
    private const string HarborRules = """
    [{"id": 7, "project_id": 1, "disabled": false, "priority": 0, "action": "immutable", "template": "immutable_template",
      "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
      "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}]
    """;

    private static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

    [Test]
    public async Task GivenHarborsRuleOnV_Tags_WhenV1IsMovedOrItsImageDeleted_ThenRefusedNamingTheRule_WhileLatestMoves()
    {
        // given the API over a store with Harbor's rule "v* in every repository of library", and v1 and latest on one image
        using var store = Stores.Create(new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var api = new RegistryApi(store.Inner, ImmutableRulesJson.Parse(HarborRules, "library"), AccessoryClassifier.Default);
        async Task<Artifact> Push(string text, string reference)
        {
            var blobs = new List<Digest>();
            foreach (var content in new[] { "{}", text })
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(content);
                using var stream = new MemoryStream(bytes);
                await api.PushBlobAsync(Digest.Sha256Of(bytes), stream);
                blobs.Add(Digest.Sha256Of(bytes));
            }

            return await api.PushManifestAsync(Repo, reference, Image(blobs[0], [blobs[1]]));
        }

        var first = await Push("layer one", "v1");
        await api.TagAsync(Repo, "latest", first.Digest);
        var second = await Push("layer two", "latest");

        // when v1 is moved to the second image, and the first image is deleted
        var move = async () => await api.TagAsync(Repo, "v1", second.Digest);
        var delete = async () => await api.DeleteArtifactAsync(new ArtifactKey(Repo, first.Digest));

        // then both are refused naming Harbor's rule, and latest (no rule matches it) moved freely
        (await move.Should().ThrowAsync<ImmutableTagException>()).Which.Rule.Should().Be("immutable rule 1 of project library (repository matches '**', tag matches 'v*')");
        (await delete.Should().ThrowAsync<ImmutableTagException>()).Which.Tag.Should().Be("v1");
        store.GetTags().Select(t => (t.Name, t.Digest)).Should().BeEquivalentTo([("v1", first.Digest), ("latest", second.Digest)]);
    }
}
