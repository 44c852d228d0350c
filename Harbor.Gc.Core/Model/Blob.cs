namespace Harbor.Gc.Model;

/// <summary>A blob record: content-addressed bytes, global to the registry (one blob can serve many repositories).</summary>
/// <param name="Digest">The content digest.</param>
/// <param name="Size">The size in bytes.</param>
/// <param name="MediaType">The media type, when the store knows it.</param>
/// <param name="CreatedAt">When the blob was first stored.</param>
/// <param name="UpdatedAt">When the blob was last touched: uploaded again, mounted, linked or referenced by a push.</param>
/// <param name="Status">The deletion state.</param>
public sealed record Blob(Digest Digest, long Size, string? MediaType, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, BlobStatus Status = BlobStatus.None)
{
    /// <summary>The later of <see cref="CreatedAt"/> and <see cref="UpdatedAt"/>: the time the window is measured from.</summary>
    public DateTimeOffset LastTouchedAt => UpdatedAt > CreatedAt ? UpdatedAt : CreatedAt;
}
