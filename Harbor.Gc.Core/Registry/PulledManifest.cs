using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>A manifest served by <see cref="RegistryApi.PullManifestAsync"/>.</summary>
/// <param name="Artifact">The artifact.</param>
/// <param name="Content">The manifest bytes, as pushed.</param>
public sealed record PulledManifest(Artifact Artifact, byte[] Content);
