using System.Text;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Storage;

// Stale unfinished uploads (issue 3): a registry keeps every unfinished blob upload under repositories/NAME/_uploads/UUID/
// until it is committed or cancelled; an abandoned one stays forever unless something removes it.
public partial class DistributionRegistryStoreTests
{
    private static readonly byte[] Partial = Encoding.UTF8.GetBytes("hello-partial-bytes");

    private GarbageCollector Collector(IRegistryStore? store = null) => new(store ?? Store(), _time);

    [Test]
    public async Task StaleUpload_IsPlannedWithWhatTheRegistryWrote_AndARealRunRemovesItsFolder()
    {
        // given an upload started and last written 10 days ago (a docker push that died), next to a tagged image
        _tree.Image("library/app", "v1", Old, "v1", "base", "app1");
        var id = _tree.UnfinishedUpload("library/app", Partial, Old);
        var before = _tree.Files();

        // when planned
        var plan = await Collector().PlanAsync(new GcOptions());

        // then it is planned as the registry recorded it
        plan.Uploads.Should().Equal(new BlobUpload(RepositoryName.Parse("library/app"), id, Now - Old, Partial.Length, Now - Old));
        plan.Summary.Uploads.Should().Be(1);
        plan.Summary.UploadBytes.Should().Be(Partial.Length);
        plan.Warnings.Should().BeEmpty();

        // and a real run removes the folder with its data and hash states, and nothing else
        var result = await Collector().ExecuteAsync(plan, new GcOptions());

        result.UploadsDeleted.Should().Be(1);
        result.UploadBytesFreed.Should().Be(Partial.Length);
        result.BytesFreed.Should().Be(0, "blob bytes and upload bytes are counted apart");
        _tree.HasUpload("library/app", id).Should().BeFalse();
        _tree.Files().Should().BeEquivalentTo(before.Where(f => !f.Contains(id, StringComparison.Ordinal)));
        (await Collector().PlanAsync(new GcOptions())).Uploads.Should().BeEmpty("a second run finds nothing more");
    }

    [TestCase(10, null, Description = "started 10 minutes ago: a push in progress")]
    [TestCase(14400, 10, Description = "started 10 days ago, data written 10 minutes ago: a slow chunked push still going")]
    [TestCase(110, 110, Description = "started and written 1 h 50 min ago: inside the default 2 h window")]
    public async Task UploadInsideTheWindow_ByItsStartOrItsLastWrite_IsKept(int startedMinutesAgo, int? writtenMinutesAgo)
    {
        var id = _tree.UnfinishedUpload("library/app", Partial, TimeSpan.FromMinutes(startedMinutesAgo),
            writtenMinutesAgo is { } w ? TimeSpan.FromMinutes(w) : null);

        var result = await Collector().RunAsync(new GcOptions());

        result.Plan.Uploads.Should().BeEmpty("an upload is stale only when both its start and its last write are older than the window");
        result.UploadsDeleted.Should().Be(0);
        _tree.HasUpload("library/app", id).Should().BeTrue();
    }

    [Test]
    public async Task UploadThatReceivedBytesAfterThePlan_IsKeptByARealRunApplyingTheOldPlan()
    {
        // given a plan that removes an old upload, and another one
        var resumed = _tree.UnfinishedUpload("library/app", Partial, Old);
        var abandoned = _tree.UnfinishedUpload("other/app", Partial, Old);
        var plan = await Collector().PlanAsync(new GcOptions());
        plan.Uploads.Select(u => u.Id).Should().BeEquivalentTo([resumed, abandoned]);

        // when the client resumes the first one (a PATCH appends bytes) before the plan is applied
        _tree.AppendToUpload("library/app", resumed, Encoding.UTF8.GetBytes("-more"));
        var result = await Collector().ExecuteAsync(plan, new GcOptions());

        // then it is live again and kept, with all its bytes; the abandoned one goes
        result.UploadsSkipped.Select(u => u.Id).Should().Equal(resumed);
        result.UploadsDeleted.Should().Be(1);
        _tree.HasUpload("library/app", resumed).Should().BeTrue();
        File.ReadAllText(Path.Combine(_tree.UploadFolder("library/app", resumed), "data")).Should().Be("hello-partial-bytes-more");
        _tree.HasUpload("other/app", abandoned).Should().BeFalse();
    }

