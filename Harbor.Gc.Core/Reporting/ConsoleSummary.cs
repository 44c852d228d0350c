using System.Globalization;
using Harbor.Gc.Collection;

namespace Harbor.Gc.Reporting;

/// <summary>A concise, Harbor-style text summary of a GC run: what is eligible for deletion, what it could free, what was done.</summary>
/// <remarks>
/// Stale uploads (Distribution layout) are mentioned only when there are any (<c>…, and 2 stale uploads (1.5 MiB (…))</c>), and
/// then the freed space counts their bytes too; the JSON report keeps blob bytes and upload bytes apart.
/// </remarks>
public static class ConsoleSummary
{
    /// <summary>Writes the summary.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="result">The run.</param>
    public static void Write(TextWriter writer, GcResult result)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(result);
        var plan = result.Plan;
        var summary = plan.Summary;
        var inv = CultureInfo.InvariantCulture;
        writer.WriteLine(string.Create(inv, $"GC {(result.DryRun ? "dry run" : "run")} on {plan.Store} at {GcReportWriter.Time(plan.CreatedAt)} (delete untagged: {(plan.DeleteUntagged ? "yes" : "no")}, time window: {Duration.Format(plan.TimeWindow)})"));
        if (!result.Planned)
        {
            writer.WriteLine($"  {DescribeStop(result)}");
            return;
        }

        if (plan.Statistics is { } s)
        {
            writer.WriteLine(string.Create(inv, $"  scanned {s.Repositories:N0} repositories, {s.Artifacts:N0} artifacts, {s.Tags:N0} tags, {s.Blobs:N0} blobs"));
        }

        var uploads = summary.Uploads > 0 ? string.Create(inv, $", and {summary.Uploads:N0} stale uploads ({FormatBytes(summary.UploadBytes)})") : string.Empty;
        writer.WriteLine(string.Create(inv, $"  {summary.Blobs:N0} blobs and {summary.Manifests:N0} manifests ({summary.Artifacts:N0} artifacts) eligible for deletion{uploads}"));
        if (plan.KeptByTimeWindow is { } kept)
        {
            writer.WriteLine(string.Create(inv,
                $"  nothing is eligible because of the {Duration.Format(plan.TimeWindow)} time window: {kept.Artifacts:N0} artifacts and {kept.Blobs:N0} blobs that nothing else keeps are younger than it (--time-window 0 would collect them)"));
        }

        writer.WriteLine(string.Create(inv, $"  could free up {FormatBytes(summary.Bytes + summary.UploadBytes)}"));
        var reasons = plan.Artifacts.GroupBy(a => a.Reason).OrderBy(g => g.Key).Select(g => string.Create(inv, $"{g.Key.ToReportName()} {g.Count():N0}")).ToList();
        if (reasons.Count > 0)
        {
            writer.WriteLine($"  by reason: {string.Join(", ", reasons)}");
        }

        if (plan.LayerLinks.Count > 0)
        {
            writer.WriteLine(string.Create(inv, $"  {plan.LayerLinks.Count:N0} repository layer links to remove"));
        }

        if (result.AppliedPlan is { } applied)
        {
            writer.WriteLine(string.Create(inv,
                $"  applied the plan made at {GcReportWriter.Time(applied.CreatedAt)} ({applied.Artifacts.Count:N0} artifacts, {applied.Blobs.Count:N0} blobs): only what this run's plan also finds garbage, unchanged"));
        }

