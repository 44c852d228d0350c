using System.Text;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

public partial class HostileTreeTests
{
    private const string HalfPushedText = "a layer whose push was killed mid-commit";

    [Test]
    [Description("P6: a blob folder without its data file (left by a killed push, or caught mid-commit) is an ordinary blob dated by the " +
                 "folder's modification time: within the time window it is kept (it is no longer planned 'deleting' and deleted with no " +
                 "window and no re-check).")]
    public async Task BlobFolderWithoutData_WithinTheTimeWindow_IsKept()
    {
        // given: the scenarios pushed, and a blob folder whose data is gone, written a moment ago
        var scenario = await PushScenarioAsync();
        var blob = await Client.PushBlobAsync(App, Encoding.UTF8.GetBytes(HalfPushedText));
        Registry.Stop();
        File.Delete(Tree.BlobData(blob));
        var outside = FolderSnapshot.Take(Outside);

        // when: a real run with the default window (2 h)
        var report = ReportPath();
        var (code, output, errors) = await CliAsync("gc", "--delete-untagged", "true", "--store", Store, "--report-json", report, "--quiet");

        // then: the folder is neither planned nor deleted
        code.Should().Be(0, output + errors);
        Report.Read(report, output + errors).Blobs.Should().NotContain(b => b.Digest == blob, "the folder was written within the window");
        Directory.Exists(Tree.BlobFolder(blob)).Should().BeTrue();
        outside.ShouldBeUnchanged("nothing outside the root is touched");
        await ShouldServeEveryLiveObjectAsync(scenario);
    }

    [Test]
    [Description("P6: a blob folder without its data file, older than the time window, is planned like any blob (status none, not " +
                 "'deleting') and re-checked before it goes: a push that brings the data back and references the blob keeps it.")]
    public async Task BlobFolderWithoutData_OlderThanTheWindow_IsPlannedLikeAnyBlob_AndAPushThatBringsItBackKeepsIt()
    {
        // given: the scenarios pushed, a blob folder whose data is gone, last written three hours ago, and a plan (window 1 h) that
        // collects it
        var scenario = await PushScenarioAsync();
        var blob = await Client.PushBlobAsync(App, Encoding.UTF8.GetBytes(HalfPushedText));
        Registry.Stop();
        File.Delete(Tree.BlobData(blob));
        var threeHoursAgo = TimeProvider.System.GetUtcNow().AddHours(-3).UtcDateTime;
        File.SetLastWriteTimeUtc(Tree.LayerLink(App, blob), threeHoursAgo);
        Directory.SetLastWriteTimeUtc(Tree.BlobFolder(blob), threeHoursAgo);
        var plan = Path.Combine(Scratch, "plan.json");
        var (planned, planOutput, planErrors) = await CliAsync("gc", "--delete-untagged", "true", "--store", Store, "--dry-run", "--time-window", "1h", "--report-json", plan, "--quiet");
        planned.Should().Be(0, planOutput + planErrors);
        Report.Read(plan, planOutput).Blobs.Should().ContainSingle(b => b.Digest == blob)
            .Which.Status.Should().Be("none", "a folder without data is an ordinary blob, re-checked like any other before it goes");

        // when: a client pushes an image using that layer again (the registry writes its data back and links it), then the plan is applied
        await Registry.StartAsync();
        var revived = await Push.ImageAsync(App, "revived", """{"os":"linux","v":"revived"}""", [HalfPushedText]);
        revived.Blobs.Should().Contain(blob);
        Registry.Stop();
        var outside = FolderSnapshot.Take(Outside);
        var (code, output, errors) = await CliAsync("gc", "--apply", plan, "--store", Store, "--quiet");

        // then: the blob is kept, and the new image pulls whole with every live object
        code.Should().Be(0, output + errors);
        Tree.HasBlob(blob).Should().BeTrue("a push referenced the blob after the plan: the re-check keeps it");
        outside.ShouldBeUnchanged("nothing outside the root is touched");
        await ShouldServeEveryLiveObjectAsync(scenario, revived);
        (await Client.GetManifestAsync(App, "revived")).DigestHeader.Should().Be(revived.Digest.ToString());
    }
}