    [TestCase("yesterday", Description = "not a time")]
    [TestCase("2026-02-01 10:00:00Z", Description = "a space instead of T")]
    [TestCase("2026-02-01T10:00:00Z\n", Description = "a trailing newline, which Distribution never writes and Go's parser rejects")]
    [TestCase("2026-02-30T10:00:00Z", Description = "no such day")]
    [TestCase(null, Description = "no startedat file at all")]
    public async Task MalformedOrMissingStartedAt_IsReported_AndTheUploadIsDatedByItsLastWrite(string? startedAt)
    {
        // given two uploads whose startedat the registry cannot read (so it can never resume them): one written long ago, one just now
        var old = _tree.UnfinishedUpload("library/app", Partial, Old, startedAtText: startedAt, withStartedAt: startedAt is not null);
        var fresh = _tree.UnfinishedUpload("library/app", Partial, Fresh, startedAtText: startedAt, withStartedAt: startedAt is not null);

        var result = await Collector().RunAsync(new GcOptions());

        // then both are reported, the old one goes, the one written inside the window stays
        foreach (var id in new[] { old, fresh })
        {
            result.Plan.Warnings.Should().ContainSingle(w => w.Location == Path.Combine(_tree.UploadFolder("library/app", id), "startedat"))
                .Which.Message.Should().Contain(startedAt is null ? "no startedat file" : "does not hold an RFC 3339 time")
                .And.EndWith("so it is dated by its last write");
        }

        result.Plan.Uploads.Should().ContainSingle().Which.Should().Be(
            new BlobUpload(RepositoryName.Parse("library/app"), old, null, Partial.Length, Now - Old));
        _tree.HasUpload("library/app", old).Should().BeFalse();
        _tree.HasUpload("library/app", fresh).Should().BeTrue();
    }

