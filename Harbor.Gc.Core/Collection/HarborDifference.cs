namespace Harbor.Gc.Collection;

/// <summary>What Harbor's own GC would decide differently from a plan made on a Harbor installation (the <c>harbor:</c> store).</summary>
public enum HarborDifferenceKind
{
    /// <summary>
    /// An untagged artifact this plan keeps only because it was pushed within the time window, which Harbor's GC with
    /// delete_untagged deletes (no window: goharbor/harbor#21266), with the children and accessories that go with it.
    /// </summary>
    HarborDeletesWithinWindow,

    /// <summary>An orphan accessory (its subject is gone) this plan collects and Harbor's GC keeps for ever.</summary>
    HarborKeepsOrphanAccessory,

    /// <summary>
    /// A blob Harbor's dry run counts as freed more often than this plan frees it: once too many when this plan keeps it (a kept
    /// artifact references it, or the time window keeps it), and once more for every further simulated-deleted artifact that lists it.
    /// </summary>
    HarborDryRunOverCounts,
}

/// <summary>One place where Harbor's own GC would decide differently from the plan, and why.</summary>
/// <param name="Kind">What kind of difference.</param>
/// <param name="Item"><c>repository@digest</c> for an artifact, the digest for a blob.</param>
/// <param name="Bytes">An artifact's manifest size; for <see cref="HarborDifferenceKind.HarborDryRunOverCounts"/>, the bytes Harbor's dry run
/// counts beyond this plan (<see cref="Count"/> times the blob's size; 0 for a foreign layer, which Harbor does not count).</param>
/// <param name="Harbor">What Harbor does and why, naming its source.</param>
public sealed record HarborDifference(HarborDifferenceKind Kind, string Item, long Bytes, string Harbor)
{
    /// <summary>For an over-counted blob: how many more times Harbor's dry run counts it than this plan (1 for an artifact).</summary>
    public int Count { get; init; } = 1;

    /// <summary>What keeps the item in this plan: a kept artifact (<c>repository@digest</c>) or the time window; null when this plan deletes it.</summary>
    public string? KeptBy { get; init; }

    /// <summary>For an artifact that goes with another in Harbor's deletion (a child, an accessory): that artifact.</summary>
    public string? GoesWith { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{Item}: {Harbor}";
}

/// <summary>The report names of <see cref="HarborDifferenceKind"/>.</summary>
public static class HarborDifferenceKindExtensions
{
    /// <summary>The name used in reports.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns><c>harbor-deletes-within-window</c>, <c>harbor-keeps-orphan-accessory</c> or <c>harbor-dry-run-over-counts</c>.</returns>
    public static string ToReportName(this HarborDifferenceKind kind) => kind switch
    {
        HarborDifferenceKind.HarborDeletesWithinWindow => "harbor-deletes-within-window",
        HarborDifferenceKind.HarborKeepsOrphanAccessory => "harbor-keeps-orphan-accessory",
        HarborDifferenceKind.HarborDryRunOverCounts => "harbor-dry-run-over-counts",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown difference kind."),
    };

    /// <summary>The totals of each kind present, in kind order.</summary>
    /// <param name="differences">The differences.</param>
    /// <returns>One total per kind.</returns>
    public static IReadOnlyList<HarborDifferenceTotal> Totals(this IEnumerable<HarborDifference> differences)
    {
        ArgumentNullException.ThrowIfNull(differences);
        return [.. differences.GroupBy(d => d.Kind).OrderBy(g => g.Key).Select(g => new HarborDifferenceTotal(g.Key, g.Count(), g.Sum(d => d.Count), g.Sum(d => d.Bytes)))];
    }

    /// <summary>One line saying what a total means, for the console and the HTML report.</summary>
    /// <param name="total">The total.</param>
    /// <param name="timeWindow">The plan's time window.</param>
    /// <returns>The text.</returns>
    public static string Describe(this HarborDifferenceTotal total, TimeSpan timeWindow)
    {
        ArgumentNullException.ThrowIfNull(total);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return total.Kind switch
        {
            HarborDifferenceKind.HarborDeletesWithinWindow => string.Create(inv,
                $"{total.Items:N0} untagged artifacts (with what goes with them) this plan keeps within the {Duration.Format(timeWindow)} time window, Harbor's GC would delete: it has no time window for artifacts (goharbor/harbor#21266)"),
            HarborDifferenceKind.HarborKeepsOrphanAccessory => string.Create(inv,
                $"{total.Items:N0} orphan accessories this plan collects, Harbor's GC keeps for ever"),
            _ => string.Create(inv,
                $"Harbor's dry run would count {total.Count:N0} blobs ({Reporting.ConsoleSummary.FormatBytes(total.Bytes)}) more as freed than this plan: {total.Items:N0} blobs that a kept artifact or the time window keeps, or that it counts more than once"),
        };
    }
}

/// <summary>The total of one kind of <see cref="HarborDifference"/>.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Items">How many differences (artifacts or blobs).</param>
/// <param name="Count">The sum of their <see cref="HarborDifference.Count"/> (for over-counted blobs, how many more blobs Harbor's dry run counts).</param>
/// <param name="Bytes">The sum of their <see cref="HarborDifference.Bytes"/>.</param>
public sealed record HarborDifferenceTotal(HarborDifferenceKind Kind, int Items, int Count, long Bytes);
