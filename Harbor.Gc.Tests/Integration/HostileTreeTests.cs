using System.Net;
using System.Text.Json;
using Harbor.Gc.Model;
using Harbor.Gc.Runner;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// Issue 13 §2, hostile and damaged trees: nothing outside the root, nothing live lost, no hang. Each test pushes the scenarios
/// of issue 3 (<see cref="IssueThreeScenario"/>, plus an unfinished upload) through a real <c>docker-registry</c> 2.8.2, stops it,
/// damages the tree on disk as a person, an attacker or a crash would, runs <c>harbor-gc</c>, and checks three things:
/// <list type="bullet">
/// <item>nothing outside the root changed: a sentinel folder beside the root (files, sub-folders, and whatever the test moved out
/// of the tree and linked back), compared entry by entry (<see cref="FolderSnapshot"/>);</item>
/// <item>nothing live was lost: the registry, started again on the root (after the test put back what it damaged by hand, where
/// the registry itself could not read it), serves every manifest that must survive by tag and by digest, and every blob they
/// reference, with the right digest;</item>
/// <item>no hang: a run that could block on a FIFO or read a device runs as a child process with a bounded heap, and is killed
/// and failed after <see cref="HangBound"/>.</item>
/// </list>
/// The rules (P1–P7) are the decisions on issue 13 §2; each test's description says which one it encodes.
/// </summary>
[Category("Integration")]
public partial class HostileTreeTests : RegistryIntegrationTest
{
    /// <summary>
    /// How long a child run may take before it counts as hung: a run on these trees takes a second or two, and tens of seconds on a
    /// machine loaded fifty times over; only a hung run (today's code on a FIFO) ever waits this long.
    /// </summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(120);

    /// <summary>A child run's heap limit (256 MiB, hex as the runtime reads it): reading a device or a huge file into memory fails fast.</summary>
    private static readonly Dictionary<string, string?> ChildEnvironment = new() { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };

    private const string App = IssueThreeScenario.App;
    private const string Multi = IssueThreeScenario.Multi;

    private string _work = null!;
    private HostileFiles? _files;
    private string? _uploadId;

    /// <summary>The sentinel folder outside the root; symbolic links the tests put in the tree point into it.</summary>
    private string Outside => Path.Combine(_work, "outside");

    /// <summary>Plans, reports and policies (outside both the root and the sentinel).</summary>
    private string Scratch => Path.Combine(_work, "scratch");

    private DistributionPaths Tree => new(Registry.Root);

    private string Store => $"distribution:{Registry.Root}";

    [SetUp]
    public void CreateSentinel()
    {
        _work = Path.Combine(Path.GetTempPath(), "harbor-gc-hostile", Guid.NewGuid().ToString("N"));
        _files = new HostileFiles();
        Directory.CreateDirectory(Scratch);
        Directory.CreateDirectory(Path.Combine(Outside, "sub", "deeper"));
        Directory.CreateDirectory(Path.Combine(Outside, "sub", "empty"));
        File.WriteAllText(Path.Combine(Outside, "notes.txt"), "a sentinel: nothing in this folder may change");
        File.WriteAllBytes(Path.Combine(Outside, "sub", "deeper", "file.bin"), Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());

        // a look-alike of a revision folder: a deleter that trusts names rather than where it stands would take it
        var lookalike = Digest.Sha256Of("outside the root"u8);
        Directory.CreateDirectory(Path.Combine(Outside, "sha256", lookalike.Hex));
        File.WriteAllText(Path.Combine(Outside, "sha256", lookalike.Hex, "link"), lookalike.ToString());
    }

    /// <summary>What the test damaged: FIFOs, sockets, immutable files (undone in tear-down).</summary>
    private HostileFiles Files => _files ?? throw new InvalidOperationException("the sentinel was not set up");

    [TearDown]
    public void RemoveWork()
    {
        if (_files is null)
        {
            return;
        }

        _files.Dispose();
        _files.RemoveTree(_work);
        try
        {
            _files.RemoveTree(Registry.Root); // names .NET cannot delete (not UTF-8), before the base class removes the rest
        }
        catch (InvalidOperationException)
        {
            // the registry was never set up
        }
    }

    // ---- building and running ------------------------------------------------------------------------------------

