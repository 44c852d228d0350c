using System.Globalization;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>Answers "why is this kept?" with the path from a root, and "why is this collected?" with the rule that lets it go.</summary>
internal static class Explainer
{
    public static GcExplanation Explain(RegistryGraph graph, MarkResult marks, Digest digest, RepositoryName? repository)
    {
        var entries = new List<ExplanationEntry>();
        if (!graph.Digests.TryGet(digest, out var d))
        {
            return new GcExplanation(digest, false, entries);
        }

        for (var r = 0; r < graph.Repositories.Length; r++)
        {
            if ((repository is null || graph.Repositories[r] == repository.Value) && graph.TryGetArtifact(r, d, out var a))
            {
                entries.Add(ExplainArtifact(graph, marks, a));
            }
        }

        if (graph.DigestToBlob[d] is var b and >= 0)
        {
            entries.Add(ExplainBlob(graph, marks, b));
        }
        else if (entries.Count == 0 && repository is null)
        {
            entries.Add(new ExplanationEntry($"blob {digest}", marks.LiveDigests[d], [],
                "referenced, but not stored: a foreign layer, or a blob missing from the store"));
        }

        return new GcExplanation(digest, entries.Count > 0, entries);
    }

    private static ExplanationEntry ExplainArtifact(RegistryGraph graph, MarkResult marks, int a)
    {
        var subject = graph.KeyOf(a).ToString();
        if (marks.LiveArtifacts[a])
        {
            var (path, root) = PathTo(graph, marks, a);
            return new ExplanationEntry(subject, true, path, root);
        }

        var cutoff = Time(marks.Cutoff);
        var pushed = $"pushed {Time(graph.ArtifactPushed[a])}, before the time window (cutoff {cutoff})";
        string reason;
        if (graph.IsHardAccessory(a))
        {
            var link = graph.LinkOf(a)!;
            reason = graph.SubjectArtifact[a] >= 0
                ? $"hard accessory ({link.Type}) of {graph.KeyOf(graph.SubjectArtifact[a])}, which is collected; an accessory lives and dies with its subject"
                : $"orphan accessory ({link.Type}): its subject {link.Subject} is not in the repository; {pushed}";
        }
        else
        {
            var parents = new List<string>();
            for (var p = 0; p < graph.ArtifactCount; p++)
            {
                if (graph.ArtifactRepo[p] == graph.ArtifactRepo[a] && graph.ChildrenOf(p).Contains(a))
                {
                    parents.Add(graph.KeyOf(p).ToString());
                }
            }

            reason = parents.Count > 0
                ? $"untagged child of collected index {string.Join(", ", parents)}"
                : $"untagged, not listed by any live index, not an accessory of a live artifact; {pushed}";
            if (graph.LinkOf(a) is { Strength: ReferenceStrength.Soft } soft)
            {
                reason = $"soft accessory ({soft.Type}) of {soft.Subject}, which does not keep it; {reason}";
            }
        }

        return new ExplanationEntry(subject, false, [], reason);
    }

