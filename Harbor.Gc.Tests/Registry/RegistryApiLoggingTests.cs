using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;
using Harbor.Gc.Trust;
using Microsoft.Extensions.Logging;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>
/// What the registry API tells an operator through <see cref="ILogger"/>: a push or delete a rule refused (immutability, content
/// trust) as a warning naming the rule and the tag, refusals that are the client's to fix (missing blobs, an artifact an index
/// still lists, a blob GC is deleting) as information, each artifact deletion with the size of its cascade, and pushes at debug.
/// </summary>
public class RegistryApiLoggingTests(StoreKind kind) : RegistryApiFixture(kind)
{
    private const string Rule = "release tags are immutable (release-*)";
    private CapturingLoggerProvider _logs = null!;
    private ILoggerFactory _factory = null!;
    private RegistryApi _logged = null!;

    [SetUp]
    public void CreateLoggedApi()
    {
        Rules.Add("release-*", Rule);
        _logs = new CapturingLoggerProvider(); // one per test: NUnit keeps the fixture instance between tests
        _factory = LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
        _logged = new RegistryApi(Store.Inner, Rules, logger: _factory.CreateLogger<RegistryApi>());
    }

    [TearDown]
    public void DisposeFactory() => _factory.Dispose();

    private List<CapturingLoggerProvider.Entry> Logged(int eventId) =>
        [.. _logs.Entries.Where(e => e.Category == typeof(RegistryApi).FullName && e.EventId.Id == eventId)];

    [Test]
    public async Task ImmutableTagMoveRefused_IsAWarning_NamingTheRuleAndTheTag()
    {
        // given release-1.0 on an image
        var released = await PushImage("release-1.0");
        var other = await PushImage();

        // when the logged API is asked to move it
        var act = async () => await _logged.TagAsync(Repo, "release-1.0", other.Digest);

        // then the refusal is thrown and logged as a warning with the exception's message
        var refused = (await act.Should().ThrowAsync<ImmutableTagException>()).Which;
        Logged(1200).Should().ContainSingle().Which.Should().Match<CapturingLoggerProvider.Entry>(e =>
            e.Level == LogLevel.Warning && e.Message == refused.Message && e.Message.Contains(Rule) && e.Message.Contains($"{Repo}:release-1.0"));
        released.Should().NotBeNull();
    }

    [Test]
    public async Task PushWithAMissingLayer_IsInformation_NamingTheBlob()
    {
        var config = await NewBlob();
        var missing = Digest.Sha256Of("never uploaded"u8);

        var act = async () => await _logged.PushManifestAsync(Repo, "v1", Image(config, [missing]));

        await act.Should().ThrowAsync<ManifestReferencesMissingException>();
        Logged(1200).Should().ContainSingle().Which.Should().Match<CapturingLoggerProvider.Entry>(e =>
            e.Level == LogLevel.Information && e.Message.StartsWith("Refused to push manifest") && e.Message.Contains(missing.ToString()));
    }

    [Test]
    public async Task BlobBeingDeleted_IsInformation_SayingWhatToRetry()
    {
        // given a blob a GC sweep is deleting
        var layer = await NewBlob();
        (await Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.None, BlobStatus.Delete, null)).Should().BeTrue();
        (await Store.Inner.TryUpdateBlobStatusAsync(layer, BlobStatusSet.Delete, BlobStatus.Deleting, null)).Should().BeTrue();

        // when a manifest that needs it is pushed
        var act = async () => await _logged.PushManifestAsync(Repo, "v1", Image(await NewBlob(), [layer]));

        // then the retryable refusal is logged as information, naming the push and the blob
        await act.Should().ThrowAsync<BlobBeingDeletedException>();
        Logged(1200).Should().ContainSingle().Which.Should().Match<CapturingLoggerProvider.Entry>(e =>
            e.Level == LogLevel.Information && e.Message.StartsWith($"Refused the push of a manifest to {Repo} as v1: Blob {layer} is being deleted"));
    }

    [Test]
    public async Task ArtifactDeleted_IsInformation_WithItsCascade()
    {
        // given an image tagged v1 with a cosign signature (a hard accessory, deleted with it)
        var image = await PushImage("v1");
        await PushCosignSignature(image.Digest);

        // when the logged API deletes the image
        var deletion = await _logged.DeleteArtifactAsync(image.Key);

        // then one message names it and counts the rest of the cascade
        deletion.Deleted.Should().HaveCount(2);
        Logged(1201).Should().ContainSingle().Which.Message.Should().Be(
            $"Deleted {image.Key} and 1 more of its cascade (hard accessories, unshared untagged children); kept 0 that changed meanwhile");
    }

    [Test]
    public async Task PullRefusedByContentTrust_IsAWarning()
    {
        await PushImage("v1");
        var api = new RegistryApi(Store.Inner, contentTrust: ContentTrustPolicy.None.Require("library", SignatureKinds.Cosign), logger: _factory.CreateLogger<RegistryApi>());

        var act = async () => await api.PullManifestAsync(Repo, "v1");

        var refused = (await act.Should().ThrowAsync<ContentTrustException>()).Which;
        Logged(1200).Should().ContainSingle().Which.Should().Match<CapturingLoggerProvider.Entry>(e => e.Level == LogLevel.Warning && e.Message == refused.Message);
    }

    [Test]
    public async Task Push_IsDebug_WithKindAndTag()
    {
        var config = await NewBlob();
        var pushed = await _logged.PushManifestAsync(Repo, "v1", Image(config, [await NewBlob()]));

        Logged(1202).Should().ContainSingle().Which.Should().Match<CapturingLoggerProvider.Entry>(e =>
            e.Level == LogLevel.Debug && e.Message == $"Pushed {pushed.Key} (OciManifest), tag v1");
    }

    [Test]
    public async Task WithoutALogger_NothingIsLogged_AndRefusalsStillThrow()
    {
        var released = await PushImage("release-1.0");
        var act = async () => await Api.TagAsync(Repo, "release-1.0", (await PushImage()).Digest);

        await act.Should().ThrowAsync<ImmutableTagException>();
        _logs.Entries.Should().BeEmpty();
        released.Should().NotBeNull();
    }
}
