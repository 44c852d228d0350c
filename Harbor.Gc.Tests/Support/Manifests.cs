using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Support;

/// <summary>Real-looking manifest JSON for tests.</summary>
internal static class Manifests
{
    public static Digest D(char c) => Digest.Parse("sha256:" + new string(c, 64));

    public static string Descriptor(Digest digest, long size, string mediaType, string? extra = null) =>
        $$"""{"mediaType":"{{mediaType}}","digest":"{{digest}}","size":{{size}}{{(extra is null ? "" : "," + extra)}}}""";

    public static byte[] Image(Digest config, IEnumerable<Digest> layers, string mediaType = MediaTypes.OciManifest, string configType = MediaTypes.OciConfig,
        string layerType = MediaTypes.OciLayerGzip, Digest? subject = null, string? artifactType = null, string? extraLayers = null) =>
        Encoding.UTF8.GetBytes($$"""
        {
          "schemaVersion": 2,
          "mediaType": "{{mediaType}}",
          {{(artifactType is null ? "" : $"\"artifactType\": \"{artifactType}\",")}}
          "config": {{Descriptor(config, 123, configType)}},
          "layers": [{{string.Join(",", layers.Select(l => Descriptor(l, 1000, layerType)))}}{{extraLayers ?? ""}}]
          {{(subject is null ? "" : $",\"subject\": {Descriptor(subject.Value, 500, MediaTypes.OciManifest)}")}}
        }
        """);

    public static byte[] Index(IEnumerable<Digest> children, string mediaType = MediaTypes.OciIndex, string childType = MediaTypes.OciManifest) =>
        Encoding.UTF8.GetBytes($$"""
        {
          "schemaVersion": 2,
          "mediaType": "{{mediaType}}",
          "manifests": [{{string.Join(",", children.Select(c => Descriptor(c, 500, childType, "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}")))}}]
        }
        """);

    /// <summary>An OCI 1.1 referrer: empty config, one blob, a subject and an artifactType.</summary>
    public static byte[] Referrer(Digest subject, string artifactType, Digest blob, string blobType = "application/json") =>
        Image(Digest.Sha256Of("{}"u8), [blob], configType: MediaTypes.OciEmpty, layerType: blobType, subject: subject, artifactType: artifactType);
}
