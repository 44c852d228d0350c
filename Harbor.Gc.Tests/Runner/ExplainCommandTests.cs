using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Storage.LiteDb;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// <c>harbor-gc explain REFERENCE</c> (DESIGN.md §5, §9) over the bundled sample registry (samples/README.md lists what it holds):
/// one line per hop of the path from the root, the kind of each link named, or why nothing keeps the digest.
/// </summary>
public class ExplainCommandTests
{
    private static readonly string Sample = Path.Combine(RepositoryRoot.Find(), "samples", "registry");
    private static readonly string Store = $"distribution:{Sample}";

    // The sample's files are as new as the clone, so these use the real clock and a window of 0 (as the README's command does).
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => RunAt(TimeProvider.System, args);

    private static async Task<(int Code, string Out, string Err)> RunAt(TimeProvider time, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(["explain", .. args], stdout, stderr, time, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public async Task LayerOfAChildOfTheTaggedIndex_IsKeptByTheTag_ThroughTheIndexChild()
    {
        // given library/multi:latest, an index whose children are untagged (Distribution keeps them through the index)
        var index = TagTarget("library/multi", "latest");
        var child = Digest.Parse(ReadBlob(index).GetProperty("manifests")[0].GetProperty("digest").GetString()!);
        var layer = ReadBlob(child).GetProperty("layers")[0].GetProperty("digest").GetString()!;

        var (code, output, errors) = await Run(layer, "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        code.Should().Be(0, errors);
        Lines(output).Should().Equal(
            $"blob {layer}: kept (tagged)",
            "    tag library/multi:latest",
            $"  → index {index}",
            $"  → index child manifest {child}",
            $"  → layer {layer}");
    }

    [Test]
    public async Task NotationSignatureOfTheSbomOfV1_IsKeptThroughTwoHardAccessoryLinks()
    {
        // given the notation signature of v1's SBOM (OCI 1.1 subject links: v1 ← SBOM ← signature)
        var v1 = TagTarget("library/app", "v1");
        var (code, output, errors) = await Run("sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33", "--repository", "library/app", "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        code.Should().Be(0, errors);
        Lines(output).Take(5).Should().Equal(
            "library/app@sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33: kept (tagged)",
            "    tag library/app:v1",
            $"  → manifest {v1}",
            "  → accessory subject.accessory (hard) sha256:cc7688285f48f5ab9ac76d211e8c99e122481b33c13a8ea828a34f9f7b2b0e64",
            "  → accessory signature.notation (hard) sha256:cbbfe678b8847eec275445147df8c01621237020d23be69dba7471d47e83cb33");
    }

    [Test]
    public async Task TheOldUntaggedImage_AndItsCosignSignature_AreCollectedByTheNextRun()
    {
        // given the old image (its tag removed) and its cosign tag-scheme signature sha256-<old>.sig
        var signature = TagTarget("library/app", "sha256-45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317.sig");
        const string Old = "sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";

        var image = await Run(Old, "--delete-untagged", "true", "--store", Store, "--time-window", "0");
        var sig = await Run(signature.ToString(), "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--repository", "library/app");

        image.Code.Should().Be(0, image.Err);
        Lines(image.Out)[0].Should().Be($"library/app@{Old}: collected by the next run");
        Lines(image.Out)[1].Should().StartWith("  untagged, not listed by any live index, not an accessory of a live artifact; pushed ")
            .And.Contain("before the time window");
        Lines(sig.Out)[0].Should().Be($"library/app@{signature}: collected by the next run");
        Lines(sig.Out)[1].Should().Be($"  hard accessory (signature.cosign) of library/app@{Old}, which is collected; an accessory lives and dies with its subject");
    }

    [Test]
    public async Task TheOldImage_IsKeptWhenDeleteUntaggedIsOff_OrWithinTheTimeWindow()
    {
        const string Old = "sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";

        var untaggedKept = await Run(Old, "--store", Store, "--time-window", "0", "--delete-untagged", "false", "--repository", "library/app");
        var fresh = await Run(Old, "--delete-untagged", "true", "--store", Store, "--time-window", "7d", "--repository", "library/app");

        Lines(untaggedKept.Out)[0].Should().Be($"library/app@{Old}: kept (untagged artifacts are kept (delete untagged is off))");
        Lines(fresh.Out)[0].Should().StartWith($"library/app@{Old}: kept (pushed ").And.Contain("within the time window");
    }

    [Test]
    public async Task Json_GivesTheSameEntries()
    {
        var v1 = TagTarget("library/app", "v1");

        var (code, output, errors) = await Run(v1.ToString(), "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--json");

        code.Should().Be(0, errors);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("digest").GetString().Should().Be(v1.ToString());
        var entries = json.RootElement.GetProperty("entries").EnumerateArray().ToList();
        entries.Select(e => e.GetProperty("subject").GetString()).Should().Equal($"library/app@{v1}", $"blob {v1}");
        entries.Should().OnlyContain(e => e.GetProperty("kept").GetBoolean());
        entries[0].GetProperty("path").EnumerateArray().Select(p => p.GetString()).Should().Equal("tag library/app:v1", $"manifest {v1}");
    }

    [Test]
    public async Task BadInput_ExitsWith2_AndSaysWhatIsWrong()
    {
        var unknown = Digest.Sha256Of("not in the sample"u8);
        var v1 = TagTarget("library/app", "v1").ToString();

        var badDigest = await Run("sha256:xyz", "--store", Store);
        var unknownDigest = await Run(unknown.ToString(), "--store", Store);
        var badRepository = await Run(v1, "--store", Store, "--repository", "Library//App");
        var otherRepository = await Run(v1, "--store", Store, "--repository", "library/multi");
        var noDigest = await Run("--store", Store);
        var badStore = await Run(v1, "--store", "distribution:/nonexistent/registry");

        badDigest.Code.Should().Be(2);
        badDigest.Err.Should().Contain("'sha256:xyz' is not a digest");
        unknownDigest.Code.Should().Be(2);
        unknownDigest.Err.Should().Contain($"{unknown} is not in the store {Store}");
        badRepository.Code.Should().Be(2);
        badRepository.Err.Should().Contain("--repository 'Library//App'");
        otherRepository.Code.Should().Be(0, "v1's manifest is also a blob, which any repository can reach");
        Lines(otherRepository.Out).Should().NotContain(l => l.StartsWith("library/app@", StringComparison.Ordinal), "only library/multi's artifacts are explained");
        noDigest.Code.Should().Be(2);
        noDigest.Err.Should().Contain("give the REFERENCE");
        badStore.Code.Should().Be(2);
    }

    [TestCase("sha256:45365f53", Description = "README's form")]
    [TestCase("sha256:45365f530eb7")]
    [TestCase("45365f530eb7")]
    [TestCase("45365f")]
    [TestCase("library/app@sha256:45365f530eb7")]
    [TestCase("library/app@45365f")]
    [TestCase("library/app@45365f53", Description = "README's form")]
    public async Task AUniqueDigestPrefix_ExplainsAsTheWholeDigest(string reference)
    {
        // given the old untagged image, explained by its whole digest (both runs at one instant: the output names the time)
        const string Old = "sha256:45365f530eb7ed4286e043c4008a3812b4aacba2acd8b50e20a184d80b3e7317";
        var now = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        var whole = await RunAt(now, Old, "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        // when it is explained by a unique prefix of its digest (at least 6 hex digits, the algorithm optional, a repository allowed)
        var (code, output, errors) = await RunAt(now, reference, "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        // then the explanation is the same
        code.Should().Be(0, errors);
        output.Should().Be(whole.Out);
        Lines(output)[0].Should().Be($"library/app@{Old}: collected by the next run");
    }

    [Test]
    public async Task TheReadmesLayerPrefix_ExplainsTheLayerOfTheTaggedIndexChild()
    {
        var (code, output, errors) = await Run("sha256:6d0c74d9", "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        code.Should().Be(0, errors);
        Lines(output).Should().HaveCount(5);
        Lines(output)[0].Should().Be("blob sha256:6d0c74d9ad7894d3731e497e1111eaa3002ddeb1fdb3dfa477dfac74958e1ed6: kept (tagged)");
        Lines(output)[1].Should().Be("    tag library/multi:latest");
    }

    [Test]
    public async Task RepositoryColonTag_ExplainsTheTaggedManifestOfThatRepository()
    {
        // given library/app:v1
        var v1 = TagTarget("library/app", "v1");

        // when it is explained by its tag
        var (code, output, errors) = await Run("library/app:v1", "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        // then it is v1's manifest, in library/app only (and the blob it is stored as)
        code.Should().Be(0, errors);
        Lines(output).Should().Equal($"library/app@{v1}: kept (tagged)", "    tag library/app:v1", $"  → manifest {v1}",
            $"blob {v1}: kept (tagged)", "    tag library/app:v1", $"  → manifest {v1}", $"  → manifest blob {v1}");
    }

    [TestCase("45365", "'45365' is not a digest, a digest prefix of at least 6 lower-case hex digits (sha256:6d0c74 or 6d0c74), REPOSITORY:TAG or REPOSITORY@DIGEST")]
    [TestCase("sha256:45365F", "is not a digest, a digest prefix of at least 6")]
    [TestCase("md5:45365f", "'md5:45365f': md5 has no tag '45365f' in the store.", Description = "not a digest algorithm: a repository and a tag")]
    [TestCase("000000", "'000000': no manifest or blob in the store has a digest starting so.")]
    [TestCase("library/multi@000000", "'library/multi@000000': no manifest of library/multi or blob in the store has a digest starting so.")]
    [TestCase("library/app:v9", "'library/app:v9': library/app has no tag 'v9' in the store.")]
    [TestCase("library/app:-v1", "'library/app:-v1': '-v1' is not a tag")]
    [TestCase("Library/App:v1", "'Library/App:v1': 'Library/App' is not a repository name")]
    public async Task AReferenceThatNamesNothing_ExitsWith2_SayingWhy(string reference, string message)
    {
        var (code, output, errors) = await Run(reference, "--delete-untagged", "true", "--store", Store, "--time-window", "0");

        code.Should().Be(2);
        output.Should().BeEmpty();
        errors.Should().Contain($"explain: ").And.Contain(message);
    }

    [Test]
    public async Task AnAmbiguousPrefix_ExitsWith2_ListingEveryMatch()
    {
        // given a LiteDB store holding two blobs whose digests share their first 6 hex digits
        var (first, second) = TwoContentsSharingADigestPrefix(6);
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        Digest a, b;
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), new FakeTimeProvider(GcCommandTests.Now - TimeSpan.FromDays(3)))))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            (a, b) = (r.Blob(first), r.Blob(second));
        }

        var prefix = a.ToString()[..("sha256:".Length + 6)];
        b.ToString().Should().StartWith(prefix);

        // when explain is given that prefix, then a longer one
        var ambiguous = await GcCommandTests.Run("explain", prefix, "--delete-untagged", "true", "--store", $"litedb:{Path.Combine(folder, "harbor-gc.db")}");
        var unique = await GcCommandTests.Run("explain", a.ToString()[..30], "--delete-untagged", "true", "--store", $"litedb:{Path.Combine(folder, "harbor-gc.db")}");

        // then the first exits 2 listing both blobs in order, and the second explains the one it names
        ambiguous.Code.Should().Be(2);
        ambiguous.Out.Should().BeEmpty();
        var sorted = new[] { a.ToString(), b.ToString() }.Order(StringComparer.Ordinal).ToArray();
        ambiguous.Err.Should().Contain($"explain: '{prefix}' is ambiguous: 2 digests start so; give more digits.\n  blob {sorted[0]}\n  blob {sorted[1]}");
        unique.Code.Should().Be(0, unique.Err);
        Lines(unique.Out)[0].Should().Be($"blob {a}: collected by the next run");
    }

    /// <summary>Two texts whose SHA-256 digests start with the same <paramref name="digits"/> hex digits (found by counting: about 4,000 hashes for 6).</summary>
    private static (string First, string Second) TwoContentsSharingADigestPrefix(int digits)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; ; i++)
        {
            var content = $"blob {i}";
            var prefix = Digest.Sha256Of(System.Text.Encoding.UTF8.GetBytes(content)).Hex[..digits];
            if (seen.TryGetValue(prefix, out var other))
            {
                return (other, content);
            }

            seen[prefix] = content;
        }
    }

    [Test]
    public async Task LiteDbStore_SharedLayerIsKeptByTheTaggedImage_AndTheDeadImagesOwnLayerIsCollected()
    {
        // given a LiteDB store where an untagged image and a tagged one (sharing a layer) were pushed three days ago
        using var stores = new StoreFactory(StoreKind.LiteDb);
        var folder = stores.NewFolder();
        var database = Path.Combine(folder, "harbor-gc.db");
        Digest shared, deadLayer;
        Artifact live;
        using (var store = new TestStore(LiteDbRegistryStore.Open(StoreFactory.Options(folder, create: true), new FakeTimeProvider(GcCommandTests.Now - TimeSpan.FromDays(3)))))
        {
            var r = new GcCommandLiteDbTests.ScenarioRegistryOver(store);
            shared = r.Blob("shared");
            deadLayer = r.Blob("dead layer");
            r.Image(r.Blob("dead config"), shared, deadLayer);
            live = r.Image(r.Blob("live config"), shared);
            store.PutTag(live.Repository, "v1", live.Digest);
        }

        var kept = await GcCommandTests.Run("explain", shared.ToString(), "--delete-untagged", "true", "--store", $"litedb:{database}");
        var collected = await GcCommandTests.Run("explain", deadLayer.ToString(), "--delete-untagged", "true", "--store", $"litedb:{database}");

        kept.Code.Should().Be(0, kept.Err);
        Lines(kept.Out).Should().Equal($"blob {shared}: kept (tagged)", "    tag library/app:v1", $"  → manifest {live.Digest}", $"  → layer {shared}");
        collected.Code.Should().Be(0, collected.Err);
        Lines(collected.Out)[0].Should().Be($"blob {deadLayer}: collected by the next run");
        Lines(collected.Out)[1].Should().StartWith("  referenced only by collected artifacts (library/app@");
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    private static Digest TagTarget(string repository, string tag) =>
        Digest.Parse(File.ReadAllText(Path.Combine(Sample, "docker", "registry", "v2", "repositories", repository, "_manifests", "tags", tag, "current", "link")).Trim());

    private static JsonElement ReadBlob(Digest digest)
    {
        var hex = digest.ToString()["sha256:".Length..];
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Sample, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data")));
        return json.RootElement.Clone();
    }
}
