using System.Collections.Immutable;
using Harbor.Gc.Accessories;
using Harbor.Gc.Immutability;
using Harbor.Gc.Model;

namespace Harbor.Gc.Retention;

/// <summary>
/// Evaluates a retention policy over a snapshot (DESIGN.md §6), a pure function of (policy, snapshot, immutability rules,
/// now). Per repository of the policy's project that some enabled rule selects:
/// candidates are the artifacts that are neither hard accessories nor untagged children of an index; each enabled rule retains,
/// from the candidates its tag selector selects, what its template keeps; an artifact is retained when any rule retains it
/// (OR) or when it is immutable; a tagged child no rule retains stays while a kept index lists it and goes with its last index;
/// every other candidate is deleted, with its hard accessories (recursively) and its untagged children that only deleted
/// indexes reference. Work per repository is a sort per rule: no quadratic step.
/// </summary>
public static class RetentionEvaluator
{
    private const long TicksPerDay = TimeSpan.TicksPerDay;
    private static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>Evaluates a policy.</summary>
    /// <param name="policy">The policy (validated: <see cref="RetentionPolicyJson.Validate"/> must report nothing).</param>
    /// <param name="snapshot">The registry's content.</param>
    /// <param name="time">The clock; day-based rules measure from its current time.</param>
    /// <param name="immutability">The immutable tag rules; <see cref="ImmutabilityRules.None"/> when there are none.</param>
    /// <param name="cancellationToken">Stops the evaluation between repositories.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="PolicyException">The policy is invalid.</exception>
    public static RetentionPlan Evaluate(
        RetentionPolicy policy,
        RetentionSnapshot snapshot,
        TimeProvider time,
        ImmutabilityRules? immutability = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(time);
        var errors = RetentionPolicyJson.Validate(policy);
        if (errors.Count > 0)
        {
            throw new PolicyException("policy", errors);
        }

        immutability ??= ImmutabilityRules.None;
        var noImmutableRules = immutability.IsEmpty;
        var now = time.GetUtcNow();
        var rules = policy.Rules.Select((rule, index) => (Rule: rule, Index: index)).Where(r => !r.Rule.Disabled).ToArray();
        var inProject = snapshot.Repositories
            .Where(r => string.Equals(r.Project, policy.Project, StringComparison.Ordinal))
            .Order()
            .ToArray();

        var repositories = ImmutableArray.CreateBuilder<RepositoryRetention>();
        var untouched = ImmutableArray.CreateBuilder<RepositoryName>();
        var deleteOrder = ImmutableArray.CreateBuilder<ArtifactKey>();
        foreach (var repository in inProject)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = ImmutabilityRules.PathBelowProject(repository);
            var selecting = rules.Where(r => r.Rule.Repositories.Selects(path)).ToArray();
            if (selecting.Length == 0 || !snapshot.TryGet(repository, out var content))
            {
                untouched.Add(repository);
                continue;
            }

            var evaluation = new RepositoryEvaluation(repository, content, noImmutableRules ? null : immutability, now.UtcTicks);
            repositories.Add(evaluation.Run(selecting, deleteOrder));
        }