    [TestCase("2026-03-01T12:00:00Z", "2026-03-01T12:00:00+00:00", Description = "as Distribution writes it")]
    [TestCase("2026-03-01T12:00:00.123456789Z", "2026-03-01T12:00:00.1234567+00:00", Description = "a fraction, cut to .NET's 100 ns")]
    [TestCase("2026-03-01T14:30:00+02:30", "2026-03-01T12:00:00+00:00", Description = "an offset")]
    public void StartedAt_RFC3339_IsRead(string text, string expected)
    {
        DistributionLayout.TryParseStartedAt(Encoding.ASCII.GetBytes(text), out var startedAt, out var problem).Should().BeTrue(problem);
        startedAt.Should().Be(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestCase("")]
    [TestCase(" 2026-03-01T12:00:00Z")]
    [TestCase("2026-03-01T12:00:00")]
    [TestCase("2026-03-01t12:00:00z")]
    [TestCase("2026-03-01T24:00:00Z")]
    [TestCase("2026-03-01T12:00:00.Z")]
    [TestCase("2026-03-01T12:00Z")]
    [TestCase("2026-03-01T12:00:00+0200")]
    [TestCase("٢٠٢٦-03-01T12:00:00Z", Description = "digits that are not ASCII")]
    public void StartedAt_AnythingElse_IsAProblem(string text)
    {
        DistributionLayout.TryParseStartedAt(Encoding.UTF8.GetBytes(text), out _, out var problem).Should().BeFalse();
        problem.Should().StartWith("startedat does not hold an RFC 3339 time");
    }

    [Test]
    public void StartedAt_LongerThanATime_IsAProblem() =>
        DistributionLayout.TryParseStartedAt(new byte[DistributionLayout.MaxStartedAtLength + 1], out _, out _).Should().BeFalse();

    [TestCase("../../../_layers", Description = "up into the repository")]
    [TestCase("..", Description = "the uploads folder itself")]
    [TestCase("a/b", Description = "two segments")]
    [TestCase("..\\..\\x", Description = "Windows separators")]
    [TestCase(".hidden", Description = "a dot")]
    [TestCase("", Description = "empty: the uploads folder itself")]
    public async Task UploadIdWithPathTricks_IsRefusedByTheStore_BeforeAnythingIsTouched(string id)
    {
        // given a stale upload and a tree snapshot
        var real = _tree.UnfinishedUpload("library/app", Partial, Old);
        var store = Store();
        await Collector(store).PlanAsync(new GcOptions());
        var before = _tree.Files();

        // when asked to delete an upload whose id is a path trick (a tampered plan, a buggy caller)
        var act = async () => await store.DeleteUploadAsync(new BlobUpload(RepositoryName.Parse("library/app"), id, Now - Old, 0, Now - Old));

        // then it refuses, saying why, and nothing is deleted
        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("is not an upload id");
        _tree.Files().Should().BeEquivalentTo(before);
        _tree.HasUpload("library/app", real).Should().BeTrue();
    }

    [TestCase("not-a-uuid")]
    [TestCase("..evil")]
    [TestCase("c19a6b9b-3625-4b61-8aad-18e1a7f91f8e-extra")]
    public async Task FolderUnderUploadsNotNamedByAUuid_IsReported_AndLeftAlone(string name)
    {
        // Distribution names upload folders by a UUID (its own purger ignores anything else, too)
        var folder = Path.Combine(_tree.Repo("library/app"), "_uploads", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "data"), "?");
        Directory.SetLastWriteTimeUtc(folder, (Now - Old).UtcDateTime);

        var result = await Collector().RunAsync(new GcOptions());

        result.Plan.Uploads.Should().BeEmpty();
        result.Plan.Warnings.Should().Contain(w => w.Location == folder && w.Message.Contains("not an upload folder", StringComparison.Ordinal));
        File.Exists(Path.Combine(folder, "data")).Should().BeTrue();
    }

    [Test]
    public async Task DryRunPlan_IsExactlyWhatARealRunDeletes()
    {
        // given stale uploads in two repositories (one holding nothing but the upload), a fresh one, and one with a broken startedat
        var stale = new[]
        {
            ("library/app", _tree.UnfinishedUpload("library/app", Partial, Old)),
            ("library/app", _tree.UnfinishedUpload("library/app", [], TimeSpan.FromHours(3))),
            ("only/uploads", _tree.UnfinishedUpload("only/uploads", Partial, Old)),
            ("library/app", _tree.UnfinishedUpload("library/app", Partial, Old, startedAtText: "garbage")),
        };
        var fresh = _tree.UnfinishedUpload("library/app", Partial, Fresh);
        var before = _tree.Files();

        var dry = await Collector().RunAsync(new GcOptions { DryRun = true });
        _tree.Files().Should().BeEquivalentTo(before, "a dry run touches nothing");
        var real = await Collector().RunAsync(new GcOptions { Workers = 3 });

        dry.Plan.Uploads.Select(u => (u.Repository?.Value, u.Id)).Should().BeEquivalentTo(stale);
        real.Plan.Uploads.Should().Equal(dry.Plan.Uploads, "a real run plans what the dry run listed");
        real.UploadsDeleted.Should().Be(dry.Plan.Uploads.Count);
        real.UploadBytesFreed.Should().Be(dry.Plan.Summary.UploadBytes);
        var removed = before.Except(_tree.Files()).Select(f => f.Split(Path.DirectorySeparatorChar)).Select(p => p[Array.IndexOf(p, "_uploads") + 1]).ToHashSet();
        removed.Should().BeEquivalentTo(stale.Select(s => s.Item2), "exactly the planned upload folders went");
        _tree.HasUpload("library/app", fresh).Should().BeTrue();
    }

