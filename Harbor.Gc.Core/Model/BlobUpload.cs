namespace Harbor.Gc.Model;

/// <summary>
/// An unfinished blob upload: bytes a client started to push and has not committed (yet). In the CNCF Distribution layout it is
/// the folder <c>repositories/NAME/_uploads/ID/</c>, holding <c>data</c>, <c>startedat</c> and <c>hashstates/</c>; in the LiteDB
/// store it is a temporary file <c>blobs/sha256/ab/.upload-&lt;random&gt;</c> that a push killed mid-write left behind, or a blob file
/// <c>blobs/sha256/ab/&lt;hex&gt;</c> whose push was killed after the rename and before its record (both belong to no repository).
/// </summary>
/// <remarks>
/// An abandoned upload (the client died, a <c>docker push</c> was interrupted) is never referenced by anything and is stale
/// once both its start and its last write are older than the time window. A store deletes it only when it is still exactly
/// what the plan saw: an upload that received bytes since is live again.
/// </remarks>
/// <param name="Repository">The repository the upload goes into; <see langword="null"/> for an upload that belongs to no repository
/// (the LiteDB store's leftover blob files).</param>
/// <param name="Id">The upload's id (Distribution: the UUID folder name; LiteDB: <c>sha256-ab-&lt;random&gt;</c>, naming the temporary
/// file, or <c>sha256-&lt;hex&gt;</c>, naming the unrecorded blob file); a single path segment, see <see cref="ValidateId"/>.</param>
/// <param name="StartedAt">When the upload started, as the store recorded it; <see langword="null"/> when that record is missing or malformed.</param>
/// <param name="Size">The bytes received so far.</param>
/// <param name="LastWrittenAt">When the upload was last written (its data, or its folder when newer).</param>
public sealed record BlobUpload(RepositoryName? Repository, string Id, DateTimeOffset? StartedAt, long Size, DateTimeOffset LastWrittenAt)
{
    /// <summary>The longest upload id accepted.</summary>
    public const int MaxIdLength = 160; // the LiteDB store's unrecorded sha512 blob files: "sha512-" and 128 hex digits

    /// <summary>
    /// Tells why <paramref name="id"/> is not an upload id, or returns <see langword="null"/>. An id is 1 to
    /// <see cref="MaxIdLength"/> letters, digits, <c>-</c> and <c>_</c>: one plain path segment, so no <c>/</c>, <c>\</c>,
    /// <c>..</c> or hidden name can reach a path.
    /// </summary>
    /// <param name="id">The text to check.</param>
    /// <returns>The problem, or <see langword="null"/> when the id is valid.</returns>
    public static string? ValidateId(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty)
        {
            return "it is empty";
        }

        if (id.Length > MaxIdLength)
        {
            return $"it is {id.Length} characters long, the limit is {MaxIdLength}";
        }

        for (var i = 0; i < id.Length; i++)
        {
            var c = id[i];
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_'))
            {
                return $"it has the character '{(char.IsControl(c) ? '?' : c)}' at position {i} (allowed: letters, digits, '-', '_')";
            }
        }

        return null;
    }

    /// <inheritdoc />
    public override string ToString() => Repository is { } repository ? $"{repository}/_uploads/{Id}" : $"temporary upload {Id}";
}
