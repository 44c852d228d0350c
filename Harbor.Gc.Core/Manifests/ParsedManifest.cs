using System.Collections.Immutable;
using Harbor.Gc.Model;

namespace Harbor.Gc.Manifests;

/// <summary>What GC needs from a manifest.</summary>
/// <param name="Kind">The manifest kind.</param>
/// <param name="MediaType">The manifest's media type.</param>
/// <param name="ArtifactType">The <c>artifactType</c> field, else the config media type (manifests only).</param>
/// <param name="References">Config, then layers; not the manifest's own blob.</param>
/// <param name="Children">For an index: the listed manifests.</param>
/// <param name="Subject">The OCI 1.1 <c>subject</c>, if any.</param>
/// <param name="HasNydusBootstrapLayer">A layer carries the nydus bootstrap annotation (an accelerated image).</param>
public sealed record ParsedManifest(
    ManifestKind Kind,
    string MediaType,
    string? ArtifactType,
    ImmutableArray<BlobReference> References,
    ImmutableArray<Digest> Children,
    Digest? Subject,
    bool HasNydusBootstrapLayer);
