using Harbor.Gc.Graph;

namespace Harbor.Gc.Tests.Graph;

/// <summary>The artifact index finds every (repository, digest) it holds, and nothing else.</summary>
public class ArtifactIndexTests
{
    [Test]
    public void DenseKeys_AllFound_DuplicatesRefused_AbsentKeysMissed()
    {
        // given 50,000 artifacts: 500 repositories x 100 digest ids, the dense ids a snapshot gives
        var index = new ArtifactIndex(50_000);
        var id = 0;
        for (var repo = 0; repo < 500; repo++)
        {
            for (var digest = 0; digest < 100; digest++)
            {
                index.TryAdd(RegistryGraph.ArtifactKeyOf(repo, digest), id++).Should().BeTrue();
            }
        }

        // then each is found with its id, a second add of a key changes nothing, and keys never added are missed
        index.Count.Should().Be(50_000);
        index.TryAdd(RegistryGraph.ArtifactKeyOf(7, 7), -5).Should().BeFalse();
        id = 0;
        for (var repo = 0; repo < 500; repo++)
        {
            for (var digest = 0; digest < 100; digest++)
            {
                index.TryGetValue(RegistryGraph.ArtifactKeyOf(repo, digest), out var found).Should().BeTrue();
                found.Should().Be(id++);
            }
        }

        index.TryGetValue(RegistryGraph.ArtifactKeyOf(500, 0), out _).Should().BeFalse();
        index.TryGetValue(RegistryGraph.ArtifactKeyOf(0, 100), out _).Should().BeFalse();
        index.TryGetValue(RegistryGraph.ArtifactKeyOf(0, -1), out var none).Should().BeFalse();
        none.Should().Be(-1);
    }

    [Test]
    public void MoreArtifactsThanItsCapacity_IsAnError_NotAnEndlessProbe()
    {
        var index = new ArtifactIndex(0); // room for 8 of 16 entries
        for (var i = 0; i < 8; i++)
        {
            index.TryAdd(i, i).Should().BeTrue();
        }

        var overfill = () => index.TryAdd(100, 100);
        overfill.Should().Throw<InvalidOperationException>().WithMessage("*capacity*");
    }
}
