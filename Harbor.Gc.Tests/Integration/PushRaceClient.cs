using System.Globalization;
using System.Text;
using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Clients that push images reusing what a plan marked dead (<see cref="PlannedGarbage"/>), the way docker and crane push: HEAD
/// each blob in the target repository and send only the missing ones (mounted from where the image was, or uploaded, monolithic
/// or in chunks), then PUT the manifest by tag; for an index, HEAD each child manifest and push the missing ones by digest first.
/// A refused request (404 BLOB_UNKNOWN, MANIFEST_BLOB_UNKNOWN, 5xx…) fails the attempt; the whole push is tried again, up to
/// <see cref="Attempts"/> times, then given up. Only a manifest the registry accepted (201) is recorded, in an
/// <see cref="AcceptedPushLog"/>. Tags and new repositories are named after <paramref name="prefix"/>; the dead items are taken in
/// an order shuffled by <paramref name="seed"/> (the sweep goes through them in the plan's order), each once before any is taken again.
/// </summary>
internal sealed class PushRaceClient(RegistryClient client, PlannedGarbage garbage, AcceptedPushLog log, string prefix, int seed)
{
    public const int Attempts = 3;
    private readonly StoredManifest[] _manifests = Shuffled(garbage.Manifests, seed);
    private readonly StoredManifest[] _images = Shuffled(garbage.Images, seed);
    private readonly Digest[] _blobs = Shuffled(garbage.Blobs, seed);
    private int _serial;
    private int _retags;
    private int _mounts;
    private int _uploads;

