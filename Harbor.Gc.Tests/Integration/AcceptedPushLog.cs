using System.Collections.Concurrent;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>How a push reuses what a plan marked dead (issue 13 §1).</summary>
internal enum PushKind
{
    /// <summary>An existing dead manifest, its exact bytes, PUT under a new tag in its repository (its blobs found present).</summary>
    Retag,

    /// <summary>A dead image's layers mounted into another repository, and a new manifest (fresh config) PUT there by tag.</summary>
    Mount,

    /// <summary>Dead blobs' bytes uploaded into a new repository, and a new manifest (fresh config) PUT there by tag.</summary>
    Upload,
}

/// <summary>A manifest the registry accepted (201) by tag, with everything a pull of it needs.</summary>
/// <param name="Blobs">Config and layers.</param>
/// <param name="Children">For an index, each child manifest and its config and layers.</param>
/// <param name="At">When the registry accepted it (a <see cref="TimeProvider"/> timestamp).</param>
internal sealed record AcceptedPush(PushKind Kind, string Repository, string Tag, Digest Digest, string MediaType, IReadOnlyList<Digest> Blobs,
    IReadOnlyList<(Digest Digest, IReadOnlyList<Digest> Blobs)> Children, int Attempt, long At)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Repository}:{Tag} ({Digest}, attempt {Attempt})";
}

/// <summary>
/// The pushes of a round: those the registry accepted, the requests it refused (by error code: a refusal during a run is allowed,
/// the client retries), the pushes given up after every attempt, and every manifest and blob any attempt reused (accepted or not:
/// the run may keep those, so they do not count when checking that it deleted its garbage).
/// </summary>
internal sealed class AcceptedPushLog(TimeProvider time)
{
    private readonly ConcurrentQueue<AcceptedPush> _accepted = new();
    private readonly ConcurrentDictionary<string, int> _refusals = new();
    private readonly ConcurrentDictionary<PushKind, int> _gaveUp = new();
    private readonly ConcurrentDictionary<Digest, byte> _reusedBlobs = new();
    private readonly ConcurrentDictionary<(string, Digest), byte> _reusedManifests = new();

    public IReadOnlyList<AcceptedPush> Accepted => [.. _accepted];

    /// <summary>Refused requests, by kind of push and the registry's error code (or status).</summary>
    public IReadOnlyDictionary<string, int> Refusals => _refusals;

    public IReadOnlyDictionary<PushKind, int> GaveUp => _gaveUp;

    public ICollection<Digest> ReusedBlobs => _reusedBlobs.Keys;

    public ICollection<(string Repository, Digest Digest)> ReusedManifests => _reusedManifests.Keys;

    /// <summary>Notes what an attempt is about to reuse, before its first request.</summary>
    public void Reusing(IEnumerable<Digest> blobs, IEnumerable<(string, Digest)> manifests)
    {
        foreach (var blob in blobs)
        {
            _reusedBlobs.TryAdd(blob, 0);
        }

        foreach (var manifest in manifests)
        {
            _reusedManifests.TryAdd(manifest, 0);
        }
    }

    public AcceptedPush Accept(PushKind kind, string repository, string tag, Digest digest, string mediaType, IReadOnlyList<Digest> blobs,
        IReadOnlyList<(Digest, IReadOnlyList<Digest>)> children, int attempt)
    {
        var push = new AcceptedPush(kind, repository, tag, digest, mediaType, blobs, children, attempt, time.GetTimestamp());
        _accepted.Enqueue(push);
        return push;
    }

    public void Refused(PushKind kind, string why) => _refusals.AddOrUpdate($"{kind.ToString().ToLowerInvariant()}: {why}", 1, (_, n) => n + 1);

    public void GiveUp(PushKind kind) => _gaveUp.AddOrUpdate(kind, 1, (_, n) => n + 1);
}
