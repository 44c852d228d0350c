using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Storage;
using Harbor.Gc.Tests.Support;
using static Harbor.Gc.Tests.Support.Manifests;

namespace Harbor.Gc.Tests.Registry;

/// <summary>
/// The registry API checks before it writes (children present, tag not immutable); another writer acting between the check and
/// the write must not slip past it. The store's write checks again in the same atomic step (one LiteDB transaction, the in-memory
/// store's lock). Each test forces the interleaving with a hook that runs just before the API's write reaches the store.
/// </summary>
public class RegistryApiRaceTests(StoreKind kind) : RegistryApiFixture(kind)
{
    /// <summary>The API over the fixture's store, with <paramref name="before"/> run once before the first call named <paramref name="method"/>.</summary>
    private RegistryApi ApiWithHook(string method, Action before, Action? counted = null)
    {
        var done = false;
        return new RegistryApi(HookedStore.Create(Store.Inner, (name, _) =>
        {
            if (name != method)
            {
                return;
            }

            counted?.Invoke();
            if (!done)
            {
                done = true;
                before();
            }
        }), Rules);
    }

    /// <summary>
    /// The API over the fixture's store, with a GC sweep of <paramref name="blob"/> run just before the push's write reaches the store
    /// (after the API's check found the bytes): marked delete, then deleting, its bytes deleted, and its record when
    /// <paramref name="theRecordToo"/> (else left saying deleting, as a sweep stopped there leaves it).
    /// </summary>
    private RegistryApi ApiWhoseSweepDeletesAfterTheCheck(Digest blob, bool theRecordToo) =>
        ApiWithHook(nameof(IWritableRegistryStore.PutArtifactAsync), () =>
        {
            Store.TryUpdateBlobStatus(blob, BlobStatusSet.None, BlobStatus.Delete).Should().BeTrue();
            Store.TryUpdateBlobStatus(blob, BlobStatusSet.Delete, BlobStatus.Deleting).Should().BeTrue();
            Store.DeleteBlobContent(blob);
            if (theRecordToo)
            {
                Store.Inner.DeleteBlobRecordAsync(blob).AsTask().GetAwaiter().GetResult();
            }
        });

    [Test]
    public async Task PushIndex_WhoseChildIsDeletedAfterTheCheck_IsRefused_AndNothingIsStored()
    {
        // given an image, and an index listing it pushed by tag; the image is deleted after the API checked the children
        var child = await PushImage();
        var index = Index([child.Digest]);
        var api = ApiWithHook(nameof(IWritableRegistryStore.PutArtifactAsync), () =>
            Store.Inner.DeleteArtifactAsync(child.Key, Store.GetArtifact(child.Key)!.Version).AsTask().GetAwaiter().GetResult());

        // when the push reaches the store's write
        var push = async () => await api.PushManifestAsync(Repo, "v1", index);

        // then it is refused naming the child (MANIFEST_BLOB_UNKNOWN), and neither the index nor its tag exists
        (await push.Should().ThrowAsync<ManifestReferencesMissingException>()).Which.MissingChildren.Should().Equal(child.Digest);
        Store.GetArtifact(new ArtifactKey(Repo, Digest.Sha256Of(index))).Should().BeNull();
        Store.GetTags().Should().BeEmpty();
    }

    [Test]
    public async Task PushManifest_WhoseLayerASweepDeletesAfterTheCheck_IsRefused_AndNothingIsStored()
    {
        // given an image whose layer a GC sweep deletes (delete, deleting, bytes, record) after the API checked it
        var layer = await NewBlob();
        var content = Image(await NewBlob(), [layer]);
        var api = ApiWhoseSweepDeletesAfterTheCheck(layer, theRecordToo: true);

        var push = async () => await api.PushManifestAsync(Repo, "v1", content);

        (await push.Should().ThrowAsync<MissingBlobException>()).Which.Digest.Should().Be(layer);
        Store.GetArtifact(new ArtifactKey(Repo, Digest.Sha256Of(content))).Should().BeNull();
        Store.GetTags().Should().BeEmpty();
    }

