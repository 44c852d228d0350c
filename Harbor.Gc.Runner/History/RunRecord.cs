using LiteDB;

namespace Harbor.Gc.Runner.History;

/// <summary>Where a run stands (DESIGN.md §9).</summary>
internal enum RunStatus
{
    /// <summary>Started, not finished (or the daemon died during it: marked failed at the next start).</summary>
    Running,

    /// <summary>Finished its plan.</summary>
    Succeeded,

    /// <summary>Ended with an error, or items could not be deleted.</summary>
    Failed,

    /// <summary>Stopped cleanly before the end (a signal, or the maximum duration); the next run carries on.</summary>
    Stopped,

    /// <summary>Not run: it would have overlapped another run.</summary>
    Skipped,
}

/// <summary>What started a run.</summary>
internal enum RunTrigger
{
    /// <summary>A command line (<c>harbor-gc gc --history PATH</c>).</summary>
    Manual,

    /// <summary>The daemon's cron schedule.</summary>
    Schedule,
}

/// <summary>One run in the history database.</summary>
internal sealed class RunRecord
{
    /// <summary>The run id (LiteDB's auto-increment).</summary>
    public int Id { get; set; }

    /// <summary>The job's name (<c>gc</c> for a manual run).</summary>
    public string Job { get; set; } = string.Empty;

    /// <summary><c>gc</c> or <c>retention</c>.</summary>
    public string Kind { get; set; } = "gc";

    /// <summary>What started it.</summary>
    public RunTrigger Trigger { get; set; }

    /// <summary>The store, as a STORE value.</summary>
    public string Store { get; set; } = string.Empty;

    /// <summary>The options it ran with, as written in the configuration.</summary>
    public Dictionary<string, string> Options { get; set; } = [];

    /// <summary>When it started, in UTC ticks.</summary>
    public long StartedTicks { get; set; }

    /// <summary>When it ended, in UTC ticks; null while running.</summary>
    public long? FinishedTicks { get; set; }

    /// <summary>Where it stands.</summary>
    public RunStatus Status { get; set; }

    /// <summary>Why it failed, stopped or was skipped.</summary>
    public string? Message { get; set; }

    /// <summary>Artifacts deleted (a dry run: planned).</summary>
    public int Artifacts { get; set; }

    /// <summary>Blobs deleted (a dry run: planned).</summary>
    public int Blobs { get; set; }

    /// <summary>Bytes freed (a dry run: planned).</summary>
    public long Bytes { get; set; }

    /// <summary>Stale uploads removed (a dry run: planned).</summary>
    public int Uploads { get; set; }

    /// <summary>Whether the run deleted nothing on purpose.</summary>
    public bool DryRun { get; set; }

    /// <summary>Whether the JSON report is stored (in the database's file storage, <see cref="RunHistory.ReadReport"/>).</summary>
    public bool HasReport { get; set; }

    /// <summary>The run's log lines.</summary>
    public List<string> Log { get; set; } = [];

    /// <summary>When it started.</summary>
    [BsonIgnore]
    public DateTimeOffset StartedAt
    {
        get => new(StartedTicks, TimeSpan.Zero);
        set => StartedTicks = value.UtcTicks;
    }

    /// <summary>When it ended, if it has.</summary>
    [BsonIgnore]
    public DateTimeOffset? FinishedAt
    {
        get => FinishedTicks is { } t ? new DateTimeOffset(t, TimeSpan.Zero) : null;
        set => FinishedTicks = value?.UtcTicks;
    }
}
