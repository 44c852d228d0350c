using Harbor.Gc.Scheduling;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>The schedule forms the daemon accepts: Harbor's six fields with seconds, the usual five, and the macros.</summary>
public class CronScheduleTests
{
    private static readonly DateTimeOffset From = new(2026, 3, 4, 10, 20, 30, TimeSpan.Zero); // a Wednesday

    [TestCase("0 0 3 * * *", "2026-03-05T03:00:00Z", "2026-03-06T03:00:00Z", TestName = "Harbor's six fields: daily at 03:00:00")]
    [TestCase("*/3 * * * * *", "2026-03-04T10:20:33Z", "2026-03-04T10:20:36Z", TestName = "six fields: every 3 seconds")]
    [TestCase("15 4 * * 0", "2026-03-08T04:15:00Z", "2026-03-15T04:15:00Z", TestName = "five fields: Sundays at 04:15")]
    [TestCase("*/10 * * * *", "2026-03-04T10:30:00Z", "2026-03-04T10:40:00Z", TestName = "five fields: every 10 minutes")]
    [TestCase("@hourly", "2026-03-04T11:00:00Z", "2026-03-04T12:00:00Z", TestName = "@hourly")]
    [TestCase("@daily", "2026-03-05T00:00:00Z", "2026-03-06T00:00:00Z", TestName = "@daily")]
    [TestCase("@weekly", "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z", TestName = "@weekly (Sunday midnight)")]
    public void Given_a_schedule_then_the_next_occurrences_are_the_expected_ones(string schedule, string first, string second)
    {
        CronSchedule.TryParse(schedule, out var cron).Should().BeNull();

        var next = cron!.GetNextOccurrence(From, TimeZoneInfo.Utc);
        next.Should().Be(DateTimeOffset.Parse(first, System.Globalization.CultureInfo.InvariantCulture));
        cron.GetNextOccurrence(next!.Value, TimeZoneInfo.Utc).Should().Be(DateTimeOffset.Parse(second, System.Globalization.CultureInfo.InvariantCulture));
    }

    [TestCase("* * *", "has 3 fields")]
    [TestCase("0 0 3 * * * 2026", "has 7 fields")]
    [TestCase("61 * * * *", "is not a cron schedule")]
    [TestCase("0 0 25 * * *", "is not a cron schedule")]
    [TestCase("@fortnightly", "is not a cron schedule")]
    public void Given_a_bad_schedule_then_the_message_says_what_is_wrong(string schedule, string message)
    {
        CronSchedule.TryParse(schedule, out var cron).Should().Contain(message).And.Contain(schedule);
        cron.Should().BeNull();
    }
}
