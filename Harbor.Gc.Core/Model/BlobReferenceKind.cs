namespace Harbor.Gc.Model;

/// <summary>How a manifest refers to a blob.</summary>
public enum BlobReferenceKind : byte
{
    /// <summary>The manifest's own bytes, stored as a blob under the manifest digest.</summary>
    Manifest = 0,

    /// <summary>The image config (or the empty config of an artifact).</summary>
    Config = 1,

    /// <summary>A layer (or an artifact's blob).</summary>
    Layer = 2,
}