    /// <summary>Pushes the scenarios of issue 3 and starts an upload in <c>library/app</c> that is never finished.</summary>
    private async Task<IssueThreeScenario> PushScenarioAsync()
    {
        var scenario = await IssueThreeScenario.PushAsync(Push);
        _uploadId = await StartUploadAsync(App, "the first bytes of a push still under way");
        return scenario;
    }

    /// <summary>Starts an upload and sends one chunk (the registry writes <c>_uploads/ID/{startedat,data,hashstates}</c>).</summary>
    private async Task<string> StartUploadAsync(string repository, string bytes)
    {
        var (id, location) = await Client.StartUploadAsync(repository);
        (await Client.SendChunkAsync(location, System.Text.Encoding.UTF8.GetBytes(bytes))).Status.Should().Be(HttpStatusCode.Accepted);
        return id;
    }

    private string UploadId => _uploadId ?? throw new InvalidOperationException("no upload was started");

    /// <summary>Runs <c>harbor-gc ARGS</c> in this process (for runs that cannot block: no FIFO or device in the tree).</summary>
    private static async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        args = WithShortGrace(args);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr, TimeProvider.System, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// Runs <c>harbor-gc ARGS</c> as a child process with a bounded heap; fails the test (and kills the child) when it has not
    /// exited after <see cref="HangBound"/>.
    /// </summary>
    private static async Task<(int Code, string Output)> ChildAsync(params string[] args)
    {
        args = WithShortGrace(args);
        using var child = HarborGcProcess.Start(args, environment: ChildEnvironment);
        try
        {
            await child.WaitAsync(HangBound);
        }
        catch (OperationCanceledException)
        {
            child.Kill();
            Assert.Fail($"harbor-gc {string.Join(' ', args)} was still running after {HangBound.TotalSeconds} s (it hung) and was killed; it printed:\n{child.Output}");
        }

        return (child.ExitCode, child.Output);
    }

    /// <summary>
    /// A real run's arguments with a one-second grace period: no registry request is in flight here, and the default minute would
    /// make each run a minute long.
    /// </summary>
    private static string[] WithShortGrace(string[] args) =>
        args is ["gc", ..] or ["retention", "run", ..] && !args.Contains("--dry-run") && !args.Contains("--grace-period") ? [.. args, "--grace-period", "1s"] : args;

    /// <summary>A dry run with window 0 on the whole tree, saved as a plan for <c>gc --apply</c>.</summary>
    private async Task<string> SavePlanAsync()
    {
        var plan = Path.Combine(Scratch, $"plan-{Guid.NewGuid():N}.json");
        var (code, output, errors) = await CliAsync("gc", "--delete-untagged", "true", "--store", Store, "--dry-run", "--time-window", "0", "--report-json", plan, "--quiet");
        code.Should().Be(0, $"the plan is made on the tree before it is damaged:\n{output}{errors}");
        return plan;
    }

    /// <summary>Harbor's retention policy keeping the latest pushed artifact of each repository of the project <c>library</c>.</summary>
    private string WritePolicy()
    {
        var path = Path.Combine(Scratch, "policy.json");
        File.WriteAllText(path, """
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}}, "scope": {"level": "project", "ref": "library"}}
            """);
        return path;
    }

    /// <summary>
    /// Every command that reads the store: a dry run, <c>explain</c>, <c>retention run</c>, a real run and <c>gc --apply</c> of a
    /// plan saved before the damage. The runs use window 0, so that on a tree they wrongly accept they delete all they can.
    /// </summary>
    private IEnumerable<(string Name, string[] Args)> EveryCommand(string plan, IssueThreeScenario scenario)
    {
        yield return ("gc --dry-run", ["gc", "--delete-untagged", "true", "--store", Store, "--dry-run", "--time-window", "0", "--quiet"]);
        yield return ("explain", ["explain", scenario.Live[0].Digest.ToString(), "--store", Store]);
        yield return ("retention run", ["retention", "run", "--policy", WritePolicy(), "--store", Store, "--quiet"]);
        yield return ("gc", ["gc", "--delete-untagged", "true", "--store", Store, "--time-window", "0", "--quiet"]);
        yield return ("gc --apply", ["gc", "--apply", plan, "--store", Store, "--quiet"]);
    }

    private string ReportPath() => Path.Combine(Scratch, $"report-{Guid.NewGuid():N}.json");

    // ---- what the registry serves --------------------------------------------------------------------------------

