using System.Collections.Immutable;
using System.Text.Encodings.Web;
using System.Text.Json;
using Harbor.Gc.Model;

namespace Harbor.Gc.Registry;

/// <summary>
/// The answer of the OCI distribution spec's referrers API (<c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c>): an OCI image
/// index whose <c>manifests</c> are the descriptors of the subject's referrers.
/// </summary>
/// <param name="Manifests">The referrers, ordered by digest.</param>
/// <param name="ArtifactTypeFilter">
/// The <c>artifactType</c> filter applied, if any; the registry then sets the <c>OCI-Filters-Applied: artifactType</c> header.
/// </param>
public sealed record ReferrersIndex(ImmutableArray<ReferrerDescriptor> Manifests, string? ArtifactTypeFilter)
{
    /// <summary>The index as the referrers API returns it (UTF-8 JSON, media type <see cref="MediaTypes.OciIndex"/>).</summary>
    /// <returns>The JSON bytes.</returns>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        // media types carry '+', which the default encoder escapes; the relaxed one writes them as registries do (the body is
        // served as application/vnd.oci.image.index.v1+json, never embedded in HTML)
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciIndex);
            json.WriteStartArray("manifests");
            foreach (var m in Manifests)
            {
                json.WriteStartObject();
                json.WriteString("mediaType", m.MediaType);
                json.WriteString("digest", m.Digest.ToString());
                json.WriteNumber("size", m.Size);
                if (m.ArtifactType is not null)
                {
                    json.WriteString("artifactType", m.ArtifactType);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

/// <summary>A referrer as the referrers API lists it.</summary>
/// <param name="MediaType">The referrer manifest's media type.</param>
/// <param name="Digest">The referrer manifest's digest.</param>
/// <param name="Size">The referrer manifest's size in bytes.</param>
/// <param name="ArtifactType">Its <c>artifactType</c> (else its config media type), if any.</param>
public readonly record struct ReferrerDescriptor(string MediaType, Digest Digest, long Size, string? ArtifactType);
