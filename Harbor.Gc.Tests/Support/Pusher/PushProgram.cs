using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Harbor.Gc.DependencyInjection;
using Harbor.Gc.Model;
using Harbor.Gc.Registry;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Storage;
using Harbor.Gc.Storage.LiteDb;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harbor.Gc.Tests.Support.Pusher;

/// <summary>
/// <c>push --store PATH|postgres:ADDRESS --records FILE --dead N [--clients 4] [--seed 1] [--min-accepted 0] [--untagged 0] [--revive 0]</c>, a
/// command of <see cref="ChildProgram"/> (<c>dotnet Harbor.Gc.Tests.dll push ...</c>): a registry process embedding Harbor.Gc.
/// AddHarborGc over the LiteDB store PATH in shared mode (as a registry beside a separate harbor-gc has it), or over the
/// <c>postgres:</c> store ADDRESS (as harbor-gc's <c>--store</c> takes it; the password from <c>HARBOR_GC_PGPASSWORD</c>), then
/// CLIENTS concurrent clients pushing through RegistryApi until stdin closes (and at least MIN-ACCEPTED pushes were accepted): new
/// images, re-tags of the store's dead images, and new images reusing their layers (<see cref="PushLoad"/> says which dead image is
/// for what); and, UNTAGGED percent of the time, new images pushed by digest alone (garbage for a run with a zero time window), and
/// REVIVE percent of the time, a new image pushed by digest alone then, 0 to 1 s later (when a run may be deleting it), by tag,
/// uploading what the registry says it lacks (garbage taken back, the race a sweep must lose). A
/// refusal a client retries (a blob being deleted, blobs missing) is retried as a client would; every accepted push is appended
/// to FILE as a JSON line, flushed, once the registry API returned. Tags hold the seed: processes of distinct seeds never push the
/// same tag. Prints "ready" once the first push is accepted, any unexpected failure on stderr as it happens ("unexpected: ..."),
/// and a <see cref="PushSummary"/> JSON line when it stops.
/// </summary>
internal static class PushProgram
{
    private const string PostgresPrefix = "postgres:";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = PushOptions.Parse(args);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHarborGc(o =>
        {
            if (options.Store.StartsWith(PostgresPrefix, StringComparison.Ordinal))
            {
                var (connection, blobs) = PostgresStoreSpec.Parse(options.Store[PostgresPrefix.Length..]);
                o.Store.UsePostgres(connection.ConnectionString, blobs);
            }
            else
            {
                o.Store.UseLiteDb(options.Store, LiteDbConnectionMode.Shared);
            }

            o.Store.CreateIfMissing = false;
        });
        using var host = builder.Build();
        var pusher = new PushClients(host.Services.GetRequiredService<RegistryApi>(), options);

        // the test closes stdin to stop the clients
        using var stop = new CancellationTokenSource();
        _ = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }

            stop.Cancel();
        });

        var summary = await pusher.RunAsync(stop.Token).ConfigureAwait(false);
        Console.Out.WriteLine(JsonSerializer.Serialize(summary, PushSummary.Json));
        return 0;
    }
}

/// <summary>The command line.</summary>
internal sealed record PushOptions(string Store, string Records, int DeadImages, int Clients, int Seed, int MinAccepted, int Untagged, int Revive)
{
    public static PushOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i]] = args[i + 1];
        }

        var options = new PushOptions(
            values.GetValueOrDefault("--store") ?? throw new ArgumentException("--store PATH is required"),
            values.GetValueOrDefault("--records") ?? throw new ArgumentException("--records FILE is required"),
            Int("--dead", null),
            Int("--clients", 4),
            Int("--seed", 1),
            Int("--min-accepted", 0),
            Int("--untagged", 0),
            Int("--revive", 0));
        return options.DeadImages >= 3 ? options : throw new ArgumentException("--dead N: at least 3 (a dead image of each use: untouched, re-tagged, reused)");

        int Int(string name, int? fallback) => values.TryGetValue(name, out var text)
            ? int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture)
            : fallback ?? throw new ArgumentException($"{name} N is required");
    }
}

/// <summary>The clients: each pushes one image after another, retrying refusals as a registry client does.</summary>
internal sealed class PushClients(RegistryApi api, PushOptions options)
{
    private const int MaxAttempts = 50;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _refused = new(StringComparer.Ordinal);
    private readonly List<string> _unexpected = [];
    private readonly StreamWriter _records = new(options.Records, append: false) { AutoFlush = true };
    private readonly TaskCompletionSource _firstAccepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _accepted;
    private int _gaveUp;

