namespace Harbor.Gc.Model;

/// <summary>A reference from a manifest to a blob.</summary>
/// <param name="Digest">The blob digest.</param>
/// <param name="Size">The size the manifest declares.</param>
/// <param name="MediaType">The media type the manifest declares.</param>
/// <param name="Kind">Manifest, config or layer.</param>
/// <param name="IsForeign">
/// A non-distributable (foreign) layer: referenced, but the registry never stores it, so it is never
/// counted as freed bytes and its absence is not an error.
/// </param>
public readonly record struct BlobReference(Digest Digest, long Size, string? MediaType, BlobReferenceKind Kind, bool IsForeign = false);
