using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc explain REFERENCE [--repository REPO] [--store STORE] [--time-window D] [--delete-untagged true|false] [--json]</c>
/// (DESIGN.md §5, §9): why a run with these options keeps a manifest or blob (the path from a root, one hop a line) or why
/// nothing keeps it. REFERENCE is a digest, a unique digest prefix, REPOSITORY:TAG or REPOSITORY@DIGEST. Reads the store; deletes nothing.
/// </summary>
internal static class ExplainCommand
{
    public const string Usage = """
        harbor-gc explain REFERENCE [--repository REPO] [--store STORE] [--time-window 2h] [--delete-untagged true|false] [--json]
          why a GC run with these options keeps REFERENCE (a manifest or blob digest; a unique prefix of one, at least 6 hex
          digits, such as sha256:6d0c74 or 6d0c74; REPOSITORY:TAG; or REPOSITORY@DIGEST): the path from a root, one hop a line;
          or why nothing keeps it
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TimeProvider time, CancellationToken cancellationToken)
    {
        var options = new GcOptions { DryRun = true };
        var store = StoreSpec.Default;
        string? digestText = null;
        RepositoryName? repository = null;
        var json = false;
        var arguments = new Arguments(args);
        while (arguments.MoveNext())
        {
            var arg = arguments.Current;
            switch (arg)
            {
                case "--store": store = arguments.Value(); break;
                case "--repository": repository = ParseRepository(arguments.Value()); break;
                case "--time-window": options.TimeWindow = Durations.Parse(arg, arguments.Value()); break;
                case "--delete-untagged": options.DeleteUntagged = GcCommand.ParseBool(arg, arguments.Value()); break;
                case "--json": json = true; break;
                case var _ when arg.StartsWith('-'): throw new UsageException($"explain: unknown option '{arg}'.\n{Usage}");
                case var _ when digestText is null: digestText = arg; break;
                default: throw new UsageException($"explain: one reference only, but '{digestText}' and '{arg}' were given.");
            }
        }

        if (digestText is null)
        {
            throw new UsageException($"explain: give the REFERENCE to explain.\n{Usage}");
        }

        // parsed before the store is opened: a malformed reference is refused without reading anything
        try
        {
            (repository, _) = Explainer.ParseReference(digestText, repository);
        }
        catch (UnresolvedReferenceException e)
        {
            throw new UsageException($"explain: {e.Message}");
        }

        GcExplanation explanation;
        try
        {
            explanation = await StoreSpec.UseAsync(store, time, readOnly: true, s => new GarbageCollector(s, time).ExplainAsync(digestText, repository, options, cancellationToken)).ConfigureAwait(false);
        }
        catch (UnresolvedReferenceException e)
        {
            throw new UsageException($"explain: {e.Message}{string.Concat(e.Matches.Select(m => $"\n  {m}"))}");
        }

        if (!explanation.Found)
        {
            var where = repository is { } r ? $" as an artifact of {r} or as a blob" : string.Empty;
            throw new UsageException($"explain: {explanation.Digest} is not in the store {store}{where}.");
        }

        if (json)
        {
            await stdout.WriteLineAsync(ToJson(explanation)).ConfigureAwait(false);
        }
        else
        {
            Write(stdout, explanation);
        }

        return ExitCodes.Done;
    }

    /// <summary>Writes one heading line per artifact or blob, then one line per hop of the path that keeps it.</summary>
    internal static void Write(TextWriter writer, GcExplanation explanation)
    {
        foreach (var entry in explanation.Entries)
        {
            if (!entry.Live)
            {
                writer.WriteLine($"{entry.Subject}: collected by the next run");
                writer.WriteLine($"  {entry.Reason}");
                continue;
            }

            writer.WriteLine($"{entry.Subject}: kept ({entry.Reason})");
            for (var i = 0; i < entry.Path.Count; i++)
            {
                writer.WriteLine($"  {(i == 0 ? "  " : "→ ")}{entry.Path[i]}");
            }
        }
    }

    private static string ToJson(GcExplanation explanation) => JsonSerializer.Serialize(new
    {
        digest = explanation.Digest.ToString(),
        entries = explanation.Entries.Select(e => new { subject = e.Subject, kept = e.Live, reason = e.Reason, path = e.Path }),
    }, Indented);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = Harbor.Gc.Reporting.GcReportWriter.Encoder };

    private static RepositoryName ParseRepository(string text) =>
        RepositoryName.Validate(text) is { } problem ? throw new UsageException($"--repository '{text}': {problem}") : RepositoryName.Parse(text);
}
