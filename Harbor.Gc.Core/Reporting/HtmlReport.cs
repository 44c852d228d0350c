using System.Collections.Immutable;
using System.Globalization;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Reporting;

/// <summary>
/// What the HTML report shows, independent of the kind of run: a summary, a bar chart of bytes per repository, artifacts with
/// their accessories nested under them, blobs and warnings. <see cref="FromGc"/> builds it for a GC run; a retention run can
/// build one with its retained and deleted artifacts (<see cref="ReportArtifact.Status"/> and the rule in
/// <see cref="ReportArtifact.Why"/>) and render it with the same <see cref="HtmlReportWriter"/>.
/// </summary>
public sealed record HtmlReport
{
    /// <summary>The page title and heading: <c>GC dry run on distribution:/srv/registry</c>.</summary>
    public required string Title { get; init; }

    /// <summary>The summary table, in order.</summary>
    public required IReadOnlyList<ReportField> Summary { get; init; }

    /// <summary>The chart's heading.</summary>
    public required string ChartTitle { get; init; }

    /// <summary>How the chart's figures are counted (shown under it).</summary>
    public string ChartNote { get; init; } = string.Empty;

    /// <summary>The chart's bars: one per repository, largest first.</summary>
    public required IReadOnlyList<ReportBar> Bars { get; init; }

    /// <summary>The artifacts table's heading.</summary>
    public required string ArtifactsTitle { get; init; }

    /// <summary>Top-level artifacts; each one's accessories are nested in <see cref="ReportArtifact.Accessories"/>.</summary>
    public required IReadOnlyList<ReportArtifact> Artifacts { get; init; }

    /// <summary>Blobs whose bytes go; empty when the run deletes no blobs itself.</summary>
    public IReadOnlyList<ReportBlob> Blobs { get; init; } = [];

    /// <summary>Warnings, as <c>location: message</c>.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The report of a GC run, dry or real.</summary>
    /// <param name="result">The run.</param>
    /// <returns>The report.</returns>
    /// <remarks>
    /// Bytes per repository: each blob's whole size counts in every repository whose collected artifacts reference it
    /// (<see cref="PlannedBlob.Repositories"/>), so a blob shared by two dead repositories counts in both and the bars may add
    /// up to more than the total; blobs no collected artifact references are one bar of their own. A completed real run leaves
    /// out the blobs kept after the re-check and those whose deletion failed; a dry run or a stopped run shows the plan.
    /// </remarks>
    public static HtmlReport FromGc(GcResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var plan = result.Plan;
        var summary = plan.Summary;
        var inv = CultureInfo.InvariantCulture;
        var fields = new List<ReportField>
        {
            new("run", "Run", result.DryRun ? "dry run (nothing deleted)" : "real run"),
            new("store", "Store", plan.Store),
            new("startedAt", "Started", GcReportWriter.Time(result.StartedAt)),
            new("finishedAt", "Finished", GcReportWriter.Time(result.FinishedAt)),
            new("outcome", "Outcome", result.Outcome == GcOutcome.Completed ? "completed"
                : $"stopped ({(result.StopReason == GcStopReason.Cancelled ? "cancelled" : "maximum duration reached")}); the next run carries on"),
            new("options", "Options", string.Create(inv, $"delete untagged: {(plan.DeleteUntagged ? "yes" : "no")}, time window: {plan.TimeWindow:c}, workers: {result.Workers}")),
            ReportField.Count("artifacts", "Artifacts eligible", summary.Artifacts),
            ReportField.Count("manifests", "Manifests eligible", summary.Manifests),
            ReportField.Count("blobs", "Blobs eligible", summary.Blobs),
            ReportField.Bytes("bytes", "Blob bytes eligible", summary.Bytes),
            ReportField.Count("uploads", "Stale uploads", summary.Uploads),
            ReportField.Bytes("uploadBytes", "Stale upload bytes", summary.UploadBytes),
            ReportField.Count("warnings", "Warnings", plan.Warnings.Count),
        };
        if (!result.DryRun)
        {
            fields.Add(ReportField.Count("artifactsDeleted", "Artifacts deleted", result.ArtifactsDeleted));
            fields.Add(ReportField.Count("blobsDeleted", "Blobs deleted", result.BlobsDeleted));
            fields.Add(ReportField.Bytes("bytesFreed", "Blob bytes freed", result.BytesFreed));
            fields.Add(ReportField.Count("uploadsDeleted", "Stale uploads removed", result.UploadsDeleted));
            fields.Add(ReportField.Count("kept", "Kept after re-check", result.ArtifactsSkipped.Count + result.BlobsSkipped.Count + result.UploadsSkipped.Count));
            fields.Add(ReportField.Count("failed", "Failed (retried next run)", result.BlobsFailed.Count + result.UploadsFailed.Count));
        }

        var freed = !result.DryRun && result.Outcome == GcOutcome.Completed;
        return new HtmlReport
        {
            Title = $"GC {(result.DryRun ? "dry run" : "run")} on {plan.Store}",
            Summary = fields,
            ChartTitle = freed ? "Bytes freed per repository" : "Bytes eligible per repository",
            ChartNote = "A blob counts with its whole size in every repository whose collected artifacts reference it, so a blob shared "
                + "by several repositories counts in each and the bars can add up to more than the total. "
                + (freed ? "Blobs kept after the re-check or whose deletion failed are left out."
                    : result.DryRun ? "A dry run shows the plan." : "The run stopped: this is the plan, not all of it was deleted."),
            Bars = BytesPerRepository(result),
            ArtifactsTitle = "Collected artifacts",
            Artifacts = Nest(plan.Artifacts),
            Blobs = [.. plan.Blobs.Select(b => new ReportBlob(b.Digest.ToString(), b.Size, [.. b.Repositories.Select(r => r.Value)]))],
            Warnings = [.. plan.Warnings.Select(w => w.ToString())],
        };
    }