        if (!result.DryRun)
        {
            var deletedUploads = summary.Uploads > 0 ? string.Create(inv, $", and {result.UploadsDeleted:N0} stale uploads ({FormatBytes(result.UploadBytesFreed)})") : string.Empty;
            writer.WriteLine(string.Create(inv,
                $"  deleted {result.ArtifactsDeleted:N0} artifacts and {result.BlobsDeleted:N0} blobs{deletedUploads}, freed {FormatBytes(result.BytesFreed + result.UploadBytesFreed)}"));
            if (result.ArtifactsSkipped.Count + result.BlobsSkipped.Count + result.LayerLinksSkipped.Count + result.UploadsSkipped.Count > 0)
            {
                var keptLinks = result.LayerLinksSkipped.Count > 0 ? string.Create(inv, $", {result.LayerLinksSkipped.Count:N0} layer links") : string.Empty;
                var keptUploads = result.UploadsSkipped.Count > 0 ? string.Create(inv, $", {result.UploadsSkipped.Count:N0} uploads") : string.Empty;
                writer.WriteLine(string.Create(inv, $"  kept after re-check (changed since the plan): {result.ArtifactsSkipped.Count:N0} artifacts, {result.BlobsSkipped.Count:N0} blobs{keptLinks}{keptUploads}"));
            }

            if (result.Recovered > 0)
            {
                writer.WriteLine(string.Create(inv, $"  put back first: {result.Recovered:N0} items an interrupted run had left out of the registry's sight"));
            }

            if (result.ArtifactsFailed.Count > 0)
            {
                writer.WriteLine(string.Create(inv, $"  failed: {result.ArtifactsFailed.Count:N0} artifacts, kept with what goes with them (the next run tries again); first: {result.ArtifactsFailed[0].Key}: {result.ArtifactsFailed[0].Error}"));
            }

            if (result.LayerLinksFailed.Count > 0)
            {
                writer.WriteLine(string.Create(inv, $"  failed: {result.LayerLinksFailed.Count:N0} layer links (the next run tries again); first: {result.LayerLinksFailed[0].Link}: {result.LayerLinksFailed[0].Error}"));
            }

            if (result.BlobsFailed.Count > 0)
            {
                writer.WriteLine(string.Create(inv, $"  failed: {result.BlobsFailed.Count:N0} blobs (the next run tries again); first: {result.BlobsFailed[0].Digest}: {result.BlobsFailed[0].Error}"));
            }

            if (result.UploadsFailed.Count > 0)
            {
                writer.WriteLine(string.Create(inv, $"  failed: {result.UploadsFailed.Count:N0} uploads (the next run tries again); first: {result.UploadsFailed[0].Upload}: {result.UploadsFailed[0].Error}"));
            }

            if (result.Outcome == GcOutcome.Stopped)
            {
                writer.WriteLine($"  {DescribeStop(result)}");
            }
        }

        foreach (var total in (plan.DiffersFromHarbor ?? []).Totals())
        {
            writer.WriteLine($"  differs from Harbor ({total.Kind.ToReportName()}): {total.Describe(plan.TimeWindow)}");
        }

        if (plan.Warnings.Count > 0)
        {
            writer.WriteLine(string.Create(inv, $"  {plan.Warnings.Count:N0} warnings; first: {plan.Warnings[0]}"));
        }
    }

    /// <summary>
    /// How a stopped run stopped, why, and what that left: <c>stopped (SIGTERM) while sweeping, after the item in hand: the deletions
    /// above were made, the rest is left for the next run</c>, or, before the plan, <c>… while reading the store, before the plan was
    /// made: nothing was deleted</c>.
    /// </summary>
    /// <param name="result">The run.</param>
    /// <returns>The text; empty when the run completed.</returns>
    public static string DescribeStop(GcResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Outcome == GcOutcome.Completed)
        {
            return string.Empty;
        }

        var why = result.StopReason == GcStopReason.MaxDuration ? "maximum duration reached" : result.StoppedBy ?? "cancelled";
        var phase = result.StoppedWhile.GetValueOrDefault(GcPhase.Sweeping);
        return !result.Planned
            ? $"stopped ({why}) while {phase.Describe()}, before the plan was made: nothing was deleted"
            : $"stopped ({why}) while {phase.Describe()}, after the item in hand: the deletions above were made, the rest is left for the next run";
    }

    /// <summary>Formats a byte count with binary units, as <c>12.3 MiB (12,897,484 bytes)</c>.</summary>
    /// <param name="bytes">The count.</param>
    /// <returns>The text.</returns>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]} ({bytes:N0} bytes)");
    }
}
