using System.Collections.Immutable;
using System.Text.Json;
using Harbor.Gc.Model;

namespace Harbor.Gc.Manifests;

/// <summary>
/// Parses OCI image manifests and indexes and Docker schema 2 manifests and manifest lists into what GC needs: references,
/// children, subject and artifact type. Strict: a malformed field is an error naming the field, never a guess.
/// </summary>
/// <remarks>
/// The media type is the manifest's <c>mediaType</c> field, else the type it was pushed with, else detected as CNCF
/// Distribution detects it (<c>manifests</c> → OCI index; <c>config</c> or <c>layers</c> → OCI manifest). Schema 1 and any
/// other type are refused here; callers keep such manifests (see <see cref="ArtifactReader"/>).
/// </remarks>
public static class ManifestParser
{
    /// <summary>The annotation nydus puts on the bootstrap layer of an accelerated image.</summary>
    public const string NydusBootstrapAnnotation = "containerd.io/snapshot/nydus-bootstrap";

    /// <summary>Parses a manifest.</summary>
    /// <param name="content">The manifest bytes (UTF-8 JSON).</param>
    /// <param name="declaredMediaType">The media type it was pushed or stored with, if known.</param>
    /// <returns>The parsed manifest.</returns>
    /// <exception cref="ManifestFormatException">The manifest is malformed or of a kind this collector does not parse.</exception>
    public static ParsedManifest Parse(ReadOnlySpan<byte> content, string? declaredMediaType = null)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 64 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new ManifestFormatException("$", $"not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ManifestFormatException("$", $"expected a JSON object, found {Describe(root.ValueKind)}");
            }

            var (kind, mediaType) = KindOf(root, declaredMediaType);
            var subject = root.TryGetProperty("subject", out var s) ? DigestField(Object(s, "subject"), "digest", "subject") : (Digest?)null;
            var artifactType = OptionalString(root, "artifactType", "$");
            if (kind.IsIndex())
            {
                var manifests = Array(root, "manifests", "$");
                var children = ImmutableArray.CreateBuilder<Digest>(manifests.GetArrayLength());
                var i = 0;
                foreach (var m in manifests.EnumerateArray())
                {
                    var path = $"manifests[{i++}]";
                    Size(Object(m, path), path);
                    OptionalString(m, "mediaType", path);
                    children.Add(DigestField(m, "digest", path));
                }

                return new ParsedManifest(kind, mediaType, artifactType, [], children.MoveToImmutable(), subject, false);
            }

            var references = ImmutableArray.CreateBuilder<BlobReference>();
            var config = Object(Required(root, "config", "$"), "config");
            var configType = OptionalString(config, "mediaType", "config");
            references.Add(new BlobReference(DigestField(config, "digest", "config"), Size(config, "config"), configType, BlobReferenceKind.Config));
            var nydus = false;
            var layers = root.TryGetProperty("layers", out var l) ? l : default;
            if (layers.ValueKind != JsonValueKind.Undefined && layers.ValueKind != JsonValueKind.Null)
            {
                if (layers.ValueKind != JsonValueKind.Array)
                {
                    throw new ManifestFormatException("layers", $"expected an array, found {Describe(layers.ValueKind)}");
                }

                var i = 0;
                foreach (var layer in layers.EnumerateArray())
                {
                    var path = $"layers[{i++}]";
                    Object(layer, path);
                    var layerType = OptionalString(layer, "mediaType", path);
                    references.Add(new BlobReference(DigestField(layer, "digest", path), Size(layer, path), layerType, BlobReferenceKind.Layer, MediaTypes.IsForeignLayer(layerType)));
                    nydus |= layer.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object &&
                             annotations.TryGetProperty(NydusBootstrapAnnotation, out var bootstrap) && bootstrap.ValueKind == JsonValueKind.String &&
                             bootstrap.ValueEquals("true");
                }
            }
            else if (kind == ManifestKind.DockerManifest)
            {
                throw new ManifestFormatException("layers", "missing (a Docker schema 2 manifest lists its layers)");
            }