    private static ExplanationEntry ExplainBlob(RegistryGraph graph, MarkResult marks, int b)
    {
        var d = graph.BlobDigest[b];
        var subject = $"blob {graph.Digests[d]}";
        var keeper = marks.DigestKeptBy[d];
        if (keeper >= 0)
        {
            var (path, root) = PathTo(graph, marks, keeper);
            var kind = "blob";
            var refs = graph.RefsOf(keeper);
            for (var i = 0; i < refs.Length; i++)
            {
                if (refs[i] == d)
                {
                    kind = graph.RefKinds[graph.RefStart[keeper] + i] switch
                    {
                        BlobReferenceKind.Manifest => "manifest blob",
                        BlobReferenceKind.Config => "config",
                        _ => "layer",
                    };
                    break;
                }
            }

            return new ExplanationEntry(subject, true, [.. path, $"{kind} {graph.Digests[d]}"], root);
        }

        var touched = Time(graph.BlobTouched[b]);
        if (!Planner.IsDeadBlob(graph, marks, b))
        {
            if (graph.BlobTouched[b] < marks.Cutoff && marks.LinkedWithinWindow[d])
            {
                var digest = graph.Digests[d];
                var linkedBy = graph.LayerLinks.Where(l => l.Digest == digest && l.CreatedAt.UtcTicks >= marks.Cutoff).Select(l => l.Repository.Value).Distinct().Take(5);
                return new ExplanationEntry(subject, true, [],
                    $"no live artifact references it, but {string.Join(", ", linkedBy)} linked it within the time window (an upload or a mount whose manifest may follow; cutoff {Time(marks.Cutoff)})");
            }

            return new ExplanationEntry(subject, true, [], $"no live artifact references it, but it was touched {touched}, within the time window (cutoff {Time(marks.Cutoff)})");
        }

        var users = new List<string>();
        for (var a = 0; a < graph.ArtifactCount && users.Count < 5; a++)
        {
            if (graph.RefsOf(a).Contains(d))
            {
                users.Add(graph.KeyOf(a).ToString());
            }
        }

        var why = users.Count > 0
            ? $"referenced only by collected artifacts ({string.Join(", ", users)})"
            : "no artifact references it (an upload never used by a manifest, or left by deleted ones)";
        return new ExplanationEntry(subject, false, [], $"{why}; last touched {touched}, before the time window (cutoff {Time(marks.Cutoff)})");
    }

    private static (List<string> Path, string Root) PathTo(RegistryGraph graph, MarkResult marks, int a)
    {
        var chain = new List<int>();
        for (var x = a; x >= 0; x = marks.ArtifactKeptBy[x])
        {
            chain.Add(x);
        }

        chain.Reverse();
        var root = chain[0];
        var path = new List<string>();
        string why;
        switch (marks.RootKinds[root])
        {
            case RootKind.Tagged:
                var tag = TagsOf(graph, root).Order(StringComparer.Ordinal).First();
                path.Add($"tag {graph.Repositories[graph.ArtifactRepo[root]]}:{tag}");
                why = "tagged";
                break;
            case RootKind.Fresh:
                why = $"pushed {Time(graph.ArtifactPushed[root])}, within the time window (cutoff {Time(marks.Cutoff)})";
                break;
            case RootKind.Unknown:
                why = "an unknown or unparsable manifest is never collected";
                break;
            default:
                why = "untagged artifacts are kept (delete untagged is off)";
                break;
        }

        for (var i = 0; i < chain.Count; i++)
        {
            path.Add(Hop(graph, chain[i], i == 0 ? -1 : chain[i - 1]));
        }

        return (path, why);
    }

    /// <summary>
    /// One hop of a path, naming the kind of link from <paramref name="previous"/> (none for the root): <c>index child manifest
    /// sha256:…</c>, <c>accessory signature.cosign (hard) sha256:…</c>, or for the root <c>index sha256:…</c>.
    /// </summary>
    private static string Hop(RegistryGraph graph, int artifact, int previous)
    {
        var digest = graph.Digests[graph.ArtifactDigest[artifact]];
        var kind = graph.ArtifactKind[artifact].IsIndex() ? "index" : "manifest";
        if (graph.LinkOf(artifact) is { } link && (previous < 0 || graph.SubjectArtifact[artifact] == previous))
        {
            return $"accessory {link.Type} ({(link.Strength == ReferenceStrength.Hard ? "hard" : "soft")}) {digest}";
        }

        return previous < 0 ? $"{kind} {digest}" : $"index child {kind} {digest}";
    }

    private static IEnumerable<string> TagsOf(RegistryGraph graph, int a)
    {
        for (var t = 0; t < graph.Tags.Length; t++)
        {
            if (graph.TagArtifact[t] == a)
            {
                yield return graph.Tags[t].Name;
            }
        }
    }

    private static string Time(long ticks) => new DateTimeOffset(ticks, TimeSpan.Zero).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
