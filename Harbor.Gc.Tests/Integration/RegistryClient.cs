using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// A small client of the OCI distribution API, as much of it as the integration tests use: monolithic blob upload (POST, then
/// PUT <c>?digest=</c>), chunked upload (POST, PATCHes, PUT <c>?digest=</c>), cross-repository mount (and the upload the
/// registry starts instead when it cannot mount), manifest push by tag or digest, manifest GET/HEAD with every manifest media
/// type accepted (Distribution 2.8 answers 404 for an OCI manifest the Accept header does not name), blob GET/HEAD and tag list.
/// A push that the registry refuses throws a <see cref="RegistryRefusedException"/> with the registry's answer; reads return
/// what the registry said. Upload locations may be absolute (Distribution's default) or relative (its <c>relativeurls</c>):
/// both are resolved against the registry's address, and the registry's own query parameters are kept.
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    private static readonly string[] ManifestTypes = [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];
    private readonly HttpClient _http;

    public RegistryClient(Uri endpoint) =>
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Uploads a blob in one request pair (POST an upload, PUT its bytes with <c>?digest=</c>).</summary>
    /// <returns>The blob's digest, which the registry confirmed.</returns>
    public async Task<Digest> PushBlobAsync(string repository, byte[] content, CancellationToken cancellationToken = default)
    {
        var (_, location) = await StartUploadAsync(repository, cancellationToken).ConfigureAwait(false);
        return await PutBlobAsync(repository, location, content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Uploads a blob in chunks of <paramref name="chunkSize"/> bytes (POST an upload, one PATCH per chunk, each to the location
    /// the previous answer gave, then PUT <c>?digest=</c> with no body), as docker's client streams a layer.
    /// </summary>
    /// <returns>The blob's digest, which the registry confirmed.</returns>
    public async Task<Digest> PushBlobInChunksAsync(string repository, byte[] content, int chunkSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        var digest = Digest.Sha256Of(content);
        var (_, location) = await StartUploadAsync(repository, cancellationToken).ConfigureAwait(false);
        for (var offset = 0; offset < content.Length; offset += chunkSize)
        {
            using var chunk = new ByteArrayContent(content, offset, Math.Min(chunkSize, content.Length - offset));
            chunk.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await SendAsync(HttpMethod.Patch, location.ToString(), chunk, cancellationToken).ConfigureAwait(false);
            await ExpectAsync(response, HttpStatusCode.Accepted, $"take bytes {offset}+ of blob {digest} into {repository}", cancellationToken).ConfigureAwait(false);
            location = NextLocation(response, location);
        }

        using var done = await SendAsync(HttpMethod.Put, WithDigest(location, digest).ToString(), null, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(done, HttpStatusCode.Created, $"complete the upload of blob {digest} into {repository}", cancellationToken).ConfigureAwait(false);
        CheckDigestHeader(done, digest);
        return digest;
    }

    /// <summary>Sends a blob's bytes to an upload the registry started (<c>PUT LOCATION&amp;digest=</c> with the whole body).</summary>
    /// <returns>The blob's digest, which the registry confirmed.</returns>
    public async Task<Digest> PutBlobAsync(string repository, Uri location, byte[] content, CancellationToken cancellationToken = default)
    {
        var digest = Digest.Sha256Of(content);
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var done = await SendAsync(HttpMethod.Put, WithDigest(location, digest).ToString(), body, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(done, HttpStatusCode.Created, $"upload blob {digest} into {repository}", cancellationToken).ConfigureAwait(false);
        CheckDigestHeader(done, digest);
        return digest;
    }

    /// <summary>Mounts a blob of <paramref name="from"/> into <paramref name="repository"/> (<c>POST ?mount=&amp;from=</c>); fails unless the registry mounted it (201).</summary>
    public async Task MountBlobAsync(string repository, Digest digest, string from, CancellationToken cancellationToken = default)
    {
        if (await MountOrStartUploadAsync(repository, digest, from, cancellationToken).ConfigureAwait(false) is { } upload)
        {
            throw new RegistryRefusedException($"the registry did not mount {digest} from {from} into {repository}: it started an upload ({upload}) instead",
                HttpStatusCode.Accepted, null);
        }
    }

    /// <summary>
    /// Asks the registry to mount a blob of <paramref name="from"/> into <paramref name="repository"/> (<c>POST ?mount=&amp;from=</c>).
    /// When it cannot (the blob is not in <paramref name="from"/>), Distribution starts an ordinary upload instead and answers 202:
    /// the client then sends the bytes there (<see cref="PutBlobAsync"/>), as docker and crane do.
    /// </summary>
    /// <returns>Null when the registry mounted the blob (201), else the location of the upload it started (202).</returns>
    public async Task<Uri?> MountOrStartUploadAsync(string repository, Digest digest, string from, CancellationToken cancellationToken = default)
    {
        var uri = $"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(from)}";
        using var response = await SendAsync(HttpMethod.Post, uri, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            return Absolute(response.Headers.Location ?? throw new InvalidOperationException($"POST {uri} answered 202 with no Location for the upload"));
        }

        await ExpectAsync(response, HttpStatusCode.Created, $"mount {digest} from {from} into {repository}", cancellationToken).ConfigureAwait(false);
        CheckDigestHeader(response, digest);
        return null;
    }

    /// <summary>Starts a chunked blob upload (<c>POST /v2/NAME/blobs/uploads/</c>).</summary>
    /// <returns>The upload's id (<c>Docker-Upload-UUID</c>) and where to send its first chunk.</returns>
    public async Task<(string Id, Uri Location)> StartUploadAsync(string repository, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Post, $"v2/{repository}/blobs/uploads/", null, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(response, HttpStatusCode.Accepted, $"start a blob upload into {repository}", cancellationToken).ConfigureAwait(false);
        var id = response.Headers.GetValues("Docker-Upload-UUID").Single();
        return (id, Absolute(response.Headers.Location ?? throw new InvalidOperationException("the registry gave no Location for the upload")));
    }

    /// <summary>Sends a chunk of an upload (<c>PATCH</c>).</summary>
    /// <returns>The status, and where to send the next chunk (when accepted).</returns>
    public async Task<(HttpStatusCode Status, Uri? Location)> SendChunkAsync(Uri location, byte[] bytes, CancellationToken cancellationToken = default)
    {
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await SendAsync(HttpMethod.Patch, location.ToString(), body, cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, response.Headers.Location is { } next ? Absolute(next) : null);
    }

    /// <summary>Completes an upload (<c>PUT ?digest=</c> with no further bytes).</summary>
    /// <returns>The status.</returns>
    public async Task<HttpStatusCode> CompleteUploadAsync(Uri location, Digest digest, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Put, WithDigest(location, digest).ToString(), null, cancellationToken).ConfigureAwait(false);
        return response.StatusCode;
    }

    /// <summary>Pushes a manifest by tag or by digest (<paramref name="reference"/>), with its media type as Content-Type.</summary>
    /// <returns>The manifest's digest, which the registry confirmed.</returns>
    public async Task<Digest> PushManifestAsync(string repository, string reference, string mediaType, byte[] manifest, CancellationToken cancellationToken = default)
    {
        var digest = Digest.Sha256Of(manifest);
        using var body = new ByteArrayContent(manifest);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await SendAsync(HttpMethod.Put, $"v2/{repository}/manifests/{reference}", body, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(response, HttpStatusCode.Created, $"push manifest {digest} to {repository}:{reference}", cancellationToken).ConfigureAwait(false);
        CheckDigestHeader(response, digest);
        return digest;
    }

    /// <summary><c>GET /v2/REPO/manifests/REFERENCE</c>.</summary>
    public Task<RegistryResponse> GetManifestAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
        ReadAsync(HttpMethod.Get, $"v2/{repository}/manifests/{reference}", accept: true, cancellationToken);

    /// <summary><c>HEAD /v2/REPO/manifests/REFERENCE</c>.</summary>
    public Task<RegistryResponse> HeadManifestAsync(string repository, string reference, CancellationToken cancellationToken = default) =>
        ReadAsync(HttpMethod.Head, $"v2/{repository}/manifests/{reference}", accept: true, cancellationToken);

    /// <summary><c>HEAD /v2/REPO/blobs/DIGEST</c>: whether the repository has the blob (200), as a client asks before an upload.</summary>
    public Task<RegistryResponse> HeadBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        ReadAsync(HttpMethod.Head, $"v2/{repository}/blobs/{digest}", accept: false, cancellationToken);

    /// <summary><c>GET /v2/REPO/blobs/DIGEST</c>.</summary>
    public Task<RegistryResponse> GetBlobAsync(string repository, Digest digest, CancellationToken cancellationToken = default) =>
        ReadAsync(HttpMethod.Get, $"v2/{repository}/blobs/{digest}", accept: false, cancellationToken);

    /// <summary><c>GET /v2/REPO/tags/list</c>: the repository's tags (none for an unknown repository or one without tags).</summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken cancellationToken = default)
    {
        var response = await ReadAsync(HttpMethod.Get, $"v2/{repository}/tags/list", accept: false, cancellationToken).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return [];
        }

        if (response.Status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"GET v2/{repository}/tags/list answered {response.Text}");
        }

        using var json = JsonDocument.Parse(response.Body);
        return json.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array
            ? tags.EnumerateArray().Select(t => t.GetString()!).ToList()
            : [];
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The upload location with <c>digest=</c> added to its query (the registry's own state parameters kept).</summary>
    private static Uri WithDigest(Uri location, Digest digest)
    {
        var put = new UriBuilder(location);
        put.Query = (put.Query.Length > 1 ? put.Query[1..] + "&" : string.Empty) + "digest=" + Uri.EscapeDataString(digest.ToString());
        return put.Uri;
    }

    private Uri Absolute(Uri location) => location.IsAbsoluteUri ? location : new Uri(_http.BaseAddress!, location);

    /// <summary>Where an upload goes on: the Location of the registry's last answer (it carries the upload's new state), else where it was.</summary>
    private Uri NextLocation(HttpResponseMessage response, Uri current) => response.Headers.Location is { } next ? Absolute(next) : current;

    private async Task<RegistryResponse> ReadAsync(HttpMethod method, string uri, bool accept, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (accept)
        {
            foreach (var type in ManifestTypes)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            }
        }

        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var digest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        return new RegistryResponse(response.StatusCode, body, response.Content.Headers.ContentType?.MediaType, digest, response.Content.Headers.ContentLength);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string uri, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = content };
        return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode expected, string what, CancellationToken cancellationToken)
    {
        if (response.StatusCode != expected)
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            var answer = new RegistryResponse(response.StatusCode, body, null, null, null);
            throw new RegistryRefusedException(
                $"the registry refused to {what}: {(int)response.StatusCode} {response.StatusCode} (expected {(int)expected}) {System.Text.Encoding.UTF8.GetString(body)}",
                response.StatusCode, answer.ErrorCode);
        }
    }

    private static void CheckDigestHeader(HttpResponseMessage response, Digest expected)
    {
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && values.FirstOrDefault() is { } header && header != expected.ToString())
        {
            throw new InvalidOperationException($"the registry stored {header}, not {expected}");
        }
    }
}

/// <summary>A request the registry refused: its status and the first error code of its answer (<c>BLOB_UNKNOWN</c>, …), if any.</summary>
internal sealed class RegistryRefusedException(string message, HttpStatusCode status, string? errorCode) : InvalidOperationException(message)
{
    public HttpStatusCode Status { get; } = status;

    public string? ErrorCode { get; } = errorCode;
}

/// <summary>What the registry answered to a read: status, body, Content-Type, Docker-Content-Digest and Content-Length.</summary>
internal sealed record RegistryResponse(HttpStatusCode Status, byte[] Body, string? ContentType, string? DigestHeader, long? ContentLength)
{
    /// <summary>The body as text, for messages.</summary>
    public string Text => $"{(int)Status} {System.Text.Encoding.UTF8.GetString(Body)}";

    /// <summary>The first error code of a registry error body (<c>{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}</c>), if any.</summary>
    public string? ErrorCode
    {
        get
        {
            if (Body.Length == 0)
            {
                return null;
            }

            try
            {
                using var json = JsonDocument.Parse(Body);
                return json.RootElement.TryGetProperty("errors", out var errors) && errors.GetArrayLength() > 0
                    ? errors[0].GetProperty("code").GetString()
                    : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
