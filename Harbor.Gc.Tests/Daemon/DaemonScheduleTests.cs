using Cronos;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Harbor.Gc.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>The scheduler on a fake clock: runs start at the cron occurrences, an occurrence during a run is skipped, a stop
/// cancels the run in progress (recorded stopped) and waits for it.</summary>
public class DaemonScheduleTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 1, TimeSpan.Zero);

    [Test]
    [CancelAfter(30_000)]
    public async Task Given_a_10_second_schedule_on_a_fake_clock_then_runs_start_at_each_occurrence_overlaps_are_skipped_and_stop_records_stopped()
    {
        using var stores = new StoreFactory(StoreKind.InMemory);
        var folder = stores.NewFolder();
        var time = new CountingClock(Start);
        var console = new StringWriter();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(console, time)));
        using var history = RunHistory.Open(Path.Combine(folder, "history.db"), create: true);
        var retention = new GatedRetention();
        var job = new DaemonJob
        {
            Name = "every-10s", Kind = JobKind.Retention, Store = "distribution:/nowhere", ScheduleText = "*/10 * * * * *",
            Schedule = CronExpression.Parse("*/10 * * * * *", CronFormat.IncludeSeconds), DryRun = true,
        };
        var config = new DaemonConfig("daemon.json", history.Path, TimeZoneInfo.Utc, [job]);
        using var service = new DaemonService(config, new JobRunner(history, retention, time, loggers), time, loggers.CreateLogger<DaemonService>());

        await service.StartAsync(CancellationToken.None);
        await Until(() => Logged(console).Contains("next run at 2026-03-01 12:00:10Z", StringComparison.Ordinal), "the loop waiting for 12:00:10");
        history.List(null, 10).Should().BeEmpty("the first occurrence is 12:00:10");

        // (the clock is moved only once the loop's wait is on it: a wait the loop measured before a move and started after it
        // would end that much later, on a clock that a test moves in jumps)
        await Until(() => time.Waits == 1, "the loop's wait for 12:00:10");

        // when the clock reaches 12:00:10, a run starts (and blocks until released); at 12:00:20 the next occurrence is skipped
        time.Advance(TimeSpan.FromSeconds(9));
        await Until(() => retention.Waiting == 1, "the run at 12:00:10");
        await Until(() => time.Waits == 2, "the loop's wait for 12:00:20");
        time.Advance(TimeSpan.FromSeconds(10));
        await Until(() => history.List(null, 10).Any(r => r.Status == RunStatus.Skipped), "the skipped run at 12:00:20");

        // when released, the run at 12:00:10 succeeds; the one at 12:00:30 starts and is stopped by the service's stop
        retention.Release();
        await Until(() => history.List(null, 10).Any(r => r.Status == RunStatus.Succeeded), "the first run's end");
        await Until(() => time.Waits == 3, "the loop's wait for 12:00:30");
        time.Advance(TimeSpan.FromSeconds(10));
        await Until(() => retention.Waiting == 1, "the run at 12:00:30");
        await service.StopAsync(CancellationToken.None);

        var runs = history.List(null, 10).OrderBy(r => r.Id).Select(r => (r.StartedAt, r.Status)).ToList();
        runs.Should().Equal(
            (Start.AddSeconds(9), RunStatus.Succeeded),
            (Start.AddSeconds(19), RunStatus.Skipped),
            (Start.AddSeconds(29), RunStatus.Stopped));
        history.List(null, 10).Should().OnlyContain(r => r.Trigger == RunTrigger.Schedule && r.Job == "every-10s");
    }

    private static string Logged(StringWriter console)
    {
        lock (console)
        {
            return console.ToString();
        }
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var i = 0; i < 400; i++)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(25), TimeProvider.System);
        }

        Assert.Fail($"timed out waiting for {what}");
    }

    /// <summary>A fake clock that counts the timers made on it: each wait of the scheduler's loop is one.</summary>
    private sealed class CountingClock(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private int _waits;

        public int Waits => Volatile.Read(ref _waits);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _waits);
            return timer;
        }
    }

    /// <summary>A retention run that waits until the test releases it (or the stop cancels it).</summary>
    private sealed class GatedRetention : IRetentionJob
    {
        private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Release()
        {
            var gate = _gate;
            _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
        }

        public async Task<RetentionRunResult> RunAsync(DaemonJob job, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _waiting);
            try
            {
                await _gate.Task.WaitAsync(cancellationToken);
                return new RetentionRunResult(true, 0, "{}");
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
    }
}
