using System.Text;
using FluentAssertions.Execution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>What happened to the <c>data</c> file of a manifest's blob.</summary>
public enum ManifestDataDamage
{
    /// <summary>Gone (the blob folder stays).</summary>
    Missing,

    /// <summary>Zero bytes.</summary>
    Empty,

    /// <summary>Its first half.</summary>
    Truncated,

    /// <summary>Text that is not JSON.</summary>
    NotJson,

    /// <summary>Another manifest's bytes: valid, but not hashing to the digest.</summary>
    AnotherManifest,

    /// <summary>A folder in its place.</summary>
    Directory,

    /// <summary>A FIFO in its place.</summary>
    Fifo,

    /// <summary>A socket in its place.</summary>
    Socket,

    /// <summary>A sparse file of 5 GiB (no disk used), over the 4 MiB cap.</summary>
    SparseFiveGigabytes,

    /// <summary>A character device like <c>/dev/zero</c> (endless zeros); made with <c>mknod</c>, so root only.</summary>
    CharacterDevice,
}

public partial class HostileTreeTests
{
    [Test]
    [Description("P3: a manifest whose blob data cannot be read as a manifest (missing, empty, truncated, not JSON, not hashing to its " +
                 "digest, a folder, FIFO, socket or device in its place, or over 4 MiB) is kept as an unknown manifest with a warning naming " +
                 "the data path; being live (tagged), it keeps EVERY blob its repository links under _layers, with those links, since it " +
                 "might reference any of them. The run never hangs and never reads a several-GB file into memory (the child runs with a " +
                 "256 MiB heap).")]
    public async Task LiveManifestWhoseBlobCannotBeRead_IsKeptAsUnknown_AndKeepsEveryBlobItsRepositoryLinks([Values] ManifestDataDamage damage)
    {
        // given: the scenarios pushed, and the data of the tagged image v1's manifest blob damaged
        var scenario = await PushScenarioAsync();
        Registry.Stop();
        var v1 = scenario.Live[0];
        var data = Tree.BlobData(v1.Digest);
        var saved = SavedFile.Of(data);
        var linked = Tree.LinkedBlobs(App);
        linked.Should().Contain(v1.Blobs);
        Damage(data, damage, scenario.Live[1].Body, saved);
        var outside = FolderSnapshot.Take(Outside);

        // when: a real run with window 0, as a child process with a bounded heap
        var report = ReportPath();
        var (code, output) = await ChildAsync("gc", "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--report-json", report, "--quiet");

        // then: v1 is kept, a warning names its data, and every blob library/app links is still there with its link (every failure
        // listed at once)
        using (new AssertionScope())
        {
            code.Should().Be(0, output);
            var result = Report.Read(report, output);
            result.Warns(data).Should().BeTrue($"a warning names {data}; the warnings were:\n{string.Join("\n", result.Warnings)}");
            result.Artifacts.Should().NotContain((App, v1.Digest), "v1 is tagged");
            result.Blobs.Should().NotContain(b => b.Digest == v1.Digest, "v1's own blob is kept");
            Tree.HasRevision(App, v1.Digest).Should().BeTrue();
            Directory.Exists(Tree.BlobFolder(v1.Digest)).Should().BeTrue("the blob of a kept manifest is kept, readable or not");
            foreach (var blob in linked)
            {
                File.Exists(Tree.LayerLink(App, blob)).Should().BeTrue($"{App} links {blob}, which v1 might reference: the link is kept");
                Tree.HasBlob(blob).Should().BeTrue($"{App} links {blob}, which v1 might reference: the blob is kept");
            }

            outside.ShouldBeUnchanged("nothing outside the root is touched");
        }

        // and once v1's data is put back, the registry serves every live object and every blob library/app linked
        saved.Restore();
        await ShouldServeEveryLiveObjectAsync(scenario);
        foreach (var blob in linked)
        {
            await ShouldServeBlobAsync(App, blob, " (linked by the repository of a manifest that could not be read)");
        }
    }

    private void Damage(string data, ManifestDataDamage damage, byte[] anotherManifest, SavedFile saved)
    {
        switch (damage)
        {
            case ManifestDataDamage.Missing:
                File.Delete(data);
                break;
            case ManifestDataDamage.Empty:
                File.WriteAllBytes(data, []);
                break;
            case ManifestDataDamage.Truncated:
                File.WriteAllBytes(data, saved.Content[..(saved.Content.Length / 2)]);
                break;
            case ManifestDataDamage.NotJson:
                File.WriteAllBytes(data, Encoding.UTF8.GetBytes("this is not a manifest"));
                break;
            case ManifestDataDamage.AnotherManifest:
                File.WriteAllBytes(data, anotherManifest);
                break;
            case ManifestDataDamage.Directory:
                Files.Replace(data, NonRegularFile.Directory);
                break;
            case ManifestDataDamage.Fifo:
                Files.Replace(data, NonRegularFile.Fifo);
                break;
            case ManifestDataDamage.Socket:
                Files.Replace(data, NonRegularFile.Socket);
                break;
            case ManifestDataDamage.SparseFiveGigabytes:
                using (var file = new FileStream(data, FileMode.Truncate, FileAccess.Write))
                {
                    file.SetLength(5L << 30);
                }

                break;
            case ManifestDataDamage.CharacterDevice:
                File.Delete(data);
                if (!HostileFiles.TryMakeCharacterDevice(data, 1, 5))
                {
                    saved.Restore();
                    Assert.Ignore("mknod needs root: the device-node case runs only as root");
                }

                break;
        }
    }
}
