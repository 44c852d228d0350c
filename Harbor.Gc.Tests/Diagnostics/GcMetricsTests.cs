using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Harbor.Gc.Collection;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Tests.Runner;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Diagnostics;

/// <summary>The "Harbor.Gc" meter (System.Diagnostics.Metrics), read with a <see cref="MeterListener"/> as an exporter would.</summary>
public class GcMetricsTests
{
    private DistributionTree _tree = null!;

    [SetUp]
    public void SetUp()
    {
        // given a Distribution tree with a tagged image, an untagged one sharing its base layer, and an upload abandoned 3 days ago
        _tree = new DistributionTree(GcCommandTests.Now);
        _tree.Image("library/app", "v1", TimeSpan.FromDays(3), "v1", "base", "app1");
        _tree.Image("library/app", "old", TimeSpan.FromDays(3), null, "base", "old-only");
        _tree.UnfinishedUpload("library/app", "partial"u8.ToArray(), TimeSpan.FromDays(3));
    }

    [TearDown]
    public void TearDown() => _tree.Dispose();

    [Test]
    public async Task RealRun_EmitsItsDeletions_AndItsDuration()
    {
        using var meters = new TestMeterFactory();
        using var recorder = new Recorder(meters);
        var collector = Collector(meters);

        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true });

        result.ArtifactsDeleted.Should().Be(1);
        recorder.Sum("harbor_gc.artifacts.deleted").Should().Be(result.ArtifactsDeleted);
        recorder.Sum("harbor_gc.blobs.deleted").Should().Be(result.BlobsDeleted).And.Be(3);
        recorder.Sum("harbor_gc.bytes.freed").Should().Be(result.BytesFreed).And.BePositive();
        recorder.Sum("harbor_gc.uploads.deleted").Should().Be(result.UploadsDeleted).And.Be(1);
        recorder.Sum("harbor_gc.upload_bytes.freed").Should().Be(result.UploadBytesFreed).And.Be(7);
        recorder.Tags("harbor_gc.blobs.deleted").Should().HaveCount(3).And.AllSatisfy(t => t.Should().Contain("store.kind", "distribution"));
        var duration = recorder.Measurements("harbor_gc.run.duration").Should().ContainSingle().Subject;
        duration.Value.Should().Be((result.FinishedAt - result.StartedAt).TotalSeconds);
        duration.Tags.Should().Contain("dry_run", false).And.Contain("store.kind", "distribution").And.Contain("outcome", "completed");
    }

    [Test]
    public async Task RunThatFailsMidSweep_HasCountedEachDeletionMadeBeforeTheFailure()
    {
        // given a real run over a store that fails (as a crash would) at its sixth change: after the untagged artifact and the
        // first of its three blobs (four changes: mark, commit, bytes, record) were deleted
        using var meters = new TestMeterFactory();
        using var recorder = new Recorder(meters);
        var time = new FakeTimeProvider(GcCommandTests.Now);
        var store = new CrashingStore(new DistributionRegistryStore(_tree.Root, time) { GracePeriod = TimeSpan.Zero }, crashAt: 6);
        var collector = new GarbageCollector(store, time, meterFactory: meters);
        var plan = await collector.PlanAsync(new GcOptions { DeleteUntagged = true });

        // when it runs, and fails
        var act = () => collector.ExecuteAsync(plan, new GcOptions { DeleteUntagged = true, Workers = 1 });
        await act.Should().ThrowAsync<SimulatedCrashException>();

        // then the counters already hold what was deleted before the failure: the artifact and exactly the blobs now gone
        var gone = plan.Blobs.Where(b => !_tree.HasBlob(b.Digest)).ToList();
        gone.Should().ContainSingle("the sweep failed on the second blob");
        recorder.Sum("harbor_gc.artifacts.deleted").Should().Be(1);
        recorder.Sum("harbor_gc.blobs.deleted").Should().Be(1);
        recorder.Sum("harbor_gc.bytes.freed").Should().Be(gone[0].Size);
        recorder.Sum("harbor_gc.uploads.deleted").Should().Be(0);
        recorder.Measurements("harbor_gc.run.duration").Single().Tags.Should().Contain("outcome", "failed");
    }

    [Test]
    public async Task DryRun_EmitsNoDeletionCounter_OnlyItsDuration()
    {
        using var meters = new TestMeterFactory();
        using var recorder = new Recorder(meters);
        var collector = Collector(meters);

        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true, DryRun = true });

        result.Plan.Summary.Blobs.Should().Be(3, "there is something a real run would delete");
        recorder.Measurements().Select(m => m.Instrument).Should().Equal("harbor_gc.run.duration");
        recorder.Measurements("harbor_gc.run.duration").Single().Tags.Should().Contain("dry_run", true).And.Contain("outcome", "completed");
    }

    [Test]
    public async Task RunCancelledWhilePlanning_RecordsAStoppedDuration_AndNoDeletion()
    {
        using var meters = new TestMeterFactory();
        using var recorder = new Recorder(meters);
        var collector = Collector(meters);

        var result = await collector.RunAsync(new GcOptions { DeleteUntagged = true }, new CancellationToken(canceled: true));

        (result.Outcome, result.Planned, result.BlobsDeleted).Should().Be((GcOutcome.Stopped, false, 0));
        recorder.Measurements().Select(m => m.Instrument).Should().Equal("harbor_gc.run.duration");
        recorder.Measurements("harbor_gc.run.duration").Single().Tags.Should().Contain("outcome", "stopped");
    }

    private GarbageCollector Collector(TestMeterFactory meters)
    {
        var time = new FakeTimeProvider(GcCommandTests.Now);
        return new GarbageCollector(new DistributionRegistryStore(_tree.Root, time) { GracePeriod = TimeSpan.Zero }, time, meterFactory: meters);
    }

    [Test]
    public void WithoutAFactory_TheSharedMeterIsNamedHarborGc() =>
        GcMetrics.Create(null).Meter.Name.Should().Be(GcMetrics.MeterName).And.Be("Harbor.Gc");

    /// <summary>A meter factory of the test's own, so the listener hears this test's collector only.</summary>
    private sealed class TestMeterFactory : IMeterFactory
    {
        public ConcurrentBag<Meter> Meters { get; } = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            Meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in Meters)
            {
                meter.Dispose();
            }
        }
    }

    private sealed record Measurement(string Instrument, double Value, Dictionary<string, object?> Tags);

    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Measurement> _measurements = new();

        public Recorder(TestMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Meter.Name == GcMetrics.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Add(i, value, tags));
            _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Add(i, value, tags));
            _listener.Start();
        }

        public IReadOnlyList<Measurement> Measurements(string? instrument = null) => [.. _measurements.Where(m => instrument is null || m.Instrument == instrument)];

        public long Sum(string instrument) => (long)Measurements(instrument).Sum(m => m.Value);

        public IEnumerable<Dictionary<string, object?>> Tags(string instrument) => Measurements(instrument).Select(m => m.Tags);

        public void Dispose() => _listener.Dispose();

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            _measurements.Enqueue(new Measurement(instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
    }
}