    [Test]
    public async Task DeleteUntaggedOff_StillRemovesStaleUploads()
    {
        // a choice: --delete-untagged is about artifacts; an abandoned upload is never an artifact
        _tree.Image("library/app", "untagged", Old, null, "untagged-layer");
        var id = _tree.UnfinishedUpload("library/app", Partial, Old);

        var result = await Collector().RunAsync(new GcOptions { DeleteUntagged = false });

        result.Plan.Artifacts.Should().BeEmpty();
        result.UploadsDeleted.Should().Be(1);
        _tree.HasUpload("library/app", id).Should().BeFalse();
    }

    [Test]
    public async Task StoppedRun_StopsBetweenUploads_AndApplyingThePlanAgainFinishesIt()
    {
        // given a plan with three stale uploads
        var ids = Enumerable.Range(0, 3).Select(_ => _tree.UnfinishedUpload("library/app", Partial, Old)).ToList();
        var plan = await Collector().PlanAsync(new GcOptions());
        plan.Uploads.Should().HaveCount(3);

        // when the run is cancelled while deleting the first one
        using var cancel = new CancellationTokenSource();
        var stopping = new CrashingStore(Store()) { OnMutation = _ => cancel.Cancel() };
        var stopped = await Collector(stopping).ExecuteAsync(plan, new GcOptions(), cancel.Token);

        // then the upload in hand is finished and the others are left; the same plan applied again finishes, and a third time does nothing
        stopped.Outcome.Should().Be(GcOutcome.Stopped);
        stopped.UploadsDeleted.Should().Be(1);
        ids.Count(id => _tree.HasUpload("library/app", id)).Should().Be(2);
        var again = await Collector().ExecuteAsync(plan, new GcOptions());
        again.UploadsDeleted.Should().Be(2);
        var third = await Collector().ExecuteAsync(plan, new GcOptions());
        third.UploadsDeleted.Should().Be(0);
        third.UploadsSkipped.Should().BeEmpty("an upload already gone is not found, not changed");
        ids.Should().NotContain(id => _tree.HasUpload("library/app", id));
    }

    [Test]
    public async Task UploadThatCannotBeDeleted_IsReportedAsFailed_AndTheRunGoesOn()
    {
        // given two stale uploads, the first of which the file system refuses to delete (permissions, a file in use)
        var stuck = _tree.UnfinishedUpload("library/app", Partial, Old);
        var other = _tree.UnfinishedUpload("other/app", Partial, Old);
        var store = new InterceptingStore(Store())
        {
            BeforeDeleteUpload = u =>
            {
                if (u.Id == stuck)
                {
                    throw new UnauthorizedAccessException($"Access to the path '{u}' is denied.");
                }
            },
        };

        var result = await Collector(store).RunAsync(new GcOptions());

        // then it is reported with the error and left for the next run, and the other one goes
        result.Outcome.Should().Be(GcOutcome.Completed);
        result.UploadsFailed.Should().ContainSingle().Which.Should().Be((result.Plan.Uploads.Single(u => u.Id == stuck), $"Access to the path 'library/app/_uploads/{stuck}' is denied."));
        result.UploadsDeleted.Should().Be(1);
        _tree.HasUpload("library/app", stuck).Should().BeTrue();
        _tree.HasUpload("other/app", other).Should().BeFalse();
    }

    [Test]
    public async Task InMemoryStore_HasNoUploads_AndSaysSoHonestly()
    {
        IRegistryStore store = new Harbor.Gc.Storage.InMemory.InMemoryRegistryStore(_time);

        var outcome = await store.DeleteUploadAsync(new BlobUpload(RepositoryName.Parse("library/app"), Guid.NewGuid().ToString("D"), Now, 1, Now));

        outcome.Should().Be(UploadDeleteOutcome.NotFound);
    }
}
