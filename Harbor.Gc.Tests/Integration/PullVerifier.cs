using System.Collections.Concurrent;
using System.Net;
using Harbor.Gc.Model;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Pulls accepted pushes whole, as a client would after the run: the manifest by tag (200, the pushed digest, bytes that hash to
/// it), every blob it references through its repository (200, bytes that hash to the digest), and for an index every child
/// manifest by digest and its blobs. Each failure is named (MANIFEST_UNKNOWN, BLOB_UNKNOWN, digest mismatch, another status) and,
/// from the tree as the run left it, explained: which file is gone (tag link, revision link, layer link, blob data).
/// </summary>
internal sealed class PullVerifier(RegistryClient client, DistributionTree tree)
{
    /// <summary>Pulls each push, <paramref name="parallelism"/> at a time.</summary>
    /// <returns>The pushes that did not pull whole, each with its failures, in the order given.</returns>
    public async Task<IReadOnlyList<BrokenPush>> VerifyAsync(IReadOnlyList<AcceptedPush> pushes, int parallelism = 8)
    {
        var broken = new ConcurrentDictionary<int, BrokenPush>();
        await Parallel.ForEachAsync(Enumerable.Range(0, pushes.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (i, ct) =>
        {
            var failures = await PullAsync(pushes[i], ct).ConfigureAwait(false);
            if (failures.Count > 0)
            {
                broken[i] = new BrokenPush(pushes[i], failures);
            }
        }).ConfigureAwait(false);
        return [.. broken.OrderBy(b => b.Key).Select(b => b.Value)];
    }

    private async Task<List<PullFailure>> PullAsync(AcceptedPush push, CancellationToken cancellationToken)
    {
        var failures = new List<PullFailure>();
        var manifest = await client.GetManifestAsync(push.Repository, push.Tag, cancellationToken).ConfigureAwait(false);
        if (manifest.Status != HttpStatusCode.OK)
        {
            failures.Add(Failure(push.Repository, push.Digest, "manifest", $"manifest {push.Repository}:{push.Tag}", manifest, ManifestCause(push.Repository, push.Digest, push.Tag)));
        }
        else if (manifest.DigestHeader != push.Digest.ToString() || Digest.Sha256Of(manifest.Body) != push.Digest)
        {
            failures.Add(new PullFailure(push.Repository, push.Digest, "manifest", $"manifest {push.Repository}:{push.Tag}", DigestMismatch,
                $"the tag names {manifest.DigestHeader}, bytes hashing to {Digest.Sha256Of(manifest.Body)}, not {push.Digest}"));
        }

        await PullBlobsAsync(push.Repository, push.Blobs, failures, cancellationToken, null).ConfigureAwait(false);
        foreach (var (child, blobs) in push.Children)
        {
            var response = await client.GetManifestAsync(push.Repository, child.ToString(), cancellationToken).ConfigureAwait(false);
            if (response.Status != HttpStatusCode.OK)
            {
                failures.Add(Failure(push.Repository, child, "child manifest", $"child manifest {push.Repository}@{child}", response, ManifestCause(push.Repository, child, null)));
            }
            else if (Digest.Sha256Of(response.Body) != child)
            {
                failures.Add(new PullFailure(push.Repository, child, "child manifest", $"child manifest {push.Repository}@{child}", DigestMismatch, $"bytes hash to {Digest.Sha256Of(response.Body)}"));
            }

            await PullBlobsAsync(push.Repository, blobs, failures, cancellationToken, child).ConfigureAwait(false);
        }

        return failures;
    }

    /// <summary>Pulls the blobs of the pushed manifest, or of one of its children (<paramref name="child"/>).</summary>
    private async Task PullBlobsAsync(string repository, IEnumerable<Digest> blobs, List<PullFailure> failures, CancellationToken cancellationToken, Digest? child)
    {
        var (subject, of) = child is { } c ? ("child's blob", $" (child {c})") : ("blob", string.Empty);
        foreach (var blob in blobs)
        {
            var response = await client.GetBlobAsync(repository, blob, cancellationToken).ConfigureAwait(false);
            if (response.Status != HttpStatusCode.OK)
            {
                failures.Add(Failure(repository, blob, subject, $"blob {blob} of {repository}{of}", response, BlobCause(repository, blob)));
            }
            else if (Digest.Sha256Of(response.Body) != blob)
            {
                failures.Add(new PullFailure(repository, blob, subject, $"blob {blob} of {repository}{of}", DigestMismatch, $"bytes hash to {Digest.Sha256Of(response.Body)}"));
            }
        }
    }

    private const string DigestMismatch = "digest mismatch";

    private static PullFailure Failure(string repository, Digest digest, string subject, string what, RegistryResponse response, string cause) =>
        new(repository, digest, subject, what, response.ErrorCode is { } code ? $"{(int)response.Status} {code}" : $"{(int)response.Status}", cause);

    /// <summary>Which of the files a blob pull needs is gone: the repository's layer link, the blob's data, or both.</summary>
    private string BlobCause(string repository, Digest blob)
    {
        var link = File.Exists(Path.Combine(tree.LayerFolder(repository, blob), "link"));
        var data = File.Exists(Path.Combine(tree.BlobFolder(blob), "data"));
        return (link, data) switch
        {
            (false, true) => "layer link gone, blob data present",
            (true, false) => "blob data gone, layer link present",
            (false, false) => "layer link and blob data gone",
            _ => "layer link and blob data present",
        };
    }

    /// <summary>Which of the files a manifest pull needs is gone: the tag's link, the revision link, the manifest's blob data.</summary>
    private string ManifestCause(string repository, Digest digest, string? tag)
    {
        var parts = new List<string>();
        if (tag is not null && !File.Exists(Path.Combine(tree.TagFolder(repository, tag), "current", "link")))
        {
            parts.Add("tag link gone");
        }

        if (!tree.HasRevision(repository, digest))
        {
            parts.Add("revision link gone");
        }

        if (!tree.HasBlob(digest))
        {
            parts.Add("manifest blob data gone");
        }

        return parts.Count == 0 ? "tag, revision and manifest data present" : string.Join(", ", parts);
    }
}

/// <summary>An accepted push that did not pull whole, and why.</summary>
internal sealed record BrokenPush(AcceptedPush Push, IReadOnlyList<PullFailure> Failures)
{
    public override string ToString() => $"{Push}: {string.Join("; ", Failures)}";
}

/// <summary>
/// One failed pull: the repository and digest pulled, what it was (<c>manifest</c> by tag, <c>child manifest</c> of an index by
/// digest, <c>blob</c> of the manifest, <c>child's blob</c>) and a description, the registry's answer (status and error code, or
/// digest mismatch), and which files are gone.
/// </summary>
internal sealed record PullFailure(string Repository, Digest Digest, string Subject, string What, string Answer, string Cause)
{
    /// <summary>Whether a blob failed to pull (else a manifest).</summary>
    public bool IsBlob => Subject.EndsWith("blob", StringComparison.Ordinal);

    public override string ToString() => $"{What}: {Answer} ({Cause})";
}
