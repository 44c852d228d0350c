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
    public async Task LargeSnapshot_InternedOnTheSecondThread_CopiesEveryReferenceChildAndTag([Values] Keys keys)
    {
        // given a registry large enough that the interner starts its thread, read with the store's keys and reference kinds
        // (the in-memory store), with keys alone (a store that keeps no kinds), or by digest
        var (store, _, description) = RandomRegistry.Build(seed: 5, scale: 250);
        IRegistryStore source = keys switch
        {
            Keys.WithKinds => store.Inner,
            Keys.KeysOnly => new InterceptingStore(store.Inner) { WrapSnapshotSink = sink => new KeysOnlySink((IKeyedSnapshotSink)sink) },
            _ => Unkeyed(store.Inner),
        };

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

        var keyed = await new GarbageCollector(store.Inner, time).PlanAsync(new GcOptions { DeleteUntagged = true });
        var unkeyed = await new GarbageCollector(Unkeyed(store.Inner), time).PlanAsync(new GcOptions { DeleteUntagged = true });

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
    public void ManyTags_ResolvedOnTwoThreads_EachPointsAtItsArtifact_AndDanglingOnesWarnInTagOrder()
    {
        // given 20,000 tags (resolved in chunks on two threads from 8,192 on) over 3,000 artifacts in 30 repositories, with a
        // tag of every 1,000th pointing at a digest its repository does not have, and the same digest in two repositories
        var now = RandomRegistry.Now;
        var digests = Enumerable.Range(0, 3_000).Select(i => Digest.Sha256Of(BitConverter.GetBytes(i))).ToArray();
        var repositories = Enumerable.Range(0, 30).Select(r => RepositoryName.Parse($"project/repo-{r}")).ToArray();
        using var builder = new GraphBuilder();
        builder.OnBegin(new SnapshotSizeHint(3_000, 0, 20_000, 0, 3_000));
        for (var i = 0; i < digests.Length; i++)
        {
            builder.OnArtifact(new Artifact
            {
                Repository = repositories[i % 30],
                Digest = digests[i < 100 ? i + 31 : i], // digests 100..130 are in two repositories each
                MediaType = MediaTypes.OciManifest,
                Kind = ManifestKind.OciManifest,
                PushedAt = now,
                References = [],
            });
        }

        var tags = new List<Tag>();
        for (var t = 0; t < 20_000; t++)
        {
            var i = (t * 7) % 3_000;
            var digest = t % 1_000 == 999 ? Digest.Sha256Of("nowhere"u8) : digests[i < 100 ? i + 31 : i];
            tags.Add(new Tag(repositories[i % 30], $"t{t}", digest, now));
            builder.OnTag(tags[^1]);
        }

        // when built
        var graph = builder.Build(default);

        // then each tag points at the artifact of its repository and digest, dangling tags at none, each with a warning in tag order
        graph.Tags.Should().Equal(tags);
        for (var t = 0; t < tags.Count; t++)
        {
            if (t % 1_000 == 999)
            {
                graph.TagArtifact[t].Should().Be(-1);
                continue;
            }

            graph.KeyOf(graph.TagArtifact[t]).Should().Be(new ArtifactKey(tags[t].Repository, tags[t].Digest), tags[t].Name);
            (graph.Flags[graph.TagArtifact[t]] & ArtifactFlags.Tagged).Should().Be(ArtifactFlags.Tagged);
        }

        graph.Warnings.Select(w => w.Location).Should().Equal(tags.Where((_, t) => t % 1_000 == 999).Select(t => $"{t.Repository}:{t.Name}"));
        var taggedCount = Enumerable.Range(0, graph.ArtifactCount).Count(a => (graph.Flags[a] & ArtifactFlags.Tagged) != 0);
        taggedCount.Should().Be(graph.TagArtifact.Where(a => a >= 0).Distinct().Count());
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
            graph.RefKinds.AsSpan(graph.RefStart[a], graph.RefStart[a + 1] - graph.RefStart[a]).ToArray()
                .Should().Equal(artifact.References.Select(r => r.Kind), artifact.Key.ToString());
            graph.Children.AsSpan(graph.ChildStart[a], graph.ChildStart[a + 1] - graph.ChildStart[a]).ToArray()
                .Select(c => graph.ArtifactDigest[c]).Select(id => graph.Digests[id]).Should().BeEquivalentTo(artifact.Children, artifact.Key.ToString());
        }

        foreach (var blob in store.GetBlobs())
        {
            graph.Digests.TryGet(blob.Digest, out var id).Should().BeTrue();
            graph.BlobSize[graph.DigestToBlob[id]].Should().Be(blob.Size);
        }

        graph.Tags.Select((t, i) => graph.TagArtifact[i] < 0 ? null : (ArtifactKey?)graph.KeyOf(graph.TagArtifact[i]))
            .Should().Equal(graph.Tags.Select(t => (ArtifactKey?)new ArtifactKey(t.Repository, t.Digest)));
        var tagged = store.GetTags().Select(t => new ArtifactKey(t.Repository, t.Digest)).ToHashSet();
        Enumerable.Range(0, graph.ArtifactCount).Where(a => (graph.Flags[a] & ArtifactFlags.Tagged) != 0).Select(graph.KeyOf)
            .Should().BeEquivalentTo(tagged);
    }

    public enum Keys
    {
        WithKinds,
        KeysOnly,
        ByDigest,
    }

    /// <summary>Passes the store's keys but not its reference kinds, as a store that keeps keys alone does.</summary>
    private sealed class KeysOnlySink(IKeyedSnapshotSink inner) : IKeyedSnapshotSink
    {
        public void OnBegin(SnapshotSizeHint hint) => inner.OnBegin(hint);

        public void OnBlob(Blob blob) => inner.OnBlob(blob);

        public void OnBlob(Blob blob, int key) => inner.OnBlob(blob, key);

        public void OnArtifact(Artifact artifact) => inner.OnArtifact(artifact);

        public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys) => inner.OnArtifact(artifact, referenceKeys);

        public void OnArtifact(Artifact artifact, ReadOnlySpan<int> referenceKeys, ReadOnlySpan<BlobReferenceKind> referenceKinds) =>
            inner.OnArtifact(artifact, referenceKeys);

        public void OnTag(Tag tag) => inner.OnTag(tag);

        public void OnAccessoryLink(AccessoryLink link) => inner.OnAccessoryLink(link);

        public void OnLayerLink(LayerLink link) => inner.OnLayerLink(link);

        public void OnUpload(BlobUpload upload) => inner.OnUpload(upload);

        public void OnProblem(StoreProblem problem) => inner.OnProblem(problem);
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
