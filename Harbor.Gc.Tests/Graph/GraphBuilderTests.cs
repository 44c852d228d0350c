using System.Collections.Immutable;
using Harbor.Gc.Collection;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.InMemory;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Graph;

/// <summary>
/// The graph is a faithful copy of the store's snapshot, whichever way it is built: with the store's keys or by digest,
/// interned on the caller's thread (small snapshots) or on the second thread (large ones).
/// </summary>
public class GraphBuilderTests
{
    [Test]
    public async Task LargeSnapshot_InternedOnTheSecondThread_CopiesEveryReferenceChildAndTag([Values(true, false)] bool keyed)
    {
        // given a registry large enough that the interner starts its thread
        var (store, _, description) = RandomRegistry.Build(seed: 5, scale: 250);
        IRegistryStore source = keyed ? store.Inner : Unkeyed(store.Inner);

        // when the graph is built from the snapshot
        using var builder = new GraphBuilder();
        await source.ReadSnapshotAsync(builder);
        var graph = builder.Build(default);

        // then the interner ran on its thread, and every artifact's references and children are the store's
        builder.InternedOnSecondThread.Should().BeTrue(description);
        AssertFaithful(graph, store);
    }

    [Test]
    public async Task LargeSnapshot_PlansTheSameWithAndWithoutKeys()
    {
        // the small-registry property test checks plans against the reference collector; this one checks that the keyed
        // and the by-digest paths of a threaded build agree on a registry too large for that (quadratic) reference
        var (store, time, description) = RandomRegistry.Build(seed: 9, scale: 250);

        var keyed = await new GarbageCollector(store.Inner, time).PlanAsync(new GcOptions());
        var unkeyed = await new GarbageCollector(Unkeyed(store.Inner), time).PlanAsync(new GcOptions());

        keyed.Artifacts.Should().NotBeEmpty(description);
        keyed.Blobs.Should().NotBeEmpty(description);
        unkeyed.Artifacts.Select(a => (a.Key, a.Reason, a.Stage)).Should().Equal(keyed.Artifacts.Select(a => (a.Key, a.Reason, a.Stage)));
        unkeyed.Blobs.Should().Equal(keyed.Blobs);
    }

    [Test]
    public async Task KeyedReference_ToABlobWithNoRecord_ResolvesByDigest()
    {
        // given an artifact whose layer record was removed from the store (a dangling reference)
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(RandomRegistry.Now);
        var store = new InMemoryRegistryStore(time);
        var ingest = new RegistryIngest(store);
        var layer = await ingest.PushBlobAsync("layer"u8.ToArray());
        var config = await ingest.PushBlobAsync("{}"u8.ToArray());
        var image = await ingest.PushManifestAsync(RepositoryName.Parse("app"), Support.Manifests.Image(config, [layer]));
        await store.DeleteBlobRecordAsync(layer);

        // when the graph is built with the store's keys
        using var builder = new GraphBuilder();
        await store.ReadSnapshotAsync(builder);
        var graph = builder.Build(default);

        // then the reference still names the layer's digest, which has no blob record
        AssertFaithful(graph, new TestStore(store));
        graph.Digests.TryGet(layer, out var id).Should().BeTrue();
        graph.DigestToBlob[id].Should().Be(-1);
        graph.ArtifactCount.Should().Be(1, image.Key.ToString());
    }

