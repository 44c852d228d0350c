using Harbor.Gc.Collection;
using Harbor.Gc.Model;

namespace Harbor.Gc.Reporting;

/// <summary>
/// A plan as one line per manifest and blob, as Distribution's <c>garbage-collect --dry-run</c> lists them (DESIGN.md §9):
/// <c>repository@digest reason</c> for each artifact (the reason as the JSON report names it), then <c>digest reason</c> for each
/// blob, where the reason is <c>unreferenced</c> (no artifact references it), <c>referenced-by-deleted</c> (only artifacts the plan
/// deletes do) or <c>left-by-earlier-run</c> (an earlier run committed to deleting it). Artifacts sorted by repository then digest,
/// blobs by digest (ordinal): the same plan always gives the same lines. Layer links and uploads are not listed.
/// </summary>
public static class PlanList
{
    /// <summary>Writes the lines of <paramref name="plan"/>.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="plan">The plan.</param>
    public static void Write(TextWriter writer, CollectionPlan plan)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(plan);
        foreach (var a in plan.Artifacts.OrderBy(a => a.Key.Repository.Value, StringComparer.Ordinal).ThenBy(a => a.Key.Digest.ToString(), StringComparer.Ordinal))
        {
            writer.WriteLine($"{a.Key.Repository}@{a.Key.Digest} {a.Reason.ToReportName()}");
        }

        foreach (var b in plan.Blobs.OrderBy(b => b.Digest.ToString(), StringComparer.Ordinal))
        {
            var reason = b.Status is not BlobStatus.None ? "left-by-earlier-run" : b.Repositories.IsDefaultOrEmpty ? "unreferenced" : "referenced-by-deleted";
            writer.WriteLine($"{b.Digest} {reason}");
        }
    }
}