    /// <summary>The label of the bar for blobs no collected artifact references.</summary>
    public const string UnreferencedLabel = "(no collected artifact)";

    /// <summary>Bytes per repository of a GC run, as <see cref="FromGc"/> counts them (see its remarks), largest first.</summary>
    /// <param name="result">The run.</param>
    /// <returns>One bar per repository.</returns>
    public static IReadOnlyList<ReportBar> BytesPerRepository(GcResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var leftOut = !result.DryRun && result.Outcome == GcOutcome.Completed
            ? result.BlobsSkipped.Concat(result.BlobsFailed.Select(f => f.Digest)).ToHashSet()
            : [];
        var bytes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var blob in result.Plan.Blobs.Where(b => !leftOut.Contains(b.Digest)))
        {
            foreach (var repository in blob.Repositories.IsEmpty ? [UnreferencedLabel] : blob.Repositories.Select(r => r.Value))
            {
                bytes[repository] = bytes.GetValueOrDefault(repository) + blob.Size;
            }
        }

        return [.. bytes.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => new ReportBar(p.Key, p.Value))];
    }

    /// <summary>Nests each collected accessory under its collected subject of the same repository, as Harbor's Accessories table does.</summary>
    private static List<ReportArtifact> Nest(IReadOnlyList<PlannedArtifact> artifacts)
    {
        var planned = artifacts.Select(a => a.Key).ToHashSet();
        var bySubject = artifacts
            .Where(a => a.Subject is { } s && planned.Contains(new(a.Key.Repository, s)))
            .ToLookup(a => new Model.ArtifactKey(a.Key.Repository, a.Subject!.Value));
        var nested = new HashSet<Model.ArtifactKey>();
        ReportArtifact Row(PlannedArtifact a)
        {
            nested.Add(a.Key);
            var type = a.AccessoryType ?? (a.MediaType is Model.MediaTypes.OciIndex or Model.MediaTypes.DockerManifestList ? "index" : "image");
            return new ReportArtifact(a.Key.Repository.Value, a.Key.Digest.ToString(), a.Tags, "collected", a.Reason.ToReportName(), type)
            {
                Size = a.Size,
                Accessories = [.. bySubject[a.Key].Where(x => !nested.Contains(x.Key)).Select(Row)],
            };
        }

        return [.. artifacts
            .Where(a => a.Subject is not { } s || !planned.Contains(new(a.Key.Repository, s)))
            .OrderBy(a => a.Key.Repository).ThenBy(a => a.Key.Digest)
            .Select(Row)];
    }
}

/// <summary>One line of the summary table.</summary>
/// <param name="Key">A stable name (<c>artifacts</c>, <c>bytes</c>, …), the <c>data-key</c> of the cell.</param>
/// <param name="Label">What people read.</param>
/// <param name="Text">The value as shown.</param>
public sealed record ReportField(string Key, string Label, string Text)
{
    /// <summary>The number behind the text, when it is one (the cell's <c>data-value</c>).</summary>
    public long? Value { get; init; }

    /// <summary>A count, shown as <c>1,234</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="label">The label.</param>
    /// <param name="value">The count.</param>
    /// <returns>The field.</returns>
    public static ReportField Count(string key, string label, long value) => new(key, label, value.ToString("N0", CultureInfo.InvariantCulture)) { Value = value };

    /// <summary>Bytes, shown as <c>1.5 KiB (1,536 bytes)</c>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="label">The label.</param>
    /// <param name="value">The bytes.</param>
    /// <returns>The field.</returns>
    public static ReportField Bytes(string key, string label, long value) => new(key, label, ConsoleSummary.FormatBytes(value)) { Value = value };
}

/// <summary>One bar of the chart.</summary>
/// <param name="Label">The repository.</param>
/// <param name="Bytes">Its bytes.</param>
public sealed record ReportBar(string Label, long Bytes);

/// <summary>One artifact row, with its accessories nested under it.</summary>
/// <param name="Repository">The repository.</param>
/// <param name="Digest">The manifest digest.</param>
/// <param name="Tags">Its tags.</param>
/// <param name="Status">What the run does with it: <c>collected</c> for GC; <c>retained</c> or <c>deleted</c> for retention.</param>
/// <param name="Why">The reason (GC) or the rule that retained it (retention).</param>
/// <param name="Type">Its accessory type (<c>signature.cosign</c>, …) when it is an accessory, else <c>image</c> or <c>index</c>.</param>
public sealed record ReportArtifact(string Repository, string Digest, ImmutableArray<string> Tags, string Status, string Why, string Type)
{
    /// <summary>Its manifest size in bytes, when known.</summary>
    public long? Size { get; init; }

    /// <summary>Its accessories (signatures, SBOMs, …), each with its own.</summary>
    public IReadOnlyList<ReportArtifact> Accessories { get; init; } = [];
}

/// <summary>One blob whose bytes go.</summary>
/// <param name="Digest">The digest.</param>
/// <param name="Size">Its size.</param>
/// <param name="Repositories">The repositories its bytes are counted in.</param>
public sealed record ReportBlob(string Digest, long Size, ImmutableArray<string> Repositories);