    [Test]
    public async Task PushManifest_WhoseLayerASweepIsDeletingAfterTheCheck_IsRefusedRetryably_AndNothingIsStored()
    {
        // given an image whose layer a GC sweep marks and deletes the bytes of after the API found them (the store is told the API saw
        // them, so it does not look for them again), its record left saying "deleting", as a sweep stopped right there leaves it
        var layer = await NewBlob();
        var content = Image(await NewBlob(), [layer]);
        var api = ApiWhoseSweepDeletesAfterTheCheck(layer, theRecordToo: false);

        // when the push reaches the store's write
        var push = async () => await api.PushManifestAsync(Repo, "v1", content);

        // then the record refuses it, retryably (the bytes seen before are not taken for present now), and nothing is stored
        (await push.Should().ThrowAsync<BlobBeingDeletedException>()).Which.Digest.Should().Be(layer);
        Store.GetArtifact(new ArtifactKey(Repo, Digest.Sha256Of(content))).Should().BeNull();
        Store.GetTags().Should().BeEmpty();
        GcInvariants.AssertNoArtifactLostABlob(Store, "after the refused push");
    }

    [Test]
    public async Task PushManifest_ReusingABlobWhoseDeletionFailed_IsRefusedUntilARunDeletesIt_AndNoAcceptedPushLosesIt()
    {
        // given a layer an earlier run committed to deleting but could not delete (its record says deleteFailed, its bytes are still
        // there), and the plan of the next run, which finishes it with no re-check (its bytes may be half gone)
        var layerBytes = Encoding.UTF8.GetBytes("a layer whose deletion failed");
        var layer = await PushBlob(layerBytes);
        Store.TryUpdateBlobStatus(layer, BlobStatusSet.None, BlobStatus.DeleteFailed).Should().BeTrue();
        var collector = new GarbageCollector(Store.Inner, Time);
        var plan = await collector.PlanAsync(new GcOptions());
        plan.Blobs.Should().ContainSingle(b => b.Digest == layer).Which.Status.Should().Be(BlobStatus.DeleteFailed);

        // when a client pushes an image that reuses the layer (the registry still finds its bytes), and then the run executes its plan
        var content = Image(await NewBlob(), [layer]);
        Exception? refused = null;
        try
        {
            await Api.PushManifestAsync(Repo, "v1", content);
        }
        catch (Exception e)
        {
            refused = e;
        }

        await collector.ExecuteAsync(plan, new GcOptions());

        // then the push was refused as retryable (accepted, it would have lost the layer to the run), and once the client uploads
        // the layer again after the run, its push goes through and keeps its layer
        if (refused is null)
        {
            GcInvariants.AssertNoArtifactLostABlob(Store, "the push was accepted before the run");
        }

        refused.Should().BeOfType<BlobBeingDeletedException>();
        Store.GetBlob(layer).Should().BeNull("the run finished the deletion");
        await PushBlob(layerBytes);
        var pushed = await Api.PushManifestAsync(Repo, "v1", content);
        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(pushed.Digest);
        Store.HasBlobContent(layer).Should().BeTrue();
        GcInvariants.AssertNoArtifactLostABlob(Store, "after the retry");
    }

    [Test]
    public async Task Tag_ThatAnotherWriterCreatesAsImmutableAfterTheCheck_IsRefused_AndKeepsTheOtherWritersDigest()
    {
        // given the immutable tag rule "v1", no tag v1 yet, and two images; another client tags the second image v1 right after this
        // client's check found no tag
        Rules.Add("v1", "release tags never move");
        var mine = await PushImage();
        var theirs = await PushImage();
        var api = ApiWithHook(nameof(IWritableRegistryStore.PutTagAsync), () => Store.PutTag(Repo, "v1", theirs.Digest));

        // when this client's tag write reaches the store
        var tag = async () => await api.TagAsync(Repo, "v1", mine.Digest);

        // then the store finds the tag changed, the API checks again, and refuses to move the now existing immutable tag
        (await tag.Should().ThrowAsync<ImmutableTagException>()).WithMessage("*release tags never move*");
        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(theirs.Digest);
    }

    [Test]
    public async Task MutableTag_MovedByAnotherWriterBeforeTheWrite_IsWrittenOnce_WithoutACompareAndSwap_TheLastWriterWins()
    {
        // given a mutable tag "latest" (no rule matches it) moved by another client right before this client's write
        var first = await PushImage("latest");
        var theirs = await PushImage();
        var mine = await PushImage();
        var writes = 0;
        var api = ApiWithHook(nameof(IWritableRegistryStore.PutTagAsync), () => Store.PutTag(Repo, "latest", theirs.Digest), () => writes++);

        var tagged = await api.TagAsync(Repo, "latest", mine.Digest);

        // then no rule could refuse the move, so there was nothing to check, read or compare: one write, and the last writer wins
        writes.Should().Be(1);
        tagged.Digest.Should().Be(mine.Digest);
        Store.GetTags().Should().ContainSingle().Which.Digest.Should().Be(mine.Digest);
        first.Digest.Should().NotBe(mine.Digest);
    }
}
