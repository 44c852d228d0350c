namespace Harbor.Gc.Model;

/// <summary>Media types this library recognises.</summary>
public static class MediaTypes
{
    /// <summary>OCI image manifest.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    /// <summary>OCI image index.</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>OCI empty descriptor (<c>{}</c>), the config of artifacts with an <c>artifactType</c>.</summary>
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    /// <summary>OCI image config.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";

    /// <summary>OCI gzip layer.</summary>
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>OCI non-distributable (foreign) gzip layer; deprecated by OCI but still seen.</summary>
    public const string OciForeignLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

    /// <summary>OCI non-distributable (foreign) tar layer.</summary>
    public const string OciForeignLayer = "application/vnd.oci.image.layer.nondistributable.v1.tar";

    /// <summary>OCI non-distributable (foreign) zstd layer.</summary>
    public const string OciForeignLayerZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    /// <summary>Docker image manifest, schema 2.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>Docker manifest list.</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>Docker image manifest, schema 1 (signed); recognised but not parsed.</summary>
    public const string DockerManifestSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>Docker image manifest, schema 1 (unsigned); recognised but not parsed.</summary>
    public const string DockerManifestSchema1 = "application/vnd.docker.distribution.manifest.v1+json";

    /// <summary>Docker container config.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";

    /// <summary>Docker gzip layer.</summary>
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>Docker foreign layer (Windows base layers): referenced, never stored by the registry.</summary>
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>Cosign simple-signing payload, the layer of a cosign tag-scheme signature.</summary>
    public const string CosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";

    /// <summary>Cosign signature artifact type (OCI 1.1 referrers mode).</summary>
    public const string CosignSignatureArtifact = "application/vnd.dev.cosign.artifact.sig.v1+json";

    /// <summary>Sigstore bundle artifact type (cosign with the new bundle format).</summary>
    public const string SigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json";

    /// <summary>Notation (Notary v2) signature artifact type.</summary>
    public const string NotationSignature = "application/vnd.cncf.notary.signature";

    /// <summary>Harbor's SBOM artifact type.</summary>
    public const string HarborSbom = "application/vnd.goharbor.harbor.sbom.v1";

    /// <summary>Whether <paramref name="mediaType"/> is a non-distributable (foreign) layer, which registries never store.</summary>
    /// <param name="mediaType">The layer's media type.</param>
    /// <returns>Whether the layer is foreign.</returns>
    public static bool IsForeignLayer(string? mediaType) => mediaType is DockerForeignLayer or OciForeignLayer or OciForeignLayerGzip or OciForeignLayerZstd;
}