    public async Task<PushSummary> RunAsync(CancellationToken stop)
    {
        var watch = Stopwatch.StartNew();
        _ = _firstAccepted.Task.ContinueWith(_ => Console.Out.WriteLine("ready"), TaskScheduler.Default);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(c => Task.Run(() => ClientAsync(c, stop), CancellationToken.None))).ConfigureAwait(false);
        await _records.DisposeAsync().ConfigureAwait(false);
        lock (_lock)
        {
            return new PushSummary(_accepted, new(_refused), [.. _unexpected], _gaveUp, watch.ElapsedMilliseconds);
        }
    }

    private async Task ClientAsync(int client, CancellationToken stop)
    {
        var random = new Random((options.Seed * 100) + client);
        var repository = RepositoryName.Parse($"push/c{client}");
        for (var n = 0; !stop.IsCancellationRequested || Volatile.Read(ref _accepted) < options.MinAccepted; n++)
        {
            var tag = $"s{options.Seed}-c{client}-{n}";
            var roll = random.Next(100);
            var garbage = options.Untagged + options.Revive > 0 ? random.Next(100) : 100;
            var (kind, target, image) = garbage < options.Untagged + options.Revive
                ? (garbage < options.Untagged ? PushKind.Untagged : PushKind.Revived, repository,
                    PushLoad.Compose(PushLoad.Config($"{options.Seed}-{tag}"), [PushLoad.Layer($"{options.Seed}-{tag}-0"), PushLoad.Layer($"{options.Seed}-{tag}-1")]))
                : roll switch
            {
                < 30 => (PushKind.New, repository, PushLoad.Compose(PushLoad.Config($"{options.Seed}-{tag}"), [PushLoad.Layer($"{options.Seed}-{tag}-0"), PushLoad.Layer($"{options.Seed}-{tag}-1")])),
                < 55 => ReTag(random),
                _ => (roll < 80 ? PushKind.Reuse : PushKind.UploadThenManifest, repository, Reusing(random, tag)),
            };

            try
            {
                if (kind == PushKind.Revived)
                {
                    // garbage first (not recorded: a run may delete it), then taken back by tag a moment later
                    await PushAsync(PushKind.Untagged, target, image.Digest.ToString(), image, record: false).ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1000)), TimeProvider.System, CancellationToken.None).ConfigureAwait(false);
                }

                await PushAsync(kind, target, kind == PushKind.Untagged ? image.Digest.ToString() : tag, image).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the test wants every failure counted, not the client stopped
            catch (Exception e)
#pragma warning restore CA1031
            {
                lock (_lock)
                {
                    _unexpected.Add($"{e.GetType().Name}: {e.Message}");
                }

                await Console.Error.WriteLineAsync($"unexpected: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);

                await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A dead image meant for re-tagging, in its own repository.</summary>
    private (PushKind, RepositoryName, PushImage) ReTag(Random random)
    {
        var image = Pick(random, DeadUse.ReTag);
        return (PushKind.ReTag, PushLoad.DeadRepository(image), PushLoad.Dead(image));
    }

    /// <summary>A new config and layer, and one layer each of one or two dead images meant for reuse.</summary>
    private PushImage Reusing(Random random, string tag)
    {
        List<PushBlob> layers = [PushLoad.Layer($"{options.Seed}-{tag}-0")];
        for (var i = random.Next(1, 3); i > 0; i--)
        {
            layers.Add(PushLoad.Dead(Pick(random, DeadUse.Reuse)).Layers[random.Next(2)]);
        }

        return PushLoad.Compose(PushLoad.Config($"{options.Seed}-{tag}"), layers);
    }

    private int Pick(Random random, DeadUse use)
    {
        while (true)
        {
            var image = random.Next(options.DeadImages);
            if (PushLoad.UseOf(image) == use)
            {
                return image;
            }
        }
    }

    /// <summary>
    /// One push, as a client makes it: upload what it must (everything for a new image, untagged or not, and for upload-then-manifest;
    /// only the blobs the registry says it lacks for a reuse or a revival; nothing for a re-tag), then the manifest by tag (by digest
    /// when untagged). A manifest refused for missing blobs uploads those and tries again; a blob being deleted waits a moment and
    /// tries again. Recorded once accepted, unless <paramref name="record"/> is false.
    /// </summary>
    private async Task PushAsync(PushKind kind, RepositoryName repository, string tag, PushImage image, bool record = true)
    {
        var upload = kind switch
        {
            PushKind.New or PushKind.UploadThenManifest or PushKind.Untagged => [.. image.Blobs],
            PushKind.Reuse or PushKind.Revived => await MissingAsync(image.Blobs).ConfigureAwait(false),
            _ => new List<PushBlob>(),
        };

        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            try
            {
                while (upload.Count > 0)
                {
                    var blob = upload[^1];
                    using (var content = new MemoryStream(blob.Content, writable: false))
                    {
                        await api.PushBlobAsync(blob.Digest, content, blob.MediaType).ConfigureAwait(false);
                    }

                    upload.RemoveAt(upload.Count - 1);
                }

                await api.PushManifestAsync(repository, tag, image.Manifest, MediaTypes.OciManifest).ConfigureAwait(false);
                if (!record)
                {
                    return;
                }

                Accept(new AcceptedPush(kind, repository.Value, tag, image.Digest.ToString(), [.. image.Blobs.Select(b => b.Digest.ToString())],
                    TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds(), attempt));
                return;
            }
            catch (ManifestReferencesMissingException e)
            {
                Refused(e);
                upload = [.. image.Blobs.Where(b => e.MissingBlobs.Contains(b.Digest))];
            }
            catch (MissingBlobException e)
            {
                Refused(e);
                upload = await MissingAsync(image.Blobs).ConfigureAwait(false);
            }
            catch (BlobBeingDeletedException e)
            {
                Refused(e);
                await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, CancellationToken.None).ConfigureAwait(false);
            }
        }

        Interlocked.Increment(ref _gaveUp);
    }

    /// <summary>The blobs the registry says it lacks (a client's HEAD requests).</summary>
    private async Task<List<PushBlob>> MissingAsync(IEnumerable<PushBlob> blobs)
    {
        var missing = new List<PushBlob>();
        foreach (var blob in blobs)
        {
            if (!await api.Store.HasBlobContentAsync(blob.Digest).ConfigureAwait(false))
            {
                missing.Add(blob);
            }
        }

        return missing;
    }

    private void Accept(AcceptedPush push)
    {
        var line = JsonSerializer.Serialize(push, PushSummary.Json);
        lock (_lock)
        {
            _records.WriteLine(line);
            _accepted++;
        }

        _firstAccepted.TrySetResult();
    }

    private void Refused(Exception e)
    {
        lock (_lock)
        {
            _refused[e.GetType().Name] = _refused.GetValueOrDefault(e.GetType().Name) + 1;
        }
    }
}
