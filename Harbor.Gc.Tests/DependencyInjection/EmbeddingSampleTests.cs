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

/// <summary>The embedding sample (<c>samples/Embedding</c>): its host starts, collects at night on the host's clock, stops; the README shows its code.</summary>
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
            ["HarborGc:Gc:TimeWindow"] = "02:00:00",
        });
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddLogging(l => l.AddProvider(logs));
        builder.AddNightlyGc();
        using var host = builder.Build();
        await host.StartAsync();
        var api = host.Services.GetRequiredService<RegistryApi>();
        var untagged = await PushUntaggedImage(api);

        // when the clock reaches 03:00, once the worker has computed its first delay (on its own thread)
        var scheduled = await logs.WaitFor(e => e.Category == typeof(NightlyGc).FullName && e.EventId.Id == 0, TimeSpan.FromSeconds(30));
        scheduled.Message.Should().Be("Nightly GC: next run at 2026-01-01 03:00:00Z");
        time.Advance(TimeSpan.FromHours(2.5));
        var collected = logs.WaitFor(e => e.Category == typeof(NightlyGc).FullName && e.EventId.Id == 2, TimeSpan.FromSeconds(30));

        // then the worker logged its dry run's plan, then the real run of it; the image is gone; and the host stops
        (await collected).Message.Should().Be("Nightly GC Completed: deleted 1 artifacts and 3 blobs, freed " + untagged.Bytes + " bytes");
        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 1 && e.Category == typeof(NightlyGc).FullName)
            .Which.Message.Should().StartWith("Nightly GC dry run: 1 artifacts and 3 blobs to delete");
        (await api.Store.GetArtifactAsync(untagged.Key)).Should().BeNull();
        await host.StopAsync();
        logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Error);
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

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