    [Test]
    public void ArtifactListedTwice_KeepsTheFirst_WithAWarning_AndTheOthersIntact()
    {
        var now = RandomRegistry.Now;
        Artifact Make(string repo, params Digest[] refs) => new()
        {
            Repository = RepositoryName.Parse(repo),
            Digest = refs[0],
            MediaType = MediaTypes.OciManifest,
            Kind = ManifestKind.OciManifest,
            PushedAt = now,
            References = [.. refs.Select((d, i) => new BlobReference(d, 10, null, i == 0 ? BlobReferenceKind.Manifest : BlobReferenceKind.Layer))],
        };
        var d = Enumerable.Range(0, 6).Select(i => Digest.Sha256Of([(byte)i])).ToArray();
        var first = Make("a", d[0], d[1]);
        var second = Make("a", d[2], d[3], d[4]);
        var third = Make("b", d[5], d[1], d[3]);

        using var builder = new GraphBuilder();
        builder.OnBegin(new SnapshotSizeHint(3, 0, 0, 0, 8));
        builder.OnArtifact(first);
        builder.OnArtifact(second);
        builder.OnArtifact(first with { References = [first.References[0]] });
        builder.OnArtifact(third);
        var graph = builder.Build(default);

        graph.ArtifactCount.Should().Be(3);
        graph.Warnings.Should().ContainSingle(w => w.Location == $"a@{d[0]}" && w.Message.Contains("twice", StringComparison.Ordinal));
        Enumerable.Range(0, 3).Select(a => graph.RefsOf(a).ToArray().Select(id => graph.Digests[id]))
            .Should().BeEquivalentTo(new[] { new[] { d[0], d[1] }, [d[2], d[3], d[4]], [d[5], d[1], d[3]] }, o => o.WithStrictOrdering());
    }

    private static void AssertFaithful(RegistryGraph graph, TestStore store)
    {
        var artifacts = store.GetArtifacts();
        graph.ArtifactCount.Should().Be(artifacts.Count);
        foreach (var artifact in artifacts)
        {
            graph.Digests.TryGet(artifact.Digest, out var digest).Should().BeTrue();
            graph.Repositories.Should().Contain(artifact.Repository);
            var repo = Array.IndexOf(graph.Repositories, artifact.Repository);
            graph.TryGetArtifact(repo, digest, out var a).Should().BeTrue($"{artifact.Key} is in the graph");
            graph.RefsOf(a).ToArray().Select(id => graph.Digests[id]).Should().Equal(artifact.References.Select(r => r.Digest), artifact.Key.ToString());
            graph.Children.AsSpan(graph.ChildStart[a], graph.ChildStart[a + 1] - graph.ChildStart[a]).ToArray()
                .Select(c => graph.ArtifactDigest[c]).Select(id => graph.Digests[id]).Should().BeEquivalentTo(artifact.Children, artifact.Key.ToString());
        }

        foreach (var blob in store.GetBlobs())
        {
            graph.Digests.TryGet(blob.Digest, out var id).Should().BeTrue();
            graph.BlobSize[graph.DigestToBlob[id]].Should().Be(blob.Size);
        }

        var tagged = store.GetTags().Select(t => new ArtifactKey(t.Repository, t.Digest)).ToHashSet();
        Enumerable.Range(0, graph.ArtifactCount).Where(a => (graph.Flags[a] & ArtifactFlags.Tagged) != 0).Select(graph.KeyOf)
            .Should().BeEquivalentTo(tagged);
    }

    /// <summary>The same store, read through a plain <see cref="ISnapshotSink"/>: every reference resolves by digest.</summary>
    private static InterceptingStore Unkeyed(IRegistryStore store) => new(store) { WrapSnapshotSink = sink => new PlainSink(sink) };

    private sealed class PlainSink(ISnapshotSink inner) : ISnapshotSink
    {
        public void OnBegin(SnapshotSizeHint hint) => inner.OnBegin(hint);

        public void OnBlob(Blob blob) => inner.OnBlob(blob);

        public void OnArtifact(Artifact artifact) => inner.OnArtifact(artifact);

        public void OnTag(Tag tag) => inner.OnTag(tag);

        public void OnAccessoryLink(AccessoryLink link) => inner.OnAccessoryLink(link);

        public void OnLayerLink(LayerLink link) => inner.OnLayerLink(link);

        public void OnUpload(BlobUpload upload) => inner.OnUpload(upload);

        public void OnProblem(StoreProblem problem) => inner.OnProblem(problem);
    }
}