    /// <summary>Runs <paramref name="clients"/> concurrent clients, each pushing the three kinds in turn, until <paramref name="stop"/> (a push in hand finishes).</summary>
    public Task PushUntilAsync(int clients, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var i = c; !stop.IsCancellationRequested; i++)
            {
                await PushAsync((PushKind)(i % 3)).ConfigureAwait(false);
            }
        }, CancellationToken.None)));

    /// <summary>One push of the given kind, attempted up to <see cref="Attempts"/> times.</summary>
    public Task PushAsync(PushKind kind) => kind switch
    {
        PushKind.Retag => RetagAsync(),
        PushKind.Mount => MountAsync(),
        _ => UploadAsync(),
    };

    /// <summary>A dead manifest, its exact bytes, under a new tag in its repository.</summary>
    private Task RetagAsync()
    {
        var manifest = _manifests[Next(ref _retags, 1) % _manifests.Length];
        var tag = $"{prefix}-retag-{Next(ref _serial, 1)}";
        var children = manifest.Children.Select(c => garbage.ManifestsByKey.TryGetValue((manifest.Repository, c), out var child)
            ? child
            : throw new InvalidOperationException($"{manifest.Repository}@{c}, a child of {manifest.Digest}, was not read before the run")).ToList();
        log.Reusing(manifest.Blobs.Concat(children.SelectMany(c => c.Blobs)).Append(manifest.Digest).Concat(children.Select(c => c.Digest)),
            children.Select(c => (c.Repository, c.Digest)).Append((manifest.Repository, manifest.Digest)));
        return AttemptAsync(PushKind.Retag, async attempt =>
        {
            foreach (var child in children)
            {
                await EnsureManifestAsync(child).ConfigureAwait(false);
            }

            foreach (var blob in manifest.Blobs)
            {
                await EnsureBlobAsync(manifest.Repository, blob).ConfigureAwait(false);
            }

            var digest = await client.PushManifestAsync(manifest.Repository, tag, manifest.MediaType, manifest.Body).ConfigureAwait(false);
            log.Accept(PushKind.Retag, manifest.Repository, tag, digest, manifest.MediaType, manifest.Blobs,
                [.. children.Select(c => (c.Digest, c.Blobs))], attempt);
        });
    }

    /// <summary>A dead image's layers mounted from its repository into another one, with a fresh config, under a tag there.</summary>
    private Task MountAsync()
    {
        var source = _images[Next(ref _mounts, 1) % _images.Length];
        var n = Next(ref _serial, 1);
        var repositories = garbage.Repositories;
        var target = repositories[(n * 7919) % repositories.Count];
        if (target == source.Repository)
        {
            target = repositories[((n * 7919) + 1) % repositories.Count];
        }

        var docker = source.MediaType == MediaTypes.DockerManifest;
        return NewImageAsync(PushKind.Mount, target, $"{prefix}-mount-{n}", docker, source.Layers, source.Repository, chunked: false);
    }

    /// <summary>The bytes of one or two dead blobs uploaded into a new repository (monolithic or in chunks), with a fresh config.</summary>
    private Task UploadAsync()
    {
        var n = Next(ref _serial, 1);
        var count = 1 + (n % 2);
        var first = Next(ref _uploads, count) - count;
        var layers = Enumerable.Range(first, count).Select(i => _blobs[i % _blobs.Length]).Distinct().ToList();
        return NewImageAsync(PushKind.Upload, $"{prefix}/upload-{n}", "v1", docker: n % 3 == 0, layers, mountFrom: null, chunked: n % 2 == 0);
    }

    private Task NewImageAsync(PushKind kind, string repository, string tag, bool docker, IReadOnlyList<Digest> layers, string? mountFrom, bool chunked)
    {
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"pushed-by\":\"" + repository + ":" + tag +
            "\",\"nonce\":\"" + Guid.NewGuid().ToString("N") + "\"}}}");
        var configDigest = Digest.Sha256Of(config);
        var mediaType = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        var layerType = docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip;
        var body = Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"{{mediaType}}","config":{{Support.Manifests.Descriptor(configDigest, config.Length, docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig)}},"layers":[{{string.Join(",", layers.Select(l => Support.Manifests.Descriptor(l, BytesOf(l).Length, layerType)))}}]}""");
        log.Reusing(layers, []);
        return AttemptAsync(kind, async attempt =>
        {
            foreach (var layer in layers)
            {
                await EnsureBlobAsync(repository, layer, mountFrom, chunked).ConfigureAwait(false);
            }

            await EnsureBlobAsync(repository, configDigest, null, chunked, config).ConfigureAwait(false);
            var digest = await client.PushManifestAsync(repository, tag, mediaType, body).ConfigureAwait(false);
            log.Accept(kind, repository, tag, digest, mediaType, [configDigest, .. layers], [], attempt);
        });
    }

    /// <summary>A child manifest by digest, pushed (its blobs first) when the repository does not have it.</summary>
    private async Task EnsureManifestAsync(StoredManifest manifest)
    {
        var head = await client.HeadManifestAsync(manifest.Repository, manifest.Digest.ToString()).ConfigureAwait(false);
        if (head.Status == System.Net.HttpStatusCode.OK)
        {
            return;
        }

        foreach (var blob in manifest.Blobs)
        {
            await EnsureBlobAsync(manifest.Repository, blob).ConfigureAwait(false);
        }

        await client.PushManifestAsync(manifest.Repository, manifest.Digest.ToString(), manifest.MediaType, manifest.Body).ConfigureAwait(false);
    }

    /// <summary>HEAD the blob in <paramref name="repository"/>; when it is missing, mount it from <paramref name="mountFrom"/> (the registry may start an upload instead) or upload it.</summary>
    private async Task EnsureBlobAsync(string repository, Digest digest, string? mountFrom = null, bool chunked = false, byte[]? content = null)
    {
        var head = await client.HeadBlobAsync(repository, digest).ConfigureAwait(false);
        if (head.Status == System.Net.HttpStatusCode.OK)
        {
            return;
        }

        var bytes = content ?? BytesOf(digest);
        if (mountFrom is not null)
        {
            if (await client.MountOrStartUploadAsync(repository, digest, mountFrom).ConfigureAwait(false) is { } upload)
            {
                await client.PutBlobAsync(repository, upload, bytes).ConfigureAwait(false);
            }
        }
        else if (chunked && bytes.Length > 1)
        {
            await client.PushBlobInChunksAsync(repository, bytes, (bytes.Length + 2) / 3).ConfigureAwait(false);
        }
        else
        {
            await client.PushBlobAsync(repository, bytes).ConfigureAwait(false);
        }
    }

    private async Task AttemptAsync(PushKind kind, Func<int, Task> push)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await push(attempt).ConfigureAwait(false);
                return;
            }
            catch (RegistryRefusedException e)
            {
                log.Refused(kind, e.ErrorCode ?? ((int)e.Status).ToString(CultureInfo.InvariantCulture));
            }

            if (attempt == Attempts)
            {
                log.GiveUp(kind);
                return;
            }
        }
    }

    private static T[] Shuffled<T>(IReadOnlyList<T> items, int seed)
    {
        var array = items.ToArray();
        new Random(seed).Shuffle(array);
        return array.Length > 0 ? array : throw new InvalidOperationException($"the plan marked no {typeof(T).Name} dead: nothing to reuse");
    }

    private byte[] BytesOf(Digest digest) =>
        garbage.Bytes.TryGetValue(digest, out var bytes) ? bytes : throw new InvalidOperationException($"the bytes of {digest} were not read before the run");

    /// <summary>Adds <paramref name="count"/> to a cursor shared by the clients; returns the new value.</summary>
    private static int Next(ref int cursor, int count) => Interlocked.Add(ref cursor, count) & int.MaxValue;
}
