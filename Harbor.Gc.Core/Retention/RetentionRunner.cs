using System.Collections.Immutable;
using System.Data.Common;
using Harbor.Gc.Immutability;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.Distribution;

namespace Harbor.Gc.Retention;

/// <summary>A retention run, dry or real: the plan, and what the executor did.</summary>
/// <param name="Store">The store's description.</param>
/// <param name="DryRun">Whether nothing was deleted on purpose.</param>
/// <param name="StartedAt">When the run began.</param>
/// <param name="FinishedAt">When it ended.</param>
/// <param name="Plan">The plan.</param>
/// <param name="Execution">What the executor did; <see langword="null"/> on a dry run.</param>
/// <param name="Warnings">What the run wants its user to know: the store's problems, unknown pull times.</param>
public sealed record RetentionResult(
    string Store,
    bool DryRun,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    RetentionPlan Plan,
    RetentionExecution? Execution,
    ImmutableArray<string> Warnings)
{
    /// <summary>
    /// Whether the plan was made: false when the run was stopped while reading the store or evaluating the policy; then
    /// <see cref="Plan"/> is empty, there is no <see cref="Execution"/>, and nothing was deleted.
    /// </summary>
    public bool Planned { get; init; } = true;

    /// <summary>Whether the run stopped before the end: before its plan was made, or before the end of the plan (<see cref="RetentionExecution.Stopped"/>).</summary>
    public bool Stopped => !Planned || Execution is { Stopped: true };

    /// <summary>What stopped it, in the words of the caller that cancelled it (the command line names the signal: <c>SIGTERM</c>); null when unnamed.</summary>
    public string? StoppedBy { get; init; }

    /// <summary>Why it stopped, for reports: <see cref="StoppedBy"/>, else <c>cancelled</c>; null when it did not stop.</summary>
    public string? StopReasonName => Stopped ? StoppedBy ?? "cancelled" : null;
}

/// <summary>
/// Runs a retention policy over a store (DESIGN.md §6): reads a <see cref="RetentionSnapshot"/>, evaluates the policy, and
/// unless dry, carries the plan out with <see cref="RetentionExecutor"/>. A dry run makes the same plan and changes nothing.
/// Blobs are not deleted: the next GC run frees those only the deleted artifacts referenced.
/// </summary>
/// <param name="store">The store.</param>
/// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
public sealed class RetentionRunner(IRegistryStore store, TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>The warning a run gives when pull-based rules meet a store that keeps no pull times.</summary>
    public const string PullTimesUnknownWarning =
        "pull times are unknown in the Distribution layout: pull-based rules (latestPulledN, nDaysSinceLastPull, and the pull half of latestActiveK) treat every artifact as never pulled";

    /// <summary>The warning a run gives when push-based rules meet a store that cannot tell a re-push from a push.</summary>
    public const string RePushUnknownWarning =
        "the Distribution layout cannot tell a re-push from a push: pushing a manifest again to a tag it already has rewrites its links, so push-based rules (latestPushedK, nDaysSinceLastPush, latestActiveK, lastXDays) see it as pushed then, where Harbor keeps its first push time";

    /// <summary>
    /// Whether a store keeps an artifact's first push apart from its last touch, and leaves a tag's push time alone when the same
    /// digest is pushed to it again (the Distribution layout does not: each push rewrites the revision and tag links).
    /// </summary>
    /// <param name="registryStore">The store.</param>
    /// <returns>Whether a re-push can be told from a push.</returns>
    public static bool KnowsFirstPush(IRegistryStore registryStore) => registryStore is not DistributionRegistryStore;

    /// <summary>Whether an enabled rule of the policy reads push times.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns>Whether a push-based rule is enabled.</returns>
    public static bool UsesPushTimes(RetentionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Rules.Any(r => !r.Disabled && r.Template is RetentionTemplate.LatestPushedK or RetentionTemplate.NDaysSinceLastPush
            or RetentionTemplate.LatestActiveK or RetentionTemplate.LastXDays);
    }

    /// <summary>Whether a store records pull times (the Distribution layout does not: the registry writes no pull record).</summary>
    /// <param name="registryStore">The store.</param>
    /// <returns>Whether pull times are known.</returns>
    public static bool KnowsPullTimes(IRegistryStore registryStore) => registryStore is not DistributionRegistryStore;

    /// <summary>Whether an enabled rule of the policy reads pull times.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns>Whether a pull-based rule is enabled.</returns>
    public static bool UsesPullTimes(RetentionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Rules.Any(r => !r.Disabled && r.Template is RetentionTemplate.LatestPulledN or RetentionTemplate.NDaysSinceLastPull
            or RetentionTemplate.LatestActiveK);
    }

    /// <summary>Runs the policy.</summary>
    /// <param name="policy">The policy (validated; an invalid one throws before anything is read).</param>
    /// <param name="immutability">The immutable tag rules; none when null.</param>
    /// <param name="dryRun">Plan only.</param>
    /// <param name="cancellationToken">
    /// Stops the read or the evaluation (nothing deleted: the result is not <see cref="RetentionResult.Planned"/>), or the execution
    /// after the artifact in hand (<see cref="RetentionExecution.Stopped"/>).
    /// </param>
    /// <returns>The run; <see cref="RetentionResult.Stopped"/> when it was cancelled before the end.</returns>
    /// <exception cref="PolicyException">The policy is invalid; nothing is read or deleted.</exception>
    public async Task<RetentionResult> RunAsync(RetentionPolicy policy, ImmutabilityRules? immutability = null, bool dryRun = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var errors = RetentionPolicyJson.Validate(policy);
        if (errors.Count > 0)
        {
            throw new PolicyException("policy", errors);
        }

        var startedAt = _time.GetUtcNow();

        // a real run on a store that defers deletions takes its lock, and puts back what an interrupted run left, before it reads
        var deferred = dryRun ? null : store as IDeferredSweepStore;
        deferred?.BeginSweep();
        try
        {
            return await RunCoreAsync(policy, immutability, dryRun, startedAt, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            throw new StoreFailedException(store.Description, e); // the database went away mid-run
        }
        finally
        {
            deferred?.EndSweep();
        }
    }

    private async Task<RetentionResult> RunCoreAsync(RetentionPolicy policy, ImmutabilityRules? immutability, bool dryRun, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        RetentionSnapshot snapshot;
        RetentionPlan plan;
        try
        {
            snapshot = await RetentionSnapshot.ReadAsync(store, cancellationToken).ConfigureAwait(false);
            plan = RetentionEvaluator.Evaluate(policy, snapshot, _time, immutability, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopped while reading or evaluating: nothing was deleted
            var none = new RetentionPlan(policy, startedAt, [], [], []);
            return new RetentionResult(store.Description, dryRun, startedAt, _time.GetUtcNow(), none, null, []) { Planned = false };
        }

        var warnings = ImmutableArray.CreateBuilder<string>();
        if (!KnowsPullTimes(store) && UsesPullTimes(policy))
        {
            warnings.Add(PullTimesUnknownWarning);
        }

        if (!KnowsFirstPush(store) && UsesPushTimes(policy))
        {
            warnings.Add(RePushUnknownWarning);
        }

        warnings.AddRange(snapshot.Problems.Select(p => $"{p.Location}: {p.Message}"));
        var execution = dryRun ? null : await RetentionExecutor.ExecuteAsync(plan, snapshot, store, immutability, cancellationToken).ConfigureAwait(false);
        return new RetentionResult(store.Description, dryRun, startedAt, _time.GetUtcNow(), plan, execution, warnings.ToImmutable());
    }
}
