using Cronos;

namespace Harbor.Gc.Scheduling;

/// <summary>
/// Job schedules: Harbor's six-field cron (with seconds, <c>0 0 3 * * *</c>), the usual five fields (<c>0 3 * * *</c>), and the
/// macros Cronos reads itself (<c>@hourly</c>, <c>@daily</c>, <c>@midnight</c>, <c>@weekly</c>, <c>@monthly</c>, <c>@yearly</c>,
/// <c>@every_minute</c>, <c>@every_second</c>). One parser for the daemon's job schedules and a retention policy's trigger.
/// </summary>
public static class CronSchedule
{
    /// <summary>Parses a schedule.</summary>
    /// <param name="text">The schedule as written.</param>
    /// <param name="expression">The expression, when valid.</param>
    /// <returns>Null when valid; otherwise what is wrong.</returns>
    public static string? TryParse(string text, out CronExpression? expression)
    {
        expression = null;
        var trimmed = text.Trim();
        var fields = trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (!trimmed.StartsWith('@') && fields is not (5 or 6))
        {
            return $"'{text}' has {fields} fields; write 6 (Harbor's form, with seconds: '0 0 3 * * *'), 5 ('0 3 * * *'), or a macro such as @daily";
        }

        try
        {
            expression = CronExpression.Parse(trimmed, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            return null;
        }
        catch (CronFormatException e)
        {
            return $"'{text}' is not a cron schedule: {e.Message}";
        }
    }
}