        return new RetentionPlan(policy, now, repositories.ToImmutable(), untouched.ToImmutable(), deleteOrder.ToImmutable());
    }

    private sealed class RepositoryEvaluation
    {
        private readonly RepositoryName _repository;
        private readonly RetentionSnapshot.RepositoryContent _content;
        private readonly ImmutabilityRules? _immutability; // null when no rule is enabled
        private readonly long _now;
        private readonly int _count;
        private readonly Digest[] _digests;
        private readonly long[] _pushed;
        private readonly long[] _pulled; // 0 = never pulled
        private readonly List<string>?[] _tags;
        private readonly bool[] _hardAccessory;
        private readonly int[] _subject; // of a hard accessory, -1 when the subject is absent
        private readonly List<int>?[] _accessories; // hard accessories per subject
        private readonly List<int>?[] _children;
        private readonly List<int>?[] _parents;
        private readonly int[] _byDigest; // every index, in digest order
        private readonly string?[] _accessoryType; // for the reports

        internal RepositoryEvaluation(RepositoryName repository, RetentionSnapshot.RepositoryContent content, ImmutabilityRules? immutability, long now)
        {
            _repository = repository;
            _content = content;
            _immutability = immutability;
            _now = now;
            _count = content.Artifacts.Count;
            _digests = new Digest[_count];
            _pushed = new long[_count];
            _pulled = new long[_count];
            _tags = new List<string>?[_count];
            _hardAccessory = new bool[_count];
            _subject = new int[_count];
            _accessories = new List<int>?[_count];
            _children = new List<int>?[_count];
            _parents = new List<int>?[_count];
            _accessoryType = new string?[_count];
            Load();
            _byDigest = new int[_count];
            for (var i = 0; i < _count; i++)
            {
                _byDigest[i] = i;
            }

            Array.Sort((Digest[])_digests.Clone(), _byDigest);
        }

        internal RepositoryRetention Run((RetentionRule Rule, int Index)[] rules, ImmutableArray<ArtifactKey>.Builder deleteOrder)
        {
            // Candidates in digest order: every sort below is stable on it, so ties break by digest. As Harbor's artifact list
            // (src/pkg/artifact/dao/dao.go, the "both" filter) a child of an index is a candidate when it carries a tag.
            var candidates = new List<int>(_count);
            foreach (var i in _byDigest)
            {
                if (!_hardAccessory[i] && (_parents[i] is null || _tags[i] is not null))
                {
                    candidates.Add(i);
                }
            }

            var retainedBy = new List<int>?[_count];
            foreach (var (rule, index) in rules)
            {
                var selected = new List<int>(candidates.Count);
                foreach (var i in candidates)
                {
                    if (rule.Tags.Selects((IReadOnlyList<string>?)_tags[i] ?? []))
                    {
                        selected.Add(i);
                    }
                }

                foreach (var i in Retain(rule, selected))
                {
                    (retainedBy[i] ??= []).Add(index);
                }
            }

            var immutableBy = new string?[_count];
            for (var i = 0; i < _count && _immutability is not null; i++)
            {
                if (_tags[i] is { } tags && _immutability.FindImmutableTag(_repository, tags) is { } hit)
                {
                    immutableBy[i] = $"tag {hit.Tag}: {hit.Rule}";
                }
            }

            // An immutable hard accessory (one with an immutable user tag of its own) cannot go, so neither can the subjects
            // it hangs from: deleting a subject deletes its hard accessories. A hard accessory of a kept subject is never
            // cascaded, so below this point an immutable subject's accessories are safe too.
            for (var i = 0; i < _count; i++)
            {
                if (immutableBy[i] is null || !_hardAccessory[i])
                {
                    continue;
                }

                for (var j = _subject[i]; j >= 0 && immutableBy[j] is null; j = _hardAccessory[j] ? _subject[j] : -1)
                {
                    immutableBy[j] = $"its accessory {_digests[i]} is immutable ({immutableBy[i]})";
                }
            }

            var deleted = new bool[_count];
            var reason = new RetentionReason[_count];
            var cause = new int[_count];
            Array.Fill(cause, -1);
            var queue = new Queue<int>();
            var keptAsChild = new bool[_count]; // a tagged child no rule retains: it goes when its last index goes
            foreach (var i in candidates)
            {
                if (immutableBy[i] is not null || retainedBy[i] is not null)
                {
                    reason[i] = retainedBy[i] is not null ? RetentionReason.RetainedByRule : RetentionReason.Immutable;
                }
                else if (_parents[i] is not null)
                {
                    keptAsChild[i] = true;
                }
                else
                {
                    deleted[i] = true;
                    reason[i] = RetentionReason.NotRetained;
                    queue.Enqueue(i);
                }
            }

            // Cascade to a fixpoint: a deleted artifact takes its hard accessories, and a child goes once every index that
            // references it goes and it carries no user tag, or it is a tagged candidate no rule retains (Harbor deletes such a
            // child as a candidate once its index is gone: src/controller/artifact/controller.go deleteDeeply skips a tagged
            // child, and the retention performer then deletes the child itself).
            while (queue.TryDequeue(out var i))
            {
                foreach (var accessory in (IEnumerable<int>?)_accessories[i] ?? [])
                {
                    if (!deleted[accessory])
                    {
                        deleted[accessory] = true;
                        reason[accessory] = RetentionReason.AccessoryOfDeleted;
                        cause[accessory] = i;
                        queue.Enqueue(accessory);
                    }
                }

                foreach (var child in (IEnumerable<int>?)_children[i] ?? [])
                {
                    var follower = _tags[child] is null && immutableBy[child] is null && !_hardAccessory[child];
                    if (!deleted[child] && (follower || keptAsChild[child]) && _parents[child]!.TrueForAll(p => deleted[p]))
                    {
                        deleted[child] = true;
                        reason[child] = follower ? RetentionReason.ChildOfDeleted : RetentionReason.NotRetained;
                        cause[child] = i;
                        queue.Enqueue(child);
                    }
                }
            }

            var isCandidate = new bool[_count];
            var deletedCount = 0;
            foreach (var i in candidates)
            {
                isCandidate[i] = true;
                deletedCount += deleted[i] ? 1 : 0;
            }

            var decisions = ImmutableArray.CreateBuilder<ArtifactRetention>(_count);
            foreach (var i in _byDigest)
            {
                if (!deleted[i] && (isCandidate[i] ? keptAsChild[i] : _hardAccessory[i] || _parents[i] is not null))
                {
                    (reason[i], cause[i]) = KeptFollower(i, immutableBy, deleted);
                }

                decisions.Add(new ArtifactRetention(
                    _digests[i],
                    SortedTags(_tags[i]),
                    deleted[i] ? RetentionOutcome.Deleted : RetentionOutcome.Retained,
                    reason[i],
                    retainedBy[i] is { } r ? [.. r] : [],
                    cause[i] >= 0 ? _digests[cause[i]] : null,
                    immutableBy[i] ?? (cause[i] >= 0 && reason[i] == RetentionReason.Immutable ? immutableBy[cause[i]] : null))
                {
                    Size = _content.Artifacts[i].Size,
                    AccessoryType = _accessoryType[i],
                    Candidate = isCandidate[i],
                });
            }

            AppendDeleteOrder(deleted, deleteOrder);
            return new RepositoryRetention(
                _repository,
                candidates.Count,
                candidates.Count - deletedCount,
                deletedCount,
                decisions.MoveToImmutable());
        }

        private static ImmutableArray<string> SortedTags(List<string>? tags)
        {
            switch (tags?.Count ?? 0)
            {
                case 0:
                    return [];
                case 1:
                    return [tags![0]];
                default:
                    var sorted = tags!.ToArray();
                    Array.Sort(sorted, StringComparer.Ordinal);
                    return ImmutableArray.Create(sorted);
            }
        }

        /// <summary>Why a kept accessory or child stays; the cause it names is kept too.</summary>
        private (RetentionReason Reason, int Cause) KeptFollower(int i, string?[] immutableBy, bool[] deleted)
        {
            if (_hardAccessory[i])
            {
                var root = i;
                while (_hardAccessory[root] && _subject[root] >= 0)
                {
                    root = _subject[root];
                }

                if (_hardAccessory[root])
                {
                    return (RetentionReason.OrphanAccessory, -1);
                }

                return immutableBy[root] is not null
                    ? (RetentionReason.Immutable, root)
                    : (RetentionReason.AccessoryOfRetained, _subject[i]);
            }

            if (immutableBy[i] is not null)
            {
                return (RetentionReason.Immutable, -1);
            }

            // A child stays while an index lists it: name a kept one, never one the plan deletes.
            var parents = _parents[i]!;
            var kept = parents.FindIndex(p => !deleted[p]);
            return (RetentionReason.ChildKept, kept >= 0 ? parents[kept] : -1);
        }

        private IEnumerable<int> Retain(RetentionRule rule, List<int> selected)
        {
            var k = rule.Parameter;
            var cutoff = _now - (k * TicksPerDay);
            return rule.Template switch
            {
                // Harbor keeps the k newest; k = 0 keeps none. OrderByDescending is stable: equal times keep digest order.
                RetentionTemplate.LatestPushedK => selected.OrderByDescending(i => _pushed[i]).Take(k),

                // Never pulled sorts last and is never retained by a pull rule (DESIGN.md §6).
                RetentionTemplate.LatestPulledN => selected.Where(i => _pulled[i] != 0).OrderByDescending(i => _pulled[i]).Take(k),
                RetentionTemplate.LatestActiveK => selected.OrderByDescending(Active).Take(k),

                // Harbor's daysps and dayspl (Process) keep PushedTime/PulledTime >= (now - d days).Unix(), both in whole
                // Unix seconds: pushed exactly d days ago, or in the cutoff's second, is kept.
                RetentionTemplate.NDaysSinceLastPush => selected.Where(i => UnixSeconds(_pushed[i]) >= UnixSeconds(cutoff)),
                RetentionTemplate.NDaysSinceLastPull => selected.Where(i => _pulled[i] != 0 && UnixSeconds(_pulled[i]) >= UnixSeconds(cutoff)),

                // Harbor's lastx (Process) reads the push time only, truncated to its second, and keeps it when After the
                // exact cutoff: pushed exactly d days ago is not kept.
                RetentionTemplate.LastXDays => selected.Where(i => (UnixSeconds(_pushed[i]) * TimeSpan.TicksPerSecond) + UnixEpochTicks > cutoff),
                RetentionTemplate.Always => selected,
                _ => throw new InvalidOperationException($"unknown template {rule.Template}"),
            };
        }

        private long Active(int i) => Math.Max(_pushed[i], _pulled[i]);

        /// <summary>UTC ticks as Go's <c>time.Unix()</c> gives them: whole seconds since 1970, rounded down.</summary>
        private static long UnixSeconds(long utcTicks)
        {
            var (seconds, rest) = Math.DivRem(utcTicks - UnixEpochTicks, TimeSpan.TicksPerSecond);
            return rest < 0 ? seconds - 1 : seconds;
        }

        /// <summary>Accessories before their subject, an index before its children; visited in digest order.</summary>
        private void AppendDeleteOrder(bool[] deleted, ImmutableArray<ArtifactKey>.Builder order)
        {
            // Depth-first post-order over "must come after" edges: an artifact is emitted after its deleted accessories
            // (which precede it) and after its deleted parents (which precede it).
            var state = new byte[_count];
            var stack = new Stack<(int Node, bool Expanded)>();
            foreach (var start in _byDigest)
            {
                if (!deleted[start])
                {
                    continue;
                }

                stack.Push((start, false));
                while (stack.TryPop(out var item))
                {
                    var (node, expanded) = item;
                    if (expanded)
                    {
                        if (state[node] != 2)
                        {
                            state[node] = 2;
                            order.Add(new ArtifactKey(_repository, _digests[node]));
                        }

                        continue;
                    }

                    if (state[node] != 0)
                    {
                        continue;
                    }

                    state[node] = 1;
                    stack.Push((node, true));
                    if (_accessories[node] is null && _parents[node] is null)
                    {
                        continue;
                    }

                    var before = ((IEnumerable<int>?)_accessories[node] ?? []).Concat((IEnumerable<int>?)_parents[node] ?? [])
                        .Where(p => deleted[p] && state[p] == 0)
                        .OrderByDescending(p => _digests[p]);
                    foreach (var predecessor in before)
                    {
                        stack.Push((predecessor, false));
                    }
                }
            }
        }

        private void Load()
        {
            var rows = _content.Artifacts;
            var index = _content.Index;
            for (var i = 0; i < _count; i++)
            {
                var row = rows[i];
                _digests[i] = row.Digest;
                _pushed[i] = row.PushedAt.UtcTicks;
                _pulled[i] = row.PulledAt?.UtcTicks ?? 0;
                _subject[i] = -1;
            }

            foreach (var tag in _content.Tags)
            {
                if (!index.TryGetValue(tag.Digest, out var i))
                {
                    continue;
                }

                if (tag.PulledAt is { } pulled && pulled.UtcTicks > _pulled[i])
                {
                    _pulled[i] = pulled.UtcTicks;
                }

                // Harbor's candidates (src/pkg/retention/dep/client.go, GetCandidates) take the latest of the artifact's push
                // time and its tags' push times: a tag created on or moved to an artifact makes it recent.
                if (tag.PushedAt.UtcTicks > _pushed[i])
                {
                    _pushed[i] = tag.PushedAt.UtcTicks;
                }

                // An accessory's cosign tag-scheme tag is its name, not a user's tag (DESIGN.md §4).
                if (!AccessoryClassifier.IsTagSchemeTag(tag.Name))
                {
                    var tags = _tags[i] ??= [];
                    if (!tags.Contains(tag.Name))
                    {
                        tags.Add(tag.Name);
                    }
                }
            }

            foreach (var link in _content.Links)
            {
                if (index.TryGetValue(link.Accessory, out var typed))
                {
                    _accessoryType[typed] ??= link.Type;
                }

                if (link.Strength != ReferenceStrength.Hard || !index.TryGetValue(link.Accessory, out var accessory) || _hardAccessory[accessory])
                {
                    continue;
                }

                _hardAccessory[accessory] = true;
                if (index.TryGetValue(link.Subject, out var subject) && subject != accessory)
                {
                    _subject[accessory] = subject;
                    (_accessories[subject] ??= []).Add(accessory);
                }
            }

            for (var i = 0; i < _count; i++)
            {
                foreach (var child in rows[i].Children)
                {
                    if (index.TryGetValue(child, out var c) && c != i && (_parents[c] is not { } p || !p.Contains(i)))
                    {
                        (_parents[c] ??= []).Add(i);
                        (_children[i] ??= []).Add(c);
                    }
                }
            }
        }
    }
}
