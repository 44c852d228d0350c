using System.CommandLine;
using System.Text.Json;
using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc explain REFERENCE [--repository REPO] [--store STORE] [--time-window D] [--delete-untagged [true|false]] [--json]</c>
/// (DESIGN.md §5, §9): why a run with these options keeps a manifest or blob (the path from a root, one hop a line) or why
/// nothing keeps it. REFERENCE is a digest, a unique digest prefix, REPOSITORY:TAG or REPOSITORY@DIGEST. Reads the store; deletes nothing.
/// </summary>
internal static class ExplainCommand
{
    public const string Notes = """
        REFERENCE = a manifest or blob digest; a unique prefix of one, at least 6 hex digits (sha256:6d0c74 or 6d0c74);
                    REPOSITORY:TAG; or REPOSITORY@DIGEST
        STORE = litedb:PATH | distribution:DIR | distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION | postgres:… (as gc's)
        """;

    public static Command Create(CommandContext context)
    {
        var reference = new Argument<string>("REFERENCE") { Description = "The manifest or blob: a digest, a unique digest prefix, REPOSITORY:TAG or REPOSITORY@DIGEST" };
        var repository = Cli.FileOption("--repository", "Only this repository's artifact of the digest (and the blob)", "REPOSITORY");
        var store = Cli.StoreOption();
        var timeWindow = Cli.DurationOption("--time-window", "The time window of the run to explain [default: 2h]");
        var deleteUntagged = Cli.DeleteUntaggedOption("Explain a run that collects untagged artifacts");
        var json = Cli.FlagOption("--json", "Write the explanation as JSON");
        var command = new Command("explain", "Why a GC run with these options keeps a manifest or blob (the path from a root), or why nothing keeps it")
        {
            reference, repository, store, timeWindow, deleteUntagged, json,
        };
        command.SetAction((p, _) =>
        {
            var options = new GcOptions { DryRun = true };
            options.TimeWindow = p.GetValue(timeWindow) ?? options.TimeWindow;
            options.DeleteUntagged = p.Given(deleteUntagged) ? p.GetValue(deleteUntagged) : options.DeleteUntagged;
            RepositoryName? repo = p.GetValue(repository) is { } r ? ParseRepository(r) : null;
            return RunAsync(p.GetValue(reference)!, repo, p.GetValue(store)!, options, p.GetValue(json), context);
        });
        return command.WithNotes(Notes);
    }

    private static async Task<int> RunAsync(string digestText, RepositoryName? repository, string store, GcOptions options, bool json, CommandContext context)
    {
        var (stdout, _, time, stop) = context;
        var cancellationToken = stop.Token;

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
            }
            else
            {
                writer.WriteLine($"{entry.Subject}: kept ({entry.Reason})");
                for (var i = 0; i < entry.Path.Count; i++)
                {
                    writer.WriteLine($"  {(i == 0 ? "  " : "→ ")}{entry.Path[i]}");
                }
            }

            if (entry.Harbor is { } harbor)
            {
                writer.WriteLine($"  differs from Harbor: {harbor}");
            }
        }
    }

    private static string ToJson(GcExplanation explanation) => JsonSerializer.Serialize(new
    {
        digest = explanation.Digest.ToString(),
        entries = explanation.Entries.Select(e => new { subject = e.Subject, kept = e.Live, reason = e.Reason, path = e.Path, harbor = e.Harbor }),
    }, Indented);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = Harbor.Gc.Reporting.GcReportWriter.Encoder };

    private static RepositoryName ParseRepository(string text) =>
        RepositoryName.Validate(text) is { } problem ? throw new UsageException($"--repository '{text}': {problem}") : RepositoryName.Parse(text);
}
