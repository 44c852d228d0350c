using System.Globalization;
using Harbor.Gc.Graph;
using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>Answers "why is this kept?" with the path from a root, and "why is this collected?" with the rule that lets it go.</summary>
internal static class Explainer
{
    public const int MinimumPrefix = 6;

    /// <summary>What a reference asks for: a tag, a whole digest, or a digest prefix (algorithm and hex digits, the algorithm optional).</summary>
    internal abstract record Target;

    internal sealed record TagTarget(string Tag) : Target;

    internal sealed record DigestTarget(Digest Digest) : Target;

    internal sealed record PrefixTarget(string? Algorithm, string Hex) : Target;

    /// <summary>Reads <c>DIGEST</c>, <c>PREFIX</c>, <c>REPOSITORY:TAG</c> or <c>REPOSITORY@DIGEST-OR-PREFIX</c>; the repository is that of the reference, else <paramref name="repository"/>.</summary>
    public static (RepositoryName? Repository, Target Target) ParseReference(string reference, RepositoryName? repository)
    {
        var at = reference.IndexOf('@', StringComparison.Ordinal);
        string digestPart;
        if (at >= 0)
        {
            repository = Repository(reference[..at], reference, repository);
            digestPart = reference[(at + 1)..];
        }
        else if (reference.StartsWith("sha256:", StringComparison.Ordinal) || reference.StartsWith("sha512:", StringComparison.Ordinal) || !reference.Contains(':', StringComparison.Ordinal))
        {
            digestPart = reference;
        }
        else
        {
            var colon = reference.LastIndexOf(':');
            repository = Repository(reference[..colon], reference, repository);
            var tag = reference[(colon + 1)..];
            return TagName.Validate(tag) is { } tagProblem
                ? throw new UnresolvedReferenceException($"'{reference}': '{tag}' is not a tag: {tagProblem}")
                : (repository, new TagTarget(tag));
        }

        if (Digest.TryParse(digestPart, out var digest))
        {
            return (repository, new DigestTarget(digest));
        }

        var colonAt = digestPart.IndexOf(':', StringComparison.Ordinal);
        var algorithm = colonAt >= 0 ? digestPart[..colonAt] : null;
        var hex = digestPart[(colonAt + 1)..];
        if (algorithm is not (null or "sha256" or "sha512") || hex.Length < MinimumPrefix || hex.Any(c => !char.IsAsciiHexDigitLower(c)))
        {
            throw new UnresolvedReferenceException(
                $"'{reference}' is not a digest, a digest prefix of at least {MinimumPrefix} lower-case hex digits (sha256:6d0c74 or 6d0c74), "
                + "REPOSITORY:TAG or REPOSITORY@DIGEST: " + (Digest.Validate(digestPart) ?? "not a digest"));
        }

        return (repository, new PrefixTarget(algorithm, hex));
    }

    /// <summary>The digest a parsed reference names in <paramref name="graph"/>.</summary>
    public static Digest Resolve(RegistryGraph graph, string reference, RepositoryName? repository, Target target)
    {
        switch (target)
        {
            case DigestTarget whole:
                return whole.Digest;

            case TagTarget tag:
                foreach (var t in graph.Tags)
                {
                    if (t.Repository == repository && t.Name == tag.Tag)
                    {
                        return t.Digest;
                    }
                }

                throw new UnresolvedReferenceException($"'{reference}': {repository} has no tag '{tag.Tag}' in the store.");

            case PrefixTarget prefix:
                var matches = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
                void Consider(int d, string what)
                {
                    var text = graph.Digests[d].ToString();
                    var colon = text.IndexOf(':', StringComparison.Ordinal);
                    if ((prefix.Algorithm is null || text.AsSpan(0, colon).SequenceEqual(prefix.Algorithm)) && text.AsSpan(colon + 1).StartsWith(prefix.Hex, StringComparison.Ordinal))
                    {
                        if (!matches.TryGetValue(text, out var whats))
                        {
                            matches[text] = whats = new SortedSet<string>(StringComparer.Ordinal);
                        }

                        whats.Add(what);
                    }
                }

                for (var a = 0; a < graph.ArtifactCount; a++)
                {
                    var repo = graph.Repositories[graph.ArtifactRepo[a]];
                    if (repository is null || repo == repository.Value)
                    {
                        Consider(graph.ArtifactDigest[a], $"{repo}@{graph.Digests[graph.ArtifactDigest[a]]}");
                    }
                }

                for (var b = 0; b < graph.BlobCount; b++)
                {
                    Consider(graph.BlobDigest[b], $"blob {graph.Digests[graph.BlobDigest[b]]}");
                }

                return matches.Count switch
                {
                    1 => Digest.Parse(matches.Keys.First()),
                    0 => throw new UnresolvedReferenceException(
                        $"'{reference}': no manifest{(repository is { } r ? $" of {r}" : string.Empty)} or blob in the store has a digest starting so."),
                    _ => throw new UnresolvedReferenceException(
                        $"'{reference}' is ambiguous: {matches.Count} digests start so; give more digits.", matches.Values.SelectMany(w => w).ToList()),
                };

            default:
                throw new ArgumentOutOfRangeException(nameof(target));
        }
    }

    private static RepositoryName Repository(string text, string reference, RepositoryName? given)
    {
        if (RepositoryName.Validate(text) is { } problem)
        {
            throw new UnresolvedReferenceException($"'{reference}': '{text}' is not a repository name: {problem}");
        }

        var name = RepositoryName.Parse(text);
        return given is { } other && other != name
            ? throw new UnresolvedReferenceException($"'{reference}' names the repository {name}, but the repository given is {other}.")
            : name;
    }

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
                : (graph.Flags[a] & ArtifactFlags.Trashed) != 0
                ? $"deleted in Harbor: its manifest is in the registry's storage, but Harbor's database no longer has the artifact; not listed by any live index; {pushed}"
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
