using Harbor.Gc.Collection;
using Harbor.Gc.Retention;

namespace Harbor.Gc.Runner;

/// <summary>The exit codes of every <c>harbor-gc</c> command (DESIGN.md §9, README "Exit codes"), defined once here.</summary>
internal static class ExitCodes
{
    /// <summary>The run (or command) did all it was asked to.</summary>
    public const int Done = 0;

    /// <summary>The run failed (deletions that failed are left for the next run).</summary>
    public const int Failed = 1;

    /// <summary>Bad usage or bad input: the message says what and where, and nothing was deleted.</summary>
    public const int BadInput = 2;

    /// <summary>
    /// The run stopped before the end: SIGTERM, SIGINT (Ctrl-C), SIGQUIT or <c>--max-duration</c>. It finished the item in hand and
    /// wrote its report and history; stopped while reading or planning, it deleted nothing.
    /// </summary>
    public const int Stopped = 3;

    /// <summary>The table as <c>--help</c> shows it.</summary>
    public const string Help = """
        exit codes (gc, gc --apply, retention run):
          0  done
          1  the run failed (what failed is reported and left for the next run)
          2  bad usage or bad input (the message says what and where; nothing was deleted)
          3  stopped before the end by SIGTERM, SIGINT (Ctrl-C), SIGQUIT or --max-duration: the item in hand was finished and
             the report and history written; stopped while reading or planning, nothing was deleted. A second signal ends
             the process at once (as the signal's default action: no report; the store stays consistent, as after a crash).
        """;

    /// <summary>The exit code of a GC run: stopped wins over failed deletions (the report lists both).</summary>
    public static int Of(GcResult result) =>
        result.Outcome == GcOutcome.Stopped ? Stopped
        : result.FailureCount > 0 ? Failed
        : Done;

    /// <summary>The exit code of a retention run.</summary>
    public static int Of(RetentionResult result) => result.Stopped ? Stopped : Done;
}
