namespace Harbor.Gc.Collection;

/// <summary>Options of a garbage-collection run (DESIGN.md §5).</summary>
public sealed class GcOptions
{
    /// <summary>The default time window: 2 hours.</summary>
    public static readonly TimeSpan DefaultTimeWindow = TimeSpan.FromHours(2);

    /// <summary>The most workers a run may use.</summary>
    public const int MaxWorkers = 16;

    /// <summary>Plan only: print the plan, delete nothing. The plan is the same as a real run's.</summary>
    /// <value>Defaults to <see langword="false"/>.</value>
    public bool DryRun { get; set; }

    /// <summary>
    /// Collect artifacts that have no tag. When off, every artifact is a root and no artifact is deleted; blobs, layer links and
    /// uploads that nothing references are still collected. Opt-in, as Distribution's <c>garbage-collect --delete-untagged</c> and
    /// Harbor's "Allow garbage collection on untagged artifacts" are: an image deployed only by digest has no tag (DESIGN.md §5).
    /// </summary>
    /// <value>Defaults to <see langword="false"/>.</value>
    public bool DeleteUntagged { get; set; }

    /// <summary>
    /// Collect untagged artifacts even in a store that looks like it keeps its tags elsewhere: the registry storage of Harbor 2.15 and
    /// later holds manifests but no tags folder at all (tags live in Harbor's database, goharbor/harbor#22507), so every image there
    /// looks untagged. Off, such a store refuses <see cref="DeleteUntagged"/> (<see cref="InvalidDataException"/>) instead of
    /// planning to delete every image.
    /// </summary>
    /// <value>Defaults to <see langword="false"/>.</value>
    public bool AllowNoTags { get; set; }

    /// <summary>
    /// Anything pushed, uploaded or touched within this window before the run is kept: an artifact is a root, a blob is live.
    /// This protects pushes in progress (a multi-arch push's children before their index, a blob before its manifest).
    /// </summary>
    /// <value>Defaults to 2 hours; 0 or more.</value>
    public TimeSpan TimeWindow { get; set; } = DefaultTimeWindow;

    /// <summary>How many deletions run at once.</summary>
    /// <value>Defaults to 1; 1 to <see cref="MaxWorkers"/>.</value>
    public int Workers { get; set; } = 1;

    /// <summary>
    /// Stop the run cleanly after this long, counted from its start (<see cref="StartedAt"/>): the whole run, reading the store
    /// and planning included, dry or real. Stopped while reading or planning, it deletes nothing; while sweeping, it stops after
    /// the item in hand and the next run carries on. <see langword="null"/> for no limit.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>.</value>
    public TimeSpan? MaxDuration { get; set; }

    /// <summary>
    /// When the run began, for a caller that began it before calling (a command line that first opens the store): the maximum
    /// duration counts from here, and the result's start is this time. <see langword="null"/>: when the call is made.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>.</value>
    public DateTimeOffset? StartedAt { get; set; }

    /// <summary>
    /// Receives the run's progress: each phase (<see cref="GcPhase"/>) in order, from 0 done to all done; the sweep reports about
    /// a thousand steps however big the plan. Called on the thread doing the work, so it should be quick. None when null.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>.</value>
    public IProgress<GcProgress>? Progress { get; set; }

    /// <summary>Lists every invalid value, with the property name and the value; empty when the options are valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate() => [.. FindProblems().Select(p => $"{p.Property} {p.Problem}")];

    /// <summary>Every invalid value: the property's name and what is wrong with its value (which the text names).</summary>
    /// <returns>The problems, in property order; empty when the options are valid.</returns>
    internal IEnumerable<(string Property, string Problem)> FindProblems()
    {
        if (TimeWindow < TimeSpan.Zero)
        {
            yield return (nameof(TimeWindow), $"must be 0 or more, but is {TimeWindow}.");
        }

        if (Workers is < 1 or > MaxWorkers)
        {
            yield return (nameof(Workers), $"must be between 1 and {MaxWorkers}, but is {Workers}.");
        }

        if (MaxDuration is { } max && max <= TimeSpan.Zero)
        {
            yield return (nameof(MaxDuration), $"must be more than 0 when set, but is {max}.");
        }
    }

    /// <summary>Throws when any value is invalid.</summary>
    /// <exception cref="ArgumentException">Lists every invalid value.</exception>
    public void EnsureValid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid GC options: " + string.Join(" ", problems));
        }
    }

    /// <summary>A copy of these options.</summary>
    /// <returns>The copy.</returns>
    public GcOptions Clone() => (GcOptions)MemberwiseClone();
}