            return new ParsedManifest(kind, mediaType, artifactType ?? configType, references.ToImmutable(), [], subject, nydus);
        }
    }

    private static (ManifestKind Kind, string MediaType) KindOf(JsonElement root, string? declared)
    {
        if (root.TryGetProperty("schemaVersion", out var version) && version.ValueKind == JsonValueKind.Number && version.TryGetInt32(out var v) && v == 1)
        {
            throw new ManifestFormatException("schemaVersion", "Docker schema 1 manifests are not parsed (deprecated; kept, never collected)");
        }

        var field = OptionalString(root, "mediaType", "$");
        var fieldKind = field is null ? (ManifestKind?)null : KindOfMediaType(field) ?? throw Unsupported("mediaType", field);
        var declaredKind = string.IsNullOrEmpty(declared) ? null : KindOfMediaType(declared);
        if (fieldKind is { } f)
        {
            if (declaredKind is { } d && d != f)
            {
                throw new ManifestFormatException("mediaType", $"'{field}' does not match the media type '{declared}' it was pushed with");
            }

            return (f, field!);
        }

        if (declaredKind is { } k)
        {
            return (k, declared!);
        }

        if (!string.IsNullOrEmpty(declared) && declared != "application/json" && declared != "application/octet-stream")
        {
            throw Unsupported("mediaType", declared);
        }

        if (root.TryGetProperty("manifests", out _))
        {
            return (ManifestKind.OciIndex, MediaTypes.OciIndex);
        }

        if (root.TryGetProperty("config", out _) || root.TryGetProperty("layers", out _))
        {
            return (ManifestKind.OciManifest, MediaTypes.OciManifest);
        }

        throw new ManifestFormatException("mediaType", "missing, and the document has neither 'manifests' nor 'config' to tell its kind");
    }

    private static ManifestKind? KindOfMediaType(string mediaType) => mediaType switch
    {
        MediaTypes.OciManifest => ManifestKind.OciManifest,
        MediaTypes.OciIndex => ManifestKind.OciIndex,
        MediaTypes.DockerManifest => ManifestKind.DockerManifest,
        MediaTypes.DockerManifestList => ManifestKind.DockerManifestList,
        _ => null,
    };

    private static ManifestFormatException Unsupported(string path, string mediaType) =>
        new(path, $"media type '{mediaType}' is not a manifest kind this collector understands (OCI image manifest or index, Docker schema 2 manifest or manifest list)");

    private static JsonElement Required(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : throw new ManifestFormatException(Join(path, name), "missing");

    private static JsonElement Object(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new ManifestFormatException(path, $"expected an object, found {Describe(e.ValueKind)}");

    private static JsonElement Array(JsonElement e, string name, string path)
    {
        var value = Required(e, name, path);
        return value.ValueKind == JsonValueKind.Array ? value : throw new ManifestFormatException(Join(path, name), $"expected an array, found {Describe(value.ValueKind)}");
    }

    private static string? OptionalString(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new ManifestFormatException(Join(path, name), $"expected a string, found {Describe(value.ValueKind)}");
    }

    private static Digest DigestField(JsonElement e, string name, string path)
    {
        var value = Required(e, name, path);
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new ManifestFormatException(Join(path, name), $"expected a digest string, found {Describe(value.ValueKind)}");
        }

        var text = value.GetString()!;
        return Digest.Validate(text) is { } problem
            ? throw new ManifestFormatException(Join(path, name), $"'{Shorten(text)}' is not a valid digest: {problem}")
            : Digest.Parse(text);
    }

    private static long Size(JsonElement e, string path)
    {
        var value = Required(e, "size", path);
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var size) && size >= 0
            ? size
            : throw new ManifestFormatException(Join(path, "size"), $"expected a non-negative integer, found {(value.ValueKind == JsonValueKind.Number ? value.GetRawText() : Describe(value.ValueKind))}");
    }

    private static string Join(string path, string name) => path == "$" ? name : $"{path}.{name}";

    private static string Shorten(string text) => text.Length <= 150 ? text : string.Concat(text.AsSpan(0, 150), "…");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
