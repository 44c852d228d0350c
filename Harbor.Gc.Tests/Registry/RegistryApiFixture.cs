using System.Text;
using Harbor.Gc.Accessories;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>The base of the <see cref="RegistryApi"/> tests: an API over a new store of each kind, immutable-tag rules the test sets, and push helpers.</summary>
public abstract class RegistryApiFixture(StoreKind kind) : StoreFixture(kind)
{
    /// <summary>The repository most tests push to.</summary>
    protected static readonly RepositoryName Repo = RepositoryName.Parse("library/app");

    private int _n;

    internal FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    internal TestStore Store { get; private set; } = null!;

    internal TestRules Rules { get; private set; } = null!;

    internal RegistryApi Api { get; private set; } = null!;

    /// <summary>A new store, the API over it with the test's rules and a classifier that also knows one soft type, and the empty config.</summary>
    [SetUp]
    public async Task CreateApi()
    {
        Store = Stores.Create(Time);
        Rules = new TestRules();
        Api = new RegistryApi(Store.Inner, Immutability ?? Rules, AccessoryClassifier.Default.With(SoftType, "soft.test", ReferenceStrength.Soft));
        await PushBlob("{}"u8.ToArray(), MediaTypes.OciEmpty); // the empty config every OCI 1.1 referrer uses, uploaded as clients do
    }

    /// <summary>Rules a fixture gives the API instead of the test-set <see cref="Rules"/> (e.g. Harbor's own, read from JSON).</summary>
    internal virtual ITagImmutability? Immutability => null;

    /// <summary>An artifact type the fixture's classifier registers as a soft accessory.</summary>
    protected const string SoftType = "application/vnd.example.soft+json";

    internal async Task<Digest> PushBlob(byte[] content, string? mediaType = null)
    {
        var digest = Digest.Sha256Of(content);
        using var stream = new MemoryStream(content);
        await Api.PushBlobAsync(digest, stream, mediaType);
        return digest;
    }

    internal Task<Digest> NewBlob() => PushBlob(Encoding.UTF8.GetBytes($"blob {++_n}"));

    /// <summary>Pushes an image (a new config and layer) by <paramref name="reference"/>, or by digest when null.</summary>
    internal async Task<Artifact> PushImage(string? reference = null, Digest? subject = null, string layerType = MediaTypes.OciLayerGzip, string? artifactType = null)
    {
        var content = Image(await NewBlob(), [await NewBlob()], layerType: layerType, subject: subject, artifactType: artifactType);
        return await Api.PushManifestAsync(Repo, reference ?? Digest.Sha256Of(content).ToString(), content);
    }

    internal async Task<Artifact> PushReferrer(Digest subject, string artifactType) =>
        await PushBytes(Referrer(subject, artifactType, await NewBlob()));

    internal async Task<Artifact> PushIndex(string? reference, params Digest[] children) => await PushBytes(Index(children), reference);

    internal async Task<Artifact> PushBytes(byte[] content, string? reference = null) =>
        await Api.PushManifestAsync(Repo, reference ?? Digest.Sha256Of(content).ToString(), content);

    /// <summary>Pushes a cosign signature of <paramref name="subject"/> by its tag-scheme tag.</summary>
    internal Task<Artifact> PushCosignSignature(Digest subject) =>
        PushImage($"sha256-{subject.Hex}.sig", layerType: MediaTypes.CosignSimpleSigning);

    internal bool Exists(Artifact artifact) => Store.GetArtifact(artifact.Key) is not null;

    /// <summary>Immutable-tag rules for tests: a tag is immutable when it equals a pattern, or starts with a pattern's text before a final <c>*</c>.</summary>
    internal sealed class TestRules : ITagImmutability
    {
        private readonly List<(string Pattern, string Name)> _rules = [];

        public List<(RepositoryName Repository, string Tag)> Asked { get; } = [];

        public void Add(string pattern, string name) => _rules.Add((pattern, name));

        public string? FindRule(RepositoryName repository, string tag)
        {
            Asked.Add((repository, tag));
            return _rules.FirstOrDefault(r => r.Pattern.EndsWith('*') ? tag.StartsWith(r.Pattern[..^1], StringComparison.Ordinal) : tag == r.Pattern).Name;
        }
    }
}
