using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Collection;

public class GcExplainTests
{
    [Test]
    public async Task Explain_LayerOfAChildOfATaggedIndex_GivesThePathFromTheTag()
    {
        var r = new ScenarioRegistry();
        var layer = r.Blob();
        var child = r.Image("library/app", [layer]);
        var index = r.Index("library/app", [child], tag: "v1");
        r.Age();

        var explanation = await r.Collector().ExplainAsync(layer, null, new GcOptions { DeleteUntagged = true });

        var entry = explanation.Entries.Should().ContainSingle().Subject;
        entry.Live.Should().BeTrue();
        entry.Path.Should().Equal("tag library/app:v1", $"index {index.Digest}", $"index child manifest {child.Digest}", $"layer {layer}");
        entry.ToString().Should().Be($"blob {layer}: kept (tagged): tag library/app:v1 → index {index.Digest} → index child manifest {child.Digest} → layer {layer}");
    }

    [Test]
    public async Task Explain_SignatureOfATaggedImage_NamesTheAccessoryStep()
    {
        var r = new ScenarioRegistry();
        var image = r.Image("library/app", [r.Blob()], tag: "v1");
        var signature = r.Accessory(image);
        r.Age();

        var explanation = await r.Collector().ExplainAsync(signature.Digest, ScenarioRegistry.Repo("library/app"), new GcOptions { DeleteUntagged = true });

        explanation.Entries[0].Path.Should().Equal("tag library/app:v1", $"manifest {image.Digest}", $"accessory signature.cosign (hard) {signature.Digest}");
    }

    [Test]
    public async Task Explain_UntaggedImage_SaysWhyNothingKeepsIt()
    {
        var r = new ScenarioRegistry();
        var image = r.Image("library/app", [r.Blob()]);
        r.Age();

        var explanation = await r.Collector().ExplainAsync(image.Digest, null, new GcOptions { DeleteUntagged = true });

        explanation.Entries.Should().HaveCount(2, "one entry for the artifact, one for its manifest blob");
        explanation.Entries[0].Live.Should().BeFalse();
        explanation.Entries[0].Reason.Should().StartWith("untagged, not listed by any live index, not an accessory of a live artifact; pushed 2026-01-10T00:00:00Z");
        explanation.Entries[1].Reason.Should().StartWith($"referenced only by collected artifacts (library/app@{image.Digest})");
    }

    [Test]
    public async Task Explain_FreshArtifact_IsKeptByTheTimeWindow()
    {
        var r = new ScenarioRegistry();
        var image = r.Image("library/app", [r.Blob()]);

        var explanation = await r.Collector().ExplainAsync(image.Digest, null, new GcOptions { DeleteUntagged = true });

        explanation.Entries[0].Live.Should().BeTrue();
        explanation.Entries[0].Reason.Should().Contain("within the time window");
    }

    [Test]
    public async Task Explain_UnknownDigest_SaysSo()
    {
        var digest = Digest.Sha256Of("nothing"u8);

        var explanation = await new ScenarioRegistry().Collector().ExplainAsync(digest, null, new GcOptions { DeleteUntagged = true });

        explanation.Found.Should().BeFalse();
        explanation.ToString().Should().Be($"{digest}: not in the store");
    }
}
