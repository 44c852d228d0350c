using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Storage.Distribution;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Base of the tests against a real <c>docker-registry</c>: each test gets its own registry (free port, temporary root), killed
/// and removed in tear-down whether the test passed or not, and runs <c>harbor-gc gc</c> through the CLI entry point.
/// Derived fixtures carry <c>[Category("Integration")]</c>.
/// </summary>
[NonParallelizable]
public abstract class RegistryIntegrationTest
{
    private DistributionRegistryProcess? _registry;
    private RegistryClient? _client;

    internal DistributionRegistryProcess Registry => _registry ?? throw new InvalidOperationException("the registry was not set up");

    internal RegistryClient Client => _client ?? throw new InvalidOperationException("the registry was not set up");

    internal OciPusher Push => new(Client);

    /// <summary>Where the registry's folder (configuration and storage root) is made; the temporary folder when null.</summary>
    private protected virtual string? RegistryParentFolder => null;

    /// <summary>The <c>--store</c> address harbor-gc is given for the registry's storage.</summary>
    private protected virtual string StoreSpec => $"distribution:{Registry.Root}";

    /// <summary>The clock harbor-gc runs on.</summary>
    private protected virtual TimeProvider Clock => TimeProvider.System;

    /// <summary>
    /// How far apart two pushes must be for the storage to date them in that order: the file system keeps fractions of a second;
    /// the S3 server dates an object by the next whole second after its write.
    /// </summary>
    private protected virtual TimeSpan PushTimeResolution => TimeSpan.FromMilliseconds(50);

    /// <summary>The registry's storage opened as <c>harbor-gc</c> opens <see cref="StoreSpec"/> (its folder, or its bucket).</summary>
    internal DistributionRegistryStore OpenStore(TimeProvider time, TimeSpan gracePeriod) =>
        (DistributionRegistryStore)global::Harbor.Gc.Runner.Commands.StoreSpec.Open(StoreSpec, time, readOnly: false, gracePeriod);

    /// <summary>Whether anything of the registry's upload <paramref name="id"/> of <paramref name="repository"/> is left in its storage.</summary>
    private protected virtual Task<bool> UploadLeftAsync(string repository, string id) =>
        Task.FromResult(Directory.Exists(Path.Combine(Registry.Root, "docker", "registry", "v2", "repositories", repository, "_uploads", id)));

    /// <summary>Makes the test's registry (not started yet): on a folder of its own here; in a bucket for the S3 fixtures.</summary>
    private protected virtual Task<DistributionRegistryProcess> CreateRegistryAsync() =>
        Task.FromResult(new DistributionRegistryProcess(RegistryBinary.Require(), TimeProvider.System, RegistryParentFolder));

    [SetUp]
    public async Task StartRegistry()
    {
        _registry = await CreateRegistryAsync();
        await _registry.StartAsync();
        _client = new RegistryClient(_registry.Endpoint);
    }

    [TearDown]
    public void StopRegistry()
    {
        _client?.Dispose();
        _registry?.Dispose();
        _client = null;
        _registry = null;
    }

    /// <summary>Runs <c>harbor-gc gc --store STORE ARGS --report-json FILE</c> for real (on <see cref="Clock"/>) and reads the report.</summary>
    internal async Task<GcRunReport> HarborGcAsync(params string[] args)
    {
        var report = Path.Combine(Path.GetTempPath(), $"harbor-gc-report-{Guid.NewGuid():N}.json");
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string[] command = ["gc", "--delete-untagged", "true", "--store", StoreSpec, "--grace-period", "1s", .. args, "--report-json", report];
            var code = await Program.RunAsync(command, stdout, stderr, Clock, CancellationToken.None);
            code.Should().Be(0, $"harbor-gc {string.Join(' ', command)} failed:\n{stdout}\n{stderr}");
            return GcRunReport.Read(report);
        }
        finally
        {
            File.Delete(report);
        }
    }
}

/// <summary>The parts of a <c>harbor-gc</c> JSON report (DESIGN.md §8) the integration tests check.</summary>
internal sealed record GcRunReport(
    bool DryRun,
    IReadOnlyList<(string Repository, Digest Digest, string Reason)> Artifacts,
    IReadOnlyList<Digest> Blobs,
    int LayerLinks,
    int ArtifactsKept,
    int BlobsKept,
    int BlobsFailed)
{
    public static GcRunReport Read(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(file));
        var root = json.RootElement;
        var artifacts = root.GetProperty("artifacts").EnumerateArray()
            .Select(a => (a.GetProperty("repository").GetString()!, Digest.Parse(a.GetProperty("digest").GetString()!), a.GetProperty("reason").GetString()!))
            .ToList();
        var blobs = root.GetProperty("blobs").EnumerateArray().Select(b => Digest.Parse(b.GetProperty("digest").GetString()!)).ToList();
        var result = root.TryGetProperty("result", out var r) ? r : (JsonElement?)null;
        int Count(string name) => result is { } e ? e.GetProperty(name).GetArrayLength() : 0;
        return new GcRunReport(root.GetProperty("dryRun").GetBoolean(), artifacts, blobs, root.GetProperty("layerLinks").GetArrayLength(),
            Count("artifactsKept"), Count("blobsKept"), Count("blobsFailed"));
    }
}
