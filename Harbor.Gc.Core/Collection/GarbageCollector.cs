using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Harbor.Gc.Collection;

/// <summary>
/// Garbage collection over a registry store: snapshot → graph → mark → plan → (unless dry) execute. One run covers every
/// repository.
/// </summary>
public sealed class GarbageCollector
{
    private readonly IRegistryStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates a collector over <paramref name="store"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="logger">The logger; none when null.</param>
    public GarbageCollector(IRegistryStore store, TimeProvider? timeProvider = null, ILogger<GarbageCollector>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Reads a snapshot of the store, marks what is live and plans what to delete. Deletes nothing.</summary>
    /// <param name="options">The options (<see cref="GcOptions.DryRun"/>, workers and max duration do not change the plan).</param>
    /// <param name="cancellationToken">Stops the planning.</param>
    /// <returns>The plan.</returns>
    public Task<CollectionPlan> PlanAsync(GcOptions options, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Executes a plan in the crash-safe order of DESIGN.md §5, re-checking every item against the live store.</summary>
    /// <param name="plan">The plan, from <see cref="PlanAsync"/> or loaded from a saved report.</param>
    /// <param name="options">Workers and max duration.</param>
    /// <param name="cancellationToken">Stops the run after the item in hand.</param>
    /// <returns>What was done.</returns>
    public Task<GcResult> ExecuteAsync(CollectionPlan plan, GcOptions options, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Plans and, unless <see cref="GcOptions.DryRun"/>, executes.</summary>
    /// <param name="options">The options.</param>
    /// <param name="cancellationToken">Stops the run after the item in hand.</param>
    /// <returns>What was done.</returns>
    public Task<GcResult> RunAsync(GcOptions options, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Explains why a digest is kept (the path from a root) or why nothing keeps it.</summary>
    /// <param name="digest">A manifest or blob digest.</param>
    /// <param name="repository">Limits a manifest digest to one repository; all repositories when null.</param>
    /// <param name="options">The options a run would use.</param>
    /// <param name="cancellationToken">Stops the snapshot read.</param>
    /// <returns>The explanation.</returns>
    public Task<GcExplanation> ExplainAsync(Digest digest, RepositoryName? repository, GcOptions options, CancellationToken cancellationToken = default) => throw new NotImplementedException();
}
