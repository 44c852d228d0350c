using Harbor.Gc.Model;

namespace Harbor.Gc.Collection;

/// <summary>A blob a plan deletes.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="LastTouchedAt">Its last touch as the plan saw it; a blob touched since is kept.</param>
/// <param name="Status">Its status as the plan saw it (not <see cref="BlobStatus.None"/> when an earlier run was interrupted).</param>
public readonly record struct PlannedBlob(Digest Digest, long Size, DateTimeOffset LastTouchedAt, BlobStatus Status);
