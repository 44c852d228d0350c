using System.Text.RegularExpressions;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Samples.Embedding;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.DependencyInjection;

/// <summary>
/// The embedding sample (<c>samples/Embedding</c>): its host starts, logs a dry run, collects at night on the host's clock, stops;
/// <c>dotnet run</c> from the root shows a run on a copy of the bundled sample outside the source tree; the README shows its code.
/// </summary>
public partial class EmbeddingSampleTests
{
    [Test]
    public async Task GivenTheSamplesRegistration_WhenTheHostRunsPast3am_ThenTheNightlyWorkerPlansThenCollects_AndTheHostStops()
    {
        // given the sample's registration on a host with a LiteDB store from configuration, a fake clock at 00:30 UTC and a
        // captured log, and an untagged image pushed through the registry API at 00:30
        using var folders = new StoreFactory(StoreKind.LiteDb);
        var path = Path.Combine(folders.NewFolder(), "harbor-gc.db");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 30, 0, TimeSpan.Zero));
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HarborGc:Store:Path"] = path,
            ["HarborGc:Store:Connection"] = "Direct",
            ["HarborGc:Gc:DeleteUntagged"] = "true",
            ["HarborGc:Gc:TimeWindow"] = "02:00:00",
        });
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddLogging(l => l.AddProvider(logs));
        builder.AddNightlyGc();
        using var host = builder.Build();
        await host.StartAsync();
        var api = host.Services.GetRequiredService<RegistryApi>();
        var untagged = await PushUntaggedImage(api);
        var onStart = await logs.WaitFor(e => e.Category == typeof(NightlyGc).FullName && e.EventId.Id == 4, TimeSpan.FromSeconds(30));

        // when the clock reaches 03:00, once the worker has computed its first delay (on its own thread)
        var scheduled = await logs.WaitFor(e => e.Category == typeof(NightlyGc).FullName && e.EventId.Id == 0, TimeSpan.FromSeconds(30));
        scheduled.Message.Should().Be("Nightly GC: next run at 2026-01-01 03:00:00Z");
        time.Advance(TimeSpan.FromHours(2.5));
        var collected = logs.WaitFor(e => e.Category == typeof(NightlyGc).FullName && e.EventId.Id == 2, TimeSpan.FromSeconds(30));

        // then the worker logged a dry run on start (nothing older than the window then), its dry run's plan at 03:00, then the
        // real run of it; the image is gone; and the host stops
        onStart.Message.Should().Be("GC dry run on start: 0 artifacts and 0 blobs to delete, 0 bytes");
        (await collected).Message.Should().Be("Nightly GC Completed: deleted 1 artifacts and 3 blobs, freed " + untagged.Bytes + " bytes");
        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 1 && e.Category == typeof(NightlyGc).FullName)
            .Which.Message.Should().StartWith("Nightly GC dry run: 1 artifacts and 3 blobs to delete");
        (await api.Store.GetArtifactAsync(untagged.Key)).Should().BeNull();
        await host.StopAsync();
        logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Error);
    }

    [Test]
    [Category("Process")]
    public async Task DotnetRunOfTheSample_FromTheRepositoryRoot_ShowsADryRunOfTheBundledSample_AndWritesNothingIntoTheSourceTree()
    {
        // given the repository's source tree (what git would see: every file outside bin/, obj/, .git and test results)
        var root = RepositoryRoot.Find();
        var before = SourceTree(root);
        var temp = Directory.CreateTempSubdirectory("harbor-gc-embedding-test-").FullName; // its temp folder (TMPDIR): not shared with another run

        // when `dotnet run --project samples/Embedding` runs from the root (the configuration the tests were built in, not built
        // again) until it has logged its first run and its schedule
        using var run = HarborGcProcess.StartDotnet(["run", "--project", "samples/Embedding", "-c", Configuration, "--no-build"], root,
            new Dictionary<string, string?> { ["TMPDIR"] = temp });
        var shown = PollUntil(() => run.Output.Contains("Nightly GC: next run at", StringComparison.Ordinal) || run.HasExited, TimeSpan.FromMinutes(2));
        run.Kill();
        await run.WaitAsync(TimeSpan.FromMinutes(1));

        // then it showed a dry run of the bundled sample registry (the README's first command's plan: its copy is dated a day back,
        // so the default 2 h window keeps nothing), said where that copy is, scheduled the nightly run, and wrote nothing into the tree
        shown.Should().BeTrue($"the sample logs its first run and its schedule; it printed: {run.Output}");
        run.Output.Should().Contain("GC dry run on start: 4 artifacts and 11 blobs to delete, 1746 bytes")
            .And.Contain("Nightly GC: next run at").And.NotContain("fail:");
        var copy = SampleCopy().Match(run.Output);
        copy.Success.Should().BeTrue(run.Output);
        copy.Groups[1].Value.Should().Be(Path.Combine(temp, "harbor-gc-embedding", "registry"));
        Directory.Exists(Path.Combine(copy.Groups[1].Value, "docker", "registry", "v2")).Should().BeTrue();
        SourceTree(root).Should().BeEquivalentTo(before, "the sample writes nothing into the source tree");

        // when it runs again with a store named in the environment (that copy, moved elsewhere)
        var named = Path.Combine(temp, "named-store");
        Directory.Move(copy.Groups[1].Value, named);
        using var again = HarborGcProcess.StartDotnet(["run", "--project", "samples/Embedding", "-c", Configuration, "--no-build"], root,
            new Dictionary<string, string?> { ["TMPDIR"] = temp, ["HarborGc__Store__Kind"] = "Distribution", ["HarborGc__Store__Root"] = named });
        var shownAgain = PollUntil(() => again.Output.Contains("Nightly GC: next run at", StringComparison.Ordinal) || again.HasExited, TimeSpan.FromMinutes(2));
        again.Kill();
        await again.WaitAsync(TimeSpan.FromMinutes(1));

        // then it runs on that store and copies nothing
        shownAgain.Should().BeTrue($"the sample logs its first run and its schedule; it printed: {again.Output}");
        again.Output.Should().Contain($"GC plan for distribution:{named}: 4 artifacts and 11 blobs")
            .And.Contain("GC dry run on start: 4 artifacts and 11 blobs to delete, 1746 bytes").And.NotContain("copied to");
        Directory.Exists(Path.Combine(temp, "harbor-gc-embedding", "registry")).Should().BeFalse();
        Directory.Delete(temp, recursive: true);
    }

    [Test]
    public void TheReadmesEmbeddingSnippet_IsTheSamplesCode()
    {
        var root = RepositoryRoot.Find();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var section = readme[readme.IndexOf("\n## Embedding it", StringComparison.Ordinal)..];
        var snippet = CSharpBlock().Match(section).Groups[1].Value;

        snippet.Should().Contain("AddHarborGc").And.Contain("class NightlyGc");
        File.ReadAllText(Path.Combine(root, "samples", "Embedding", "NightlyGc.cs")).ReplaceLineEndings("\n").Should().Contain(snippet);
    }

    private static async Task<(ArtifactKey Key, long Bytes)> PushUntaggedImage(RegistryApi api)
    {
        long bytes = 0;
        var config = await Push("{\"architecture\":\"amd64\"}"u8.ToArray());
        var layer = await Push("layer bytes"u8.ToArray());
        var manifest = Image(config, [layer]);
        var artifact = await api.PushManifestAsync(RepositoryName.Parse("library/app"), Digest.Sha256Of(manifest).ToString(), manifest);
        return (artifact.Key, bytes + manifest.Length);

        async Task<Digest> Push(byte[] content)
        {
            bytes += content.Length;
            using var stream = new MemoryStream(content);
            var digest = Digest.Sha256Of(content);
            await api.PushBlobAsync(digest, stream);
            return digest;
        }
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>Every file of the source tree with its size and time: all but build outputs, git's folder and test results.</summary>
    private static Dictionary<string, (long, DateTime)> SourceTree(string root)
    {
        string[] skipped = ["bin", "obj", ".git", "TestResults", "artifacts", "packages", "BenchmarkDotNet.Artifacts"];
        var files = new Dictionary<string, (long, DateTime)>();
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out var folder))
        {
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo { LinkTarget: null } directory)
                {
                    if (!skipped.Contains(directory.Name))
                    {
                        pending.Push(directory.FullName);
                    }
                }
                else if (entry.Name != ".git")
                {
                    files[Path.GetRelativePath(root, entry.FullName)] = (entry is FileInfo file ? file.Length : -1, entry.LastWriteTimeUtc);
                }
            }

            files[Path.GetRelativePath(root, folder) + "/"] = (-1, Directory.GetLastWriteTimeUtc(folder));
        }

        return files;
    }

    private static bool PollUntil(Func<bool> condition, TimeSpan bound)
    {
        var until = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (!condition())
        {
            if (Environment.TickCount64 > until)
            {
                return false;
            }

            Thread.Sleep(100);
        }

        return true;
    }

    [GeneratedRegex(@"bundled sample registry copied to (\S+) ")]
    private static partial Regex SampleCopy();

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
