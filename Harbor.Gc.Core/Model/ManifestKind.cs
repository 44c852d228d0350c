namespace Harbor.Gc.Model;

/// <summary>The kinds of manifest this library understands.</summary>
public enum ManifestKind : byte
{
    /// <summary>Not a kind this library parses (schema 1, an unknown media type, malformed JSON). Such a manifest is always kept.</summary>
    Unknown = 0,

    /// <summary>OCI image manifest.</summary>
    OciManifest = 1,

    /// <summary>OCI image index.</summary>
    OciIndex = 2,

    /// <summary>Docker image manifest, schema 2.</summary>
    DockerManifest = 3,

    /// <summary>Docker manifest list.</summary>
    DockerManifestList = 4,
}

/// <summary>Helpers for <see cref="ManifestKind"/>.</summary>
public static class ManifestKindExtensions
{
    /// <summary>Whether the kind lists child manifests (an OCI index or a Docker manifest list).</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Whether it is an index.</returns>
    public static bool IsIndex(this ManifestKind kind) => kind is ManifestKind.OciIndex or ManifestKind.DockerManifestList;
}
