using FluentAssertions.Execution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>A folder under <c>repositories/library</c> that cannot be a repository's.</summary>
public enum BadRepositoryFolder
{
    /// <summary>Named by the single byte 0xFF, which is not UTF-8.</summary>
    NotUtf8,

    /// <summary>Named <c>UPPER</c>: repository names are lower case.</summary>
    NotARepositoryName,
}

public partial class HostileTreeTests
{
    [Test]
    [Description("P7: a folder under repositories/ whose name is not valid UTF-8, or is not a valid repository name, makes every command " +
                 "(gc --dry-run, explain, retention run, gc, gc --apply) exit 2 with a message naming the folder (bytes that are not UTF-8 " +
                 "written \\xNN) and saying nothing was planned/deleted; nothing changes and the registry still serves everything.")]
    public async Task RepositoryFolderWithABadName_EveryCommandExits2NamingIt_AndNothingChanges([Values] BadRepositoryFolder bad)
    {
        // given: the scenarios pushed, a plan saved, then a repository-like folder with a bad name (its revisions folder inside)
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var plan = await SavePlanAsync();
        var parent = Path.Combine(Tree.Repositories, "library");
        string folder;
        if (bad == BadRepositoryFolder.NotUtf8)
        {
            folder = HostileFiles.MakeFolderWithByteName(parent, 0xFF, "_manifests/revisions/sha256");
        }
        else
        {
            folder = Path.Combine(parent, "UPPER");
            Directory.CreateDirectory(Path.Combine(folder, "_manifests", "revisions", "sha256"));
        }

        var root = FolderSnapshot.Take(Registry.Root);
        var outside = FolderSnapshot.Take(Outside);

        // when: every command that reads the store runs on the tree
        using (new AssertionScope())
        {
            foreach (var (name, args) in EveryCommand(plan, scenario))
            {
                var (code, output, errors) = await CliAsync(args);

                // then: each refuses it, naming the folder, and changes nothing
                code.Should().Be(2, $"{name} must refuse the folder {folder}; it printed:\n{output}{errors}");
                errors.ToLowerInvariant().Should().Contain(folder.ToLowerInvariant(), $"{name}'s message names the folder");
                errors.Should().MatchRegex("nothing was (planned|deleted)", $"{name}'s message says nothing was done");
                root.ShouldBeUnchanged($"{name} ran on a tree with the folder {folder}");
                outside.ShouldBeUnchanged($"{name} ran");
            }
        }

        // and the registry still serves every manifest and blob that was pushed
        await ShouldServeEverythingPushedAsync(scenario);
    }
}
