using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>Why a digest is kept or collected.</summary>
/// <param name="Digest">The digest asked about.</param>
/// <param name="Found">Whether the store knows it at all.</param>
/// <param name="Entries">One entry per artifact with that digest (per repository), and one for the blob.</param>
public sealed record GcExplanation(Digest Digest, bool Found, IReadOnlyList<ExplanationEntry> Entries)
{
    /// <summary>The explanation as lines of text.</summary>
    /// <returns>The text.</returns>
    public override string ToString() =>
        Found ? string.Join(Environment.NewLine, Entries.Select(e => e.ToString())) : $"{Digest}: not in the store";
}

/// <summary>Why one artifact or blob is kept or collected.</summary>
/// <param name="Subject">What is explained: <c>repo@digest</c> or <c>blob digest</c>.</param>
/// <param name="Live">Whether it is kept.</param>
/// <param name="Path">For a kept one, the path from a root: <c>tag v1 → index sha256:… → manifest sha256:… → layer sha256:…</c>.</param>
/// <param name="Reason">For a collected one, why nothing keeps it; for a kept one, why its root is a root.</param>
public sealed record ExplanationEntry(string Subject, bool Live, IReadOnlyList<string> Path, string Reason)
{
    /// <summary>
    /// On a Harbor installation (the <c>harbor:</c> store), when Harbor's own GC would decide differently about it: what Harbor does
    /// and why (<see cref="HarborDifference.Harbor"/>); null otherwise.
    /// </summary>
    public string? Harbor { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        (Live ? $"{Subject}: kept ({Reason}): {string.Join(" → ", Path)}" : $"{Subject}: collected by the next run: {Reason}")
        + (Harbor is null ? string.Empty : $"; differs from Harbor: {Harbor}");
}