    /// <summary>Starts the registry when stopped; then every tag of the scenario, every live manifest and <paramref name="alsoKept"/> serve whole.</summary>
    private async Task ShouldServeEveryLiveObjectAsync(IssueThreeScenario scenario, params PushedManifest[] alsoKept)
    {
        if (!Registry.IsRunning)
        {
            await Registry.StartAsync();
        }

        var live = scenario.Live.Select(m => m.Digest.ToString()).ToHashSet();
        foreach (var (repository, tags) in scenario.Tags)
        {
            foreach (var tag in tags)
            {
                var byTag = await Client.GetManifestAsync(repository, tag);
                byTag.Status.Should().Be(HttpStatusCode.OK, $"{repository}:{tag} is live, yet the registry answered {byTag.Text}");
                live.Should().Contain(byTag.DigestHeader, $"{repository}:{tag} names a live manifest");
                Digest.Sha256Of(byTag.Body).ToString().Should().Be(byTag.DigestHeader, $"the bytes served for {repository}:{tag}");
            }
        }

        foreach (var manifest in scenario.Live.Concat(alsoKept))
        {
            await ShouldServeAsync(manifest);
        }
    }

    /// <summary>Like <see cref="ShouldServeEveryLiveObjectAsync"/>, for a tree where nothing may have been deleted: the garbage and the unreferenced blobs too.</summary>
    private async Task ShouldServeEverythingPushedAsync(IssueThreeScenario scenario)
    {
        await ShouldServeEveryLiveObjectAsync(scenario, [.. scenario.Garbage.Select(g => g.Manifest)]);
        foreach (var (repository, blob) in scenario.Unreferenced)
        {
            await ShouldServeBlobAsync(repository, blob);
        }
    }

    /// <summary>The manifest serves by digest with its own bytes, and so does every blob it references.</summary>
    private async Task ShouldServeAsync(PushedManifest manifest)
    {
        var get = await Client.GetManifestAsync(manifest.Repository, manifest.Digest.ToString());
        get.Status.Should().Be(HttpStatusCode.OK, $"{manifest.Repository}@{manifest.Digest} must survive, yet the registry answered {get.Text}");
        Digest.Sha256Of(get.Body).Should().Be(manifest.Digest, $"the bytes served for {manifest.Repository}@{manifest.Digest}");
        foreach (var blob in manifest.Blobs)
        {
            await ShouldServeBlobAsync(manifest.Repository, blob, $" (referenced by {manifest.Digest})");
        }
    }

    private async Task ShouldServeBlobAsync(string repository, Digest blob, string why = "")
    {
        var response = await Client.GetBlobAsync(repository, blob);
        response.Status.Should().Be(HttpStatusCode.OK, $"blob {blob} of {repository}{why} must survive, yet the registry answered {response.Text}");
        Digest.Sha256Of(response.Body).Should().Be(blob, $"the bytes served for {blob} in {repository}");
    }

    /// <summary>The parts of a JSON report the hostile-tree tests read, and its text (for paths reported anywhere in it).</summary>
    private sealed record Report(
        string Text,
        IReadOnlyList<(string Repository, Digest Digest)> Artifacts,
        IReadOnlyList<(Digest Digest, string Status)> Blobs,
        IReadOnlyList<string> Uploads,
        IReadOnlyList<string> Warnings)
    {
        public static Report Read(string file, string output)
        {
            File.Exists(file).Should().BeTrue($"the run writes its report to {file}; it printed:\n{output}");
            var text = File.ReadAllText(file);
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            return new Report(
                text,
                [.. root.GetProperty("artifacts").EnumerateArray().Select(a => (a.GetProperty("repository").GetString()!, Digest.Parse(a.GetProperty("digest").GetString()!)))],
                [.. root.GetProperty("blobs").EnumerateArray().Select(b => (Digest.Parse(b.GetProperty("digest").GetString()!), b.GetProperty("status").GetString()!))],
                [.. root.GetProperty("uploads").EnumerateArray().Select(u => u.GetProperty("id").GetString()!)],
                [.. root.GetProperty("warnings").EnumerateArray().Select(w => $"{w.GetProperty("location").GetString()}: {w.GetProperty("message").GetString()}")]);
        }

        /// <summary>Whether some warning names <paramref name="path"/> (in its location or its message).</summary>
        public bool Warns(string path) => Warnings.Any(w => w.Contains(path, StringComparison.Ordinal));
    }
}
