using Harbor.Gc.Model;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Diagnostics;

/// <summary>Log messages of the collector and the registry API. Event ids: 1000–1099 planning, 1100–1199 execution, 1200–1299 registry API.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information,
        Message = "GC plan for {Store}: {Artifacts} artifacts and {Blobs} blobs eligible for deletion, could free up {Bytes} bytes ({LiveArtifacts} of {TotalArtifacts} artifacts live)")]
    public static partial void PlanCreated(ILogger logger, string store, int artifacts, int blobs, long bytes, int liveArtifacts, int totalArtifacts);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "GC plan warning: {Warning}")]
    public static partial void PlanWarning(ILogger logger, string warning);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information,
        Message = "GC plan for {Store}: {Uploads} stale uploads eligible for deletion, holding {Bytes} bytes")]
    public static partial void UploadsPlanned(ILogger logger, string store, int uploads, long bytes);

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Kept artifact {Artifact}: {Why}")]
    public static partial void ArtifactKept(ILogger logger, ArtifactKey artifact, string why);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Kept blob {Digest}: {Why}")]
    public static partial void BlobKept(ILogger logger, Digest digest, string why);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "Deleting the bytes of blob {Digest} failed; the next run tries again")]
    public static partial void BlobDeleteFailed(ILogger logger, Digest digest, Exception exception);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "GC run stopped ({Reason}) after deleting {Artifacts} artifacts and {Blobs} blobs; the next run carries on")]
    public static partial void RunStopped(ILogger logger, string reason, int artifacts, int blobs);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning, Message = "GC run stopped ({Reason}) while {Phase}, before its plan was made: nothing was deleted")]
    public static partial void RunStoppedBeforePlan(ILogger logger, string reason, string phase);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "GC run finished: deleted {Artifacts} artifacts and {Blobs} blobs, freed {Bytes} bytes; kept {KeptArtifacts} artifacts and {KeptBlobs} blobs after re-checks")]
    public static partial void RunCompleted(ILogger logger, int artifacts, int blobs, long bytes, int keptArtifacts, int keptBlobs);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "Kept upload {Upload}: {Why}")]
    public static partial void UploadKept(ILogger logger, string upload, string why);

    [LoggerMessage(EventId = 1112, Level = LogLevel.Information, Message = "Kept layer link {Repository}@{Digest}: {Why}")]
    public static partial void LayerLinkKept(ILogger logger, string repository, Digest digest, string why);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Error, Message = "Deleting upload {Upload} failed; the next run tries again")]
    public static partial void UploadDeleteFailed(ILogger logger, string upload, Exception exception);

    [LoggerMessage(EventId = 1114, Level = LogLevel.Information, Message = "Left blob {Digest} to another collector, which is deleting it")]
    public static partial void BlobClaimedElsewhere(ILogger logger, Digest digest);

    [LoggerMessage(EventId = 1113, Level = LogLevel.Error, Message = "Deleting artifact {Artifact} failed; it and what goes with it are kept, and the next run tries again")]
    public static partial void ArtifactDeleteFailed(ILogger logger, ArtifactKey artifact, Exception exception);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Error, Message = "Deleting layer link {Link} failed; the next run tries again")]
    public static partial void LayerLinkDeleteFailed(ILogger logger, string link, Exception exception);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning, Message = "Put back {Items} items an interrupted run had left out of the registry's sight")]
    public static partial void Recovered(ILogger logger, int items);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Information,
        Message = "Sweep settled after the grace period: deleted {Artifacts} artifacts, {Blobs} blobs and {Links} layer links; put back {RestoredArtifacts} artifacts, {RestoredBlobs} blobs and {RestoredLinks} layer links something needed again")]
    public static partial void Settled(ILogger logger, int artifacts, int blobs, int links, int restoredArtifacts, int restoredBlobs, int restoredLinks);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information, Message = "GC run deleted {Uploads} stale uploads, freed {Bytes} bytes; kept {KeptUploads} after re-checks")]
    public static partial void UploadsDeleted(ILogger logger, int uploads, long bytes, int keptUploads);

    [LoggerMessage(EventId = 1200, Message = "{Refusal}")]
    public static partial void RegistryRefused(ILogger logger, LogLevel level, string refusal);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Deleted {Artifact} and {Cascade} more of its cascade (hard accessories, unshared untagged children); kept {Kept} that changed meanwhile")]
    public static partial void ArtifactDeleted(ILogger logger, ArtifactKey artifact, int cascade, int kept);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Debug, Message = "Pushed {Artifact} ({Kind}), tag {Tag}")]
    public static partial void ManifestPushed(ILogger logger, ArtifactKey artifact, ManifestKind kind, string tag);
}
