using System.Text.Json;
using System.Text.Json.Serialization;

namespace Harbor.Gc.Tests.Support.Pusher;

/// <summary>How a push was made.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PushKind>))]
internal enum PushKind
{
    /// <summary>A new image: its blobs uploaded, then its manifest pushed by a new tag.</summary>
    New,

    /// <summary>A dead image's manifest pushed again by a new tag, its blobs not uploaded (a client that finds them present).</summary>
    ReTag,

    /// <summary>A new image reusing layers of dead images, uploading only the layers the registry says it lacks.</summary>
    Reuse,

    /// <summary>A new image reusing layers of dead images, every blob uploaded first (the dead ones taken back by the upload).</summary>
    UploadThenManifest,

    /// <summary>A new image, its blobs uploaded, then its manifest pushed by digest alone: garbage for a run with a zero time window.</summary>
    Untagged,

    /// <summary>
    /// A new image pushed by digest alone (garbage), then a moment later by tag, uploading only the blobs the registry says it lacks:
    /// garbage a run may be deleting, taken back.
    /// </summary>
    Revived,
}

/// <summary>A push the registry API accepted: its manifest push by tag returned.</summary>
/// <param name="Kind">How it was made.</param>
/// <param name="Repository">The repository.</param>
/// <param name="Tag">The tag (never reused); the digest for an untagged push.</param>
/// <param name="Digest">The manifest's digest.</param>
/// <param name="Blobs">The config and layers it references.</param>
/// <param name="AcceptedAtMs">When the manifest push returned, Unix milliseconds.</param>
/// <param name="Attempts">Manifest pushes it took (refused ones included).</param>
internal sealed record AcceptedPush(PushKind Kind, string Repository, string Tag, string Digest, string[] Blobs, long AcceptedAtMs, int Attempts);

/// <summary>What the pusher did, printed as one JSON line on stdout when it stops.</summary>
/// <param name="Accepted">Pushes accepted.</param>
/// <param name="Refused">Refusals a client retries, by exception type (a blob being deleted, references missing).</param>
/// <param name="Unexpected">Any other failure, as "Type: message" (a LiteDB error, a timeout, ...).</param>
/// <param name="GaveUp">Pushes abandoned after too many refusals.</param>
/// <param name="ElapsedMs">From the first push to the stop.</param>
internal sealed record PushSummary(int Accepted, Dictionary<string, int> Refused, List<string> Unexpected, int GaveUp, long ElapsedMs)
{
    /// <summary>The serializer options of the records and the summary.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
