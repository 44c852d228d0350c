using System.Collections.Immutable;
using System.Text;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;
using Harbor.Gc.Retention;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Retention;

/// <summary>A small registry fed straight into a <see cref="RetentionSnapshot"/>, for the evaluator's scenario tests.</summary>
internal sealed class RetentionFixture
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public RetentionSnapshot Snapshot { get; } = new();

    public FakeTimeProvider Time { get; } = new(Now);

    public static Digest D(string name) => Digest.Sha256Of(Encoding.UTF8.GetBytes(name));

    public static RepositoryName R(string name) => RepositoryName.Parse(name);

    public Digest Image(string repo, string name, double pushedDaysAgo, double? pulledDaysAgo = null, params string[] tags) =>
        Add(repo, name, pushedDaysAgo, pulledDaysAgo, ManifestKind.OciManifest, [], tags);

    /// <summary>An image pushed (and pulled) at exact instants, for the day rules' boundaries.</summary>
    public Digest ImageAt(string repo, string name, DateTimeOffset pushedAt, DateTimeOffset? pulledAt, params string[] tags)
    {
        var digest = D(name);
        Snapshot.OnArtifact(new Artifact
        {
            Repository = R(repo),
            Digest = digest,
            MediaType = MediaTypes.OciManifest,
            Kind = ManifestKind.OciManifest,
            PushedAt = pushedAt,
            PulledAt = pulledAt,
        });
        foreach (var tag in tags)
        {
            Snapshot.OnTag(new Tag(R(repo), tag, digest, pushedAt));
        }

        return digest;
    }

    public Digest Index(string repo, string name, double pushedDaysAgo, Digest[] children, params string[] tags) =>
        Add(repo, name, pushedDaysAgo, null, ManifestKind.OciIndex, children, tags);

    /// <summary>A cosign signature of <paramref name="subject"/>, linked hard, carrying its tag-scheme tag.</summary>
    public Digest Signature(string repo, string name, Digest subject, ReferenceStrength strength = ReferenceStrength.Hard)
    {
        var digest = Image(repo, name, 5);
        Snapshot.OnTag(new Tag(R(repo), $"sha256-{subject.Hex}.sig", digest, Now.AddDays(-5)));
        Snapshot.OnAccessoryLink(new AccessoryLink(R(repo), digest, subject, AccessoryTypes.CosignSignature, strength, FromTagScheme: true));
        return digest;
    }

    private Digest Add(string repo, string name, double pushedDaysAgo, double? pulledDaysAgo, ManifestKind kind, Digest[] children, string[] tags)
    {
        var digest = D(name);
        Snapshot.OnArtifact(new Artifact
        {
            Repository = R(repo),
            Digest = digest,
            MediaType = kind == ManifestKind.OciIndex ? MediaTypes.OciIndex : MediaTypes.OciManifest,
            Kind = kind,
            PushedAt = Now.AddDays(-pushedDaysAgo),
            PulledAt = pulledDaysAgo is { } p ? Now.AddDays(-p) : null,
            Children = [.. children],
        });
        foreach (var tag in tags)
        {
            Snapshot.OnTag(new Tag(R(repo), tag, digest, Now.AddDays(-pushedDaysAgo)));
        }

        return digest;
    }

    public RetentionPlan Evaluate(RetentionPolicy policy, ImmutabilityRules? immutable = null) =>
        RetentionEvaluator.Evaluate(policy, Snapshot, Time, immutable);

    public static RetentionPolicy Policy(params RetentionRule[] rules) => new("library", [.. rules]);

    public static RetentionRule Rule(RetentionTemplate template, int parameter = 0, string tags = "**", bool untagged = true, string repositories = "**") =>
        new(template, parameter, RepositorySelector.Matching(repositories), TagSelector.Matching(tags, untagged));

    public static ImmutabilityRules Immutable(string tags, string repositories = "**", SelectorDecoration decoration = SelectorDecoration.Matches) =>
        new([new ImmutableTagRule("library", 0, RepositorySelector.Matching(repositories), new TagSelector(decoration, DoublestarPattern.Parse(tags), false))]);
}

internal static class RetentionPlanExtensions
{
    public static ArtifactRetention Of(this RetentionPlan plan, Digest digest) =>
        plan.Repositories.SelectMany(r => r.Artifacts).Single(a => a.Digest == digest);

    public static ImmutableHashSet<Digest> DeletedDigests(this RetentionPlan plan) => [.. plan.DeleteOrder.Select(k => k.Digest)];

    public static ImmutableHashSet<Digest> RetainedDigests(this RetentionPlan plan) =>
        [.. plan.Repositories.SelectMany(r => r.Artifacts).Where(a => a.Outcome == RetentionOutcome.Retained).Select(a => a.Digest)];
}
