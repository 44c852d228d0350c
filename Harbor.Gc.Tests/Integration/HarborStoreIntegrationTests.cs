using System.Globalization;
using System.Text.Json;
using Harbor.Gc.Model;
using Cronos;
using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// The <c>harbor:</c> store against a real PostgreSQL holding Harbor's tables (filled as Harbor core fills them) and the storage of
/// a real <c>docker-registry</c>, through the command line: dry runs, explain and retention dry runs work; real runs and bad input
/// exit 2 saying what and where.
/// </summary>
[Category("Integration")]
public sealed class HarborStoreIntegrationTests : RegistryIntegrationTest
{
    private HarborDatabase? _database;
    private string _work = string.Empty;
    private string _passfile = string.Empty;
    private DateTimeOffset _now;

    private HarborDatabase Database => _database ?? throw new InvalidOperationException("no database");

    /// <summary>The store spec, its password in a pgpass file.</summary>
    private string Store => Database.StoreSpec(Registry.Root) + "&passfile=" + _passfile;

    [SetUp]
    public async Task CreateDatabase()
    {
        _database = await HarborDatabase.CreateAsync();
        Directory.CreateDirectory(Path.Combine(Registry.Root, "docker", "registry", "v2")); // the registry makes it on its first push
        _work = Path.Combine(Path.GetTempPath(), "harbor-gc-harbor-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        _passfile = Path.Combine(_work, "pgpass");
        await File.WriteAllTextAsync(_passfile, string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Database.Port}:{Database.Name}:{PostgresCluster.User}:{Database.Password}\n"));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_passfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        // the run's clock is a month after the pushes into the storage, so their file times are outside every time window and only
        // the database's push times decide
        _now = TimeProvider.System.GetUtcNow().AddDays(30);
    }

    [TearDown]
    public async Task DropDatabase()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
            _database = null;
        }

        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr, new FakeTimeProvider(_now), CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// A Harbor 2.15-style installation: every manifest pushed by digest (the storage holds no tag), the tags only in the database.
    /// </summary>
    private async Task<Installation> PushInstallationAsync()
    {
        var tagged = await Push.ImageAsync("library/app", null, "{\"app\":1}", ["shared-layer", "app-layer"]);
        await Database.PushAsync(tagged, _now.AddDays(-10), tag: "v1");
        var untagged = await Push.ImageAsync("library/app", null, "{\"app\":2}", ["shared-layer", "old-layer"]);
        await Database.PushAsync(untagged, _now.AddDays(-9));
        var recent = await Push.ImageAsync("library/app", null, "{\"app\":3}", ["recent-layer"]);
        await Database.PushAsync(recent, _now.AddMinutes(-10));
        var signature = await Push.ReferrerAsync(tagged, MediaTypes.CosignSignatureArtifact, "signature-of-v1");
        await Database.PushAsync(signature, _now.AddDays(-10));
        await Database.AccessoryAsync(signature, tagged, AccessoryTypes.CosignSignature);
        var child = await Push.ImageAsync("library/multi", null, "{\"arch\":\"arm64\"}", ["arm-layer"]);
        await Database.PushAsync(child, _now.AddDays(-8));
        var index = await Push.IndexAsync("library/multi", null, child);
        await Database.PushAsync(index, _now.AddDays(-8), tag: "latest");
        return new Installation(tagged, untagged, recent, signature, child, index);
    }

    private sealed record Installation(PushedManifest Tagged, PushedManifest Untagged, PushedManifest Recent, PushedManifest Signature, PushedManifest Child, PushedManifest Index);

    /// <summary>A Harbor retention policy of one rule over every repository and tag, untagged artifacts included.</summary>
    private async Task<string> WritePolicyAsync(string template, int parameter)
    {
        var policy = Path.Combine(_work, "policy.json");
        await File.WriteAllTextAsync(policy, $$$"""
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "{{{template}}}", "params": {"{{{template}}}": {{{parameter}}}},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}}, "scope": {"level": "project", "ref": "library"}}
            """);
        return policy;
    }

    [Test]
    public async Task A_dry_run_on_a_Harbor_2_15_installation_keeps_every_image_tagged_in_the_database_and_plans_only_the_old_untagged_one()
    {
        // given a Harbor 2.15-style installation (no tags in the storage): v1 with its signature, an old untagged image, a recent
        // untagged image, and a tagged index with an untagged child
        var installation = await PushInstallationAsync();
        var report = Path.Combine(_work, "report.json");
        var html = Path.Combine(_work, "report.html");

        // when harbor-gc plans a GC of untagged artifacts on Harbor's database and storage
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", report, "--report-html", html);

        // then only the old untagged image goes, with its own layer and config; the shared layer stays; nothing was deleted
        code.Should().Be(0, errors + output);
        var plan = GcRunReport.Read(report);
        plan.DryRun.Should().BeTrue();
        plan.Artifacts.Select(a => (a.Repository, a.Digest)).Should().Equal(("library/app", installation.Untagged.Digest));
        plan.Blobs.Should().BeEquivalentTo(installation.Untagged.AllBlobs.Where(b => !installation.Tagged.Blobs.Contains(b)));
        Directory.Exists(Path.Combine(Registry.Root, "docker/registry/v2/blobs/sha256", installation.Untagged.Digest.Hex[..2], installation.Untagged.Digest.Hex)).Should().BeTrue();
        (await Database.ScalarAsync<long>("SELECT count(*) FROM artifact")).Should().Be(6, "the database is only read");

        // and the report names the store without its password
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(report));
        var store = json.RootElement.GetProperty("store").GetString();
        store.Should().StartWith($"harbor:postgresql://{PostgresCluster.User}@127.0.0.1:{Database.Port}/{Database.Name}?storage=");
        (await File.ReadAllTextAsync(report)).Should().NotContain(Database.Password);
        (output + errors).Should().NotContain(Database.Password);
        var page = await File.ReadAllTextAsync(html);
        page.Should().Contain(installation.Untagged.Digest.Hex).And.Contain($"harbor:postgresql://{PostgresCluster.User}@127.0.0.1:{Database.Port}/{Database.Name}");
        page.Should().NotContain(Database.Password);
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public async Task On_a_pre_2_15_installation_the_harbor_plan_equals_the_distribution_plan_of_the_same_tree(int seed)
    {
        // given a pre-2.15 installation (tags in the storage and in the database), filled at random through the real registry and
        // recorded in the database as Harbor core records each push, tag, index and accessory; every push older than the time window
        var random = new Random(seed);
        var pushed = new List<PushedManifest>();
        var at = _now.AddDays(-20);
        for (var i = 0; i < 8; i++)
        {
            var repository = $"library/r{random.Next(3)}";
            var tag = random.Next(2) == 0 ? null : $"t{i}";
            var layers = new List<Layer> { $"layer-{seed}-{i}" };
            if (random.Next(2) == 0)
            {
                layers.Add($"shared-{seed}-{random.Next(3)}");
            }

            var image = await Push.ImageAsync(repository, tag, $"{{\"seed\":{seed},\"i\":{i}}}", layers);
            await Database.PushAsync(image, at = at.AddMinutes(1), tag);
            pushed.Add(image);
            switch (random.Next(4))
            {
                case 0:
                    var signature = await Push.CosignSignatureAsync(image, $"sig-{seed}-{i}");
                    await Database.PushAsync(signature, at = at.AddMinutes(1), $"sha256-{image.Digest.Hex}.sig");
                    await Database.AccessoryAsync(signature, image, AccessoryTypes.CosignSignature);
                    break;
                case 1:
                    var referrer = await Push.ReferrerAsync(image, MediaTypes.CosignSignatureArtifact, $"ref-{seed}-{i}");
                    await Database.PushAsync(referrer, at = at.AddMinutes(1));
                    await Database.AccessoryAsync(referrer, image, AccessoryTypes.CosignSignature);
                    break;
            }
        }

        foreach (var group in pushed.GroupBy(p => p.Repository).Where(g => g.Count() > 1))
        {
            var children = group.Take(2).ToArray();
            var index = await Push.IndexAsync(group.Key, random.Next(2) == 0 ? null : "multi", children);
            await Database.PushAsync(index, at = at.AddMinutes(1), await Tagged(index));
        }

        // when both stores plan a GC of untagged artifacts
        var harbor = Path.Combine(_work, "harbor.json");
        var distribution = Path.Combine(_work, "distribution.json");
        var first = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", harbor);
        var second = await Run("gc", "--store", $"distribution:{Registry.Root}", "--dry-run", "--delete-untagged", "--report-json", distribution);

        // then they plan the same artifacts, blobs and layer links
        first.Code.Should().Be(0, first.Err);
        second.Code.Should().Be(0, second.Err);
        var (h, d) = (GcRunReport.Read(harbor), GcRunReport.Read(distribution));
        h.Artifacts.Select(a => (a.Repository, a.Digest)).Should().BeEquivalentTo(d.Artifacts.Select(a => (a.Repository, a.Digest)));
        h.Blobs.Should().BeEquivalentTo(d.Blobs);
        h.LayerLinks.Should().Be(d.LayerLinks);
        h.Artifacts.Should().NotBeEmpty("the scenario has untagged images to collect");

        // and only the harbor: store's report says where Harbor's own GC differs
        (await File.ReadAllTextAsync(harbor)).Should().Contain("\"differsFromHarbor\"");
        (await File.ReadAllTextAsync(distribution)).Should().NotContain("differsFromHarbor");
    }

    /// <summary>The tag an index was pushed by in the storage, if any (the database records the same).</summary>
    private Task<string?> Tagged(PushedManifest index)
    {
        var tags = Path.Combine(Registry.Root, "docker/registry/v2/repositories", index.Repository, "_manifests/tags");
        return Task.FromResult(Directory.Exists(Path.Combine(tags, "multi")) ? "multi" : (string?)null);
    }

    [Test]
    public async Task The_same_tree_read_as_a_distribution_store_sees_no_tags_where_the_harbor_store_sees_them()
    {
        // given the 2.15-style installation
        var installation = await PushInstallationAsync();

        // when the storage alone is collected
        var (code, _, errors) = await Run("gc", "--store", $"distribution:{Registry.Root}", "--dry-run", "--delete-untagged");

        // then it is refused (every image would look untagged), where the harbor: store plans (the test above)
        code.Should().Be(2, errors);
        errors.Should().Contain("tags folder");
        installation.Tagged.Digest.Should().NotBe(installation.Untagged.Digest);
    }

    [Test]
    public async Task Explain_names_the_tag_the_database_holds()
    {
        // given the installation
        var installation = await PushInstallationAsync();

        // when the tagged image is explained
        var (code, output, errors) = await Run("explain", installation.Tagged.Digest.ToString(), "--repository", "library/app", "--store", Store, "--delete-untagged");

        // then it is kept by its tag v1, which only the database holds
        code.Should().Be(0, errors + output);
        output.Should().Contain("v1");
    }

    [Test]
    public async Task A_retention_dry_run_reads_Harbors_pull_times()
    {
        // given two tagged images, one pulled yesterday and one pulled two months ago (pull times only Harbor's database has)
        var fresh = await Push.ImageAsync("library/web", null, "{\"web\":1}", ["web-1"]);
        await Database.PushAsync(fresh, _now.AddDays(-100), tag: "fresh");
        await Database.PullAsync("library/web", fresh.Digest, _now.AddDays(-1), tag: "fresh");
        var stale = await Push.ImageAsync("library/web", null, "{\"web\":2}", ["web-2"]);
        await Database.PushAsync(stale, _now.AddDays(-100), tag: "stale");
        await Database.PullAsync("library/web", stale.Digest, _now.AddDays(-60), tag: "stale");
        var policy = await WritePolicyAsync("nDaysSinceLastPull", 30);

        // when the policy is evaluated on the harbor: store
        var (code, output, errors) = await Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        // then the image pulled two months ago is the one to delete, and no warning says pull times are unknown
        code.Should().Be(0, errors + output);
        errors.Should().NotContain("pull times are unknown");
        using var json = JsonDocument.Parse(output);
        var outcomes = json.RootElement.GetProperty("artifacts").EnumerateArray()
            .ToDictionary(a => a.GetProperty("digest").GetString()!, a => a.GetProperty("outcome").GetString());
        outcomes.Should().Equal(new Dictionary<string, string?> { [fresh.Digest.ToString()] = "retained", [stale.Digest.ToString()] = "deleted" });
        (await Database.ScalarAsync<long>("SELECT count(*) FROM artifact")).Should().Be(2, "nothing is deleted");
    }

    [Test]
    public async Task A_retention_dry_run_leaves_every_accessory_out_of_the_candidates_as_Harbor_does()
    {
        // Harbor: src/pkg/artifact/dao/dao.go querySetter's `notacc` filter leaves every artifact_accessory row out of the candidates
        // the retention job lists (src/pkg/retention/dep/client.go GetCandidates), and every type Harbor defines is a hard reference
        // (src/pkg/accessory/model/*: Kind() returns RefHard), so a signature is never counted and goes or stays with its subject
        // given v1 pushed 10 days ago with a cosign signature (an accessory row, untagged) and v2 pushed yesterday, the signature
        // pushed after both
        var v1 = await Push.ImageAsync("library/signed", null, "{\"signed\":1}", ["signed-1"]);
        await Database.PushAsync(v1, _now.AddDays(-10), tag: "v1");
        var v2 = await Push.ImageAsync("library/signed", null, "{\"signed\":2}", ["signed-2"]);
        await Database.PushAsync(v2, _now.AddDays(-1), tag: "v2");
        var signature = await Push.ReferrerAsync(v1, MediaTypes.CosignSignatureArtifact, "signature-of-signed-v1");
        await Database.PushAsync(signature, _now.AddHours(-1));
        await Database.AccessoryAsync(signature, v1, AccessoryTypes.CosignSignature);
        var policy = await WritePolicyAsync("latestPushedK", 1);

        // when the policy keeping the latest pushed artifact is evaluated on the harbor: store
        var (code, output, errors) = await Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        // then the candidates are v1 and v2 only (the newest pushed artifact, the signature, is not one, so it cannot be "the latest"
        // and keep v2 out): v2 is retained, v1 goes and takes its signature with it, uncounted
        code.Should().Be(0, errors + output);
        using var json = JsonDocument.Parse(output);
        var repository = json.RootElement.GetProperty("repositories").EnumerateArray().Single();
        (repository.GetProperty("total").GetInt32(), repository.GetProperty("retained").GetInt32(), repository.GetProperty("deleted").GetInt32())
            .Should().Be((2, 1, 1));
        var artifacts = json.RootElement.GetProperty("artifacts").EnumerateArray().ToDictionary(
            a => a.GetProperty("digest").GetString()!,
            a => (a.GetProperty("outcome").GetString(), a.GetProperty("reason").GetString(), a.GetProperty("candidate").GetBoolean()));
        artifacts.Should().Equal(new Dictionary<string, (string?, string?, bool)>
        {
            [v2.Digest.ToString()] = ("retained", "retained-by-rule", true),
            [v1.Digest.ToString()] = ("deleted", "not-retained", true),
            [signature.Digest.ToString()] = ("deleted", "accessory-of-deleted", false),
        });
    }

    [Test]
    public async Task A_daemon_dry_run_job_on_the_harbor_store_plans_and_is_recorded()
    {
        // given the installation and a daemon dry-run GC job of untagged artifacts on it
        var installation = await PushInstallationAsync();
        var time = new FakeTimeProvider(_now);
        using var history = RunHistory.Open(Path.Combine(_work, "history.db"), create: true);
        var runner = new JobRunner(history, new RetentionJob(time), time, LoggerFactory.Create(b => b.AddProvider(new RunLogProvider(null, time))));
        var job = new DaemonJob
        {
            Name = "harbor-nightly", Kind = JobKind.Gc, Store = Store, ScheduleText = "@daily", Schedule = CronExpression.Parse("@daily"), DryRun = true,
            Gc = new() { DryRun = true, DeleteUntagged = true },
        };

        // when it runs
        var run = await runner.RunAsync(job, RunTrigger.Schedule, CancellationToken.None);

        // then it succeeded, planning the old untagged image (its manifest, config and own layer), and deleted nothing
        run.Status.Should().Be(RunStatus.Succeeded, run.Message);
        (run.Artifacts, run.Blobs).Should().Be((1, installation.Untagged.AllBlobs.Count(b => !installation.Tagged.Blobs.Contains(b))));
        (await Database.ScalarAsync<long>("SELECT count(*) FROM artifact")).Should().Be(6);
        history.Get(run.Id)!.Store.Should().NotContain(Database.Password);
    }

    [TestCase("gc")]
    [TestCase("gc", "--delete-untagged")]
    [TestCase("retention")]
    public async Task A_real_run_is_refused_with_exit_2_and_says_to_apply_the_plan_through_Harbor(params string[] command)
    {
        // given an installation
        await PushInstallationAsync();
        var policy = await WritePolicyAsync("latestPushedK", 1);
        string[] args = command[0] == "gc" ? ["gc", "--store", Store, .. command[1..]] : ["retention", "run", "--policy", policy, "--store", Store];

        // when a real run is asked for
        var (code, output, errors) = await Run(args);

        // then it is refused, nothing is touched, and the message says how to apply a plan
        code.Should().Be(2, output);
        errors.Should().Contain("does not write into it").And.Contain("--dry-run").And.Contain("through Harbor");
        (await Database.ScalarAsync<long>("SELECT count(*) FROM artifact")).Should().Be(6);
    }

    [Test]
    public async Task Applying_a_dry_runs_plan_is_refused_with_exit_2()
    {
        // given an installation and a dry run's plan of it
        await PushInstallationAsync();
        var plan = Path.Combine(_work, "plan.json");
        (await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", plan)).Code.Should().Be(0);

        // when the plan is applied
        var (code, output, errors) = await Run("gc", "--store", Store, "--apply", plan);

        // then it is refused, saying how to apply it through Harbor, and the database is unchanged
        code.Should().Be(2, output);
        errors.Should().Contain("does not write into it").And.Contain("through Harbor");
        (await Database.ScalarAsync<long>("SELECT count(*) FROM artifact")).Should().Be(6);
    }

    [Test]
    public async Task A_password_in_the_address_is_refused_with_exit_2_and_never_echoed()
    {
        // given a store spec with the password in the address
        var spec = Database.StoreSpec(Registry.Root).Replace($"{PostgresCluster.User}@", $"{PostgresCluster.User}:{Database.Password}@", StringComparison.Ordinal);

        // when it is used
        var (code, output, errors) = await Run("gc", "--store", spec, "--dry-run");

        // then it is refused, and the password is not repeated
        code.Should().Be(2);
        errors.Should().Contain("password on the command line is refused").And.Contain("HARBOR_GC_PGPASSWORD");
        (output + errors).Should().NotContain(Database.Password);
    }

    [TestCase("HARBOR_GC_PGPASSWORD")]
    [TestCase("PGPASSWORD")]
    public async Task The_password_can_come_from_the_environment(string variable)
    {
        // given an installation, and its password in the environment only (no passfile)
        var installation = await PushInstallationAsync();
        var previous = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, Database.Password);
        try
        {
            // when a dry run reads it
            var (code, output, errors) = await Run("gc", "--store", Database.StoreSpec(Registry.Root), "--dry-run", "--delete-untagged", "--report-json", "-");

            // then it plans the old untagged image, and prints the password nowhere
            code.Should().Be(0, errors);
            GcRunReportOf(output).Artifacts.Select(a => a.Digest).Should().Equal(installation.Untagged.Digest);
            (output + errors).Should().NotContain(Database.Password);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, previous);
        }
    }

    private GcRunReport GcRunReportOf(string json)
    {
        var file = Path.Combine(_work, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(file, json);
        return GcRunReport.Read(file);
    }

    [Test]
    public async Task Wrong_credentials_exit_2_naming_the_database_and_where_to_give_the_password()
    {
        // given a passfile with a wrong password
        await File.WriteAllTextAsync(_passfile, string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Database.Port}:{Database.Name}:{PostgresCluster.User}:wrong\n"));

        // when a dry run reads the database
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run");

        // then it exits 2 naming the database and how to give the password
        code.Should().Be(2, output);
        errors.Should().Contain($"127.0.0.1:{Database.Port}/{Database.Name}").And.Contain("refused the credentials").And.Contain("PGPASSFILE");
    }

    [Test]
    public async Task An_unreachable_database_exits_2_naming_the_host_and_port()
    {
        // given a port nothing listens on
        var port = FreePort();
        var spec = $"harbor:postgresql://{PostgresCluster.User}@127.0.0.1:{port}/registry?storage={Registry.Root}&passfile={_passfile}";

        // when a dry run reads it
        var (code, output, errors) = await Run("gc", "--store", spec, "--dry-run");

        // then it exits 2 saying it cannot reach PostgreSQL there
        code.Should().Be(2, output);
        errors.Should().Contain($"cannot reach Harbor's PostgreSQL at postgresql://{PostgresCluster.User}@127.0.0.1:{port}/registry");
    }

    [Test]
    public async Task A_database_without_Harbors_tables_exits_2_naming_the_missing_tables()
    {
        // given an empty database
        await using var empty = await HarborDatabase.CreateAsync(withSchema: false);
        await File.WriteAllTextAsync(_passfile, string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{empty.Port}:{empty.Name}:{PostgresCluster.User}:{empty.Password}\n"));

        // when a dry run reads it
        var (code, output, errors) = await Run("gc", "--store", empty.StoreSpec(Registry.Root) + "&passfile=" + _passfile, "--dry-run");

        // then it exits 2 naming the tables
        code.Should().Be(2, output);
        errors.Should().Contain("has no table schema_migrations, project, repository, artifact").And.Contain("not a Harbor database");
    }

    [TestCase(190L, "is 190, which this harbor-gc was not built for")]
    [TestCase(130L, "is 130, which this harbor-gc was not built for")]
    public async Task An_unknown_schema_version_exits_2_naming_the_version(long version, string expected)
    {
        // given Harbor's tables at a schema version the store was not built for
        await Database.ExecuteAsync("UPDATE schema_migrations SET version = @v", ("v", version));

        // when a dry run reads them
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run");

        // then it exits 2 naming the version and the ones it reads
        code.Should().Be(2, output);
        errors.Should().Contain(expected).And.Contain("140, 150, 160, 170, 171, 180, 181");
    }

    [Test]
    public async Task A_storage_folder_of_another_registry_exits_2()
    {
        // given an installation, and the storage of another registry
        await PushInstallationAsync();
        var other = Path.Combine(_work, "other");
        Directory.CreateDirectory(Path.Combine(other, "docker", "registry", "v2"));

        // when the database is read with that storage
        var (code, output, errors) = await Run("gc", "--store", Database.StoreSpec(other) + "&passfile=" + _passfile, "--dry-run");

        // then it exits 2: none of the database's manifests is there
        code.Should().Be(2, output);
        errors.Should().Contain("holds none of the 6 manifests").And.Contain(other);
    }

    [Test]
    public async Task An_orphan_accessory_is_collected_and_the_report_says_Harbor_would_keep_it()
    {
        // given a signature whose subject Harbor's database no longer holds (its row removed, and trashed, without the signature's), both old
        var subject = await Push.ImageAsync("library/app", null, "{\"gone\":1}", ["gone-layer"]);
        await Database.PushAsync(subject, _now.AddDays(-10));
        var signature = await Push.ReferrerAsync(subject, MediaTypes.CosignSignatureArtifact, "signature-of-gone");
        await Database.PushAsync(signature, _now.AddDays(-10));
        await Database.AccessoryAsync(signature, subject, AccessoryTypes.CosignSignature);
        var keep = await Push.ImageAsync("library/app", null, "{\"kept\":1}", ["kept-layer"]);
        await Database.PushAsync(keep, _now.AddDays(-10), tag: "v1");
        await Database.TrashAsync("library/app", subject.Digest);
        await Database.ExecuteAsync("DELETE FROM artifact WHERE digest = @d", ("d", subject.Digest.ToString()));

        // when GC of untagged artifacts is planned
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-");

        // then the orphan signature is planned, and the report's differences from Harbor name it and say Harbor's GC would keep it
        // (deletedArt in src/jobservice/job/impl/gc/garbage_collection.go lists no accessory: notacc in querySetter, src/pkg/artifact/dao/dao.go)
        code.Should().Be(0, errors);
        GcRunReportOf(output).Artifacts.Select(a => a.Digest).Should().Contain(signature.Digest);
        Differences(output).Should().ContainSingle(d => d.Kind == "harbor-keeps-orphan-accessory")
            .Which.Should().Match<Difference>(d => d.Item == $"library/app@{signature.Digest}" && d.Harbor.Contains("never collects", StringComparison.Ordinal));
    }

    /// <summary>One entry of the report's <c>differsFromHarbor</c>.</summary>
    private sealed record Difference(string Kind, string Item, long Bytes, int Count, string? KeptBy, string? GoesWith, string Harbor);

    private static List<Difference> Differences(string report)
    {
        using var json = JsonDocument.Parse(report);
        return [.. json.RootElement.GetProperty("differsFromHarbor").EnumerateArray().Select(d => new Difference(
            d.GetProperty("kind").GetString()!, d.GetProperty("item").GetString()!, d.GetProperty("bytes").GetInt64(), d.GetProperty("count").GetInt32(),
            d.GetProperty("keptBy").GetString(), d.GetProperty("goesWith").GetString(), d.GetProperty("harbor").GetString()!))];
    }

    [Test]
    public async Task Children_pushed_before_their_index_inside_the_window_are_kept_and_the_report_says_Harbors_GC_would_delete_them()
    {
        // given the two children of a multi-arch image pushed ten minutes ago, untagged, and its index not pushed yet: Harbor has no
        // artifact_reference row for them, so deletedArt (src/jobservice/job/impl/gc/garbage_collection.go) lists them with
        // artCtl.List(Tags: "nil") (querySetter's both/untagged/notacc filters, src/pkg/artifact/dao/dao.go) and deletes them with
        // no time window (goharbor/harbor#21266)
        var amd = await Push.ImageAsync("library/multi", null, "{\"arch\":\"amd64\"}", ["amd-layer"]);
        await Database.PushAsync(amd, _now.AddMinutes(-10));
        var arm = await Push.ImageAsync("library/multi", null, "{\"arch\":\"arm64\"}", ["arm-layer"]);
        await Database.PushAsync(arm, _now.AddMinutes(-10));
        var children = new[] { $"library/multi@{amd.Digest}", $"library/multi@{arm.Digest}" };
        var html = Path.Combine(_work, "report.html");

        // when GC of untagged artifacts is planned with the default 2h window
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-", "--report-html", html);

        // then both are kept, and the report lists each as one Harbor's GC would delete, citing #21266; the summary has one line for it
        code.Should().Be(0, errors);
        GcRunReportOf(output).Artifacts.Should().BeEmpty();
        var within = Differences(output).Where(d => d.Kind == "harbor-deletes-within-window").ToList();
        within.Select(d => d.Item).Should().BeEquivalentTo(children);
        within.Should().OnlyContain(d => d.Harbor.Contains("goharbor/harbor#21266", StringComparison.Ordinal) && d.Harbor.Contains("deletedArt", StringComparison.Ordinal)
            && d.KeptBy == "the time window");
        (await File.ReadAllTextAsync(html)).Should().Contain("id=\"harbor-totals\"").And.Contain(amd.Digest.ToString());

        // and explain says what Harbor would do with one of them
        var explained = await Run("explain", children[0], "--store", Store, "--delete-untagged");
        explained.Code.Should().Be(0, explained.Err);
        explained.Out.Should().Contain("kept").And.Contain("differs from Harbor: Harbor's GC with delete_untagged deletes this artifact");

        // when delete-untagged is off, Harbor does not delete untagged artifacts either: no difference
        var off = await Run("gc", "--store", Store, "--dry-run", "--report-json", "-");
        off.Code.Should().Be(0, off.Err);
        Differences(off.Out).Should().BeEmpty();

        // when the children are older than the window, this plan deletes them too: no difference of that kind
        var later = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--time-window", "5m", "--report-json", "-");
        later.Code.Should().Be(0, later.Err);
        GcRunReportOf(later.Out).Artifacts.Select(a => $"{a.Repository}@{a.Digest}").Should().BeEquivalentTo(children);
        Differences(later.Out).Should().NotContain(d => d.Kind == "harbor-deletes-within-window");
    }

    [Test]
    public async Task Blobs_Harbors_dry_run_counts_as_freed_but_this_plan_keeps_or_counts_once_are_listed_with_totals()
    {
        // given a tagged image and two old untagged images: the first shares a layer with the tagged one, and both untagged ones share
        // another layer; and an old untagged index over an untagged child, whose manifest is in the index's artifact_blob rows too (its
        // references) and in its own, and which deletedArt's Walk (src/controller/artifact/controller.go) reaches. Harbor's dry run (uselessBlobs in src/jobservice/job/impl/gc/garbage_collection.go) appends GetByArt's blobs
        // (artifact_blob, GetBlobsByArtDigest in src/pkg/blob/dao/dao.go) of every simulated-deleted untagged artifact, without
        // checking kept artifacts and without removing repeats
        var tagged = await Push.ImageAsync("library/app", null, "{\"app\":1}", ["base-layer", "app-layer"]);
        await Database.PushAsync(tagged, _now.AddDays(-10), tag: "v1");
        var first = await Push.ImageAsync("library/app", null, "{\"app\":2}", ["base-layer", "untagged-shared", "first-layer"]);
        await Database.PushAsync(first, _now.AddDays(-9));
        var second = await Push.ImageAsync("library/app", null, "{\"app\":3}", ["untagged-shared", "second-layer"]);
        await Database.PushAsync(second, _now.AddDays(-9));
        var child = await Push.ImageAsync("library/app", null, "{\"app\":4}", ["child-layer"]);
        await Database.PushAsync(child, _now.AddDays(-9));
        var index = await Push.IndexAsync("library/app", null, child);
        await Database.PushAsync(index, _now.AddDays(-9));
        var baseLayer = tagged.Blobs[1];
        var shared = second.Blobs[1];
        var sizeOf = async (Digest d) => await Database.ScalarAsync<long>("SELECT size FROM blob WHERE digest = @d", ("d", d.ToString()));

        // when GC of untagged artifacts is planned
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-");

        // then the plan frees the layer the two untagged images share, and the child's manifest, once and keeps the base layer; the
        // report lists those blobs as over-counted by Harbor's dry run: the base layer with the tagged image that keeps it, the
        // others as counted twice
        code.Should().Be(0, errors);
        var plan = GcRunReportOf(output);
        plan.Blobs.Should().Contain([shared, child.Digest]).And.NotContain(baseLayer);
        var over = Differences(output).Where(d => d.Kind == "harbor-dry-run-over-counts").ToList();
        over.Select(d => (d.Item, d.Count, d.KeptBy)).Should().BeEquivalentTo(new[]
        {
            (baseLayer.ToString(), 1, (string?)$"library/app@{tagged.Digest}"),
            (shared.ToString(), 1, (string?)null),
            (child.Digest.ToString(), 1, (string?)null),
        });
        over.Single(d => d.Item == shared.ToString()).Harbor.Should().Contain("2 times");

        // and the totals give what Harbor's dry run over-counts against this plan, in the report and on one console line
        var (count, bytes) = (3, await sizeOf(baseLayer) + await sizeOf(shared) + await sizeOf(child.Digest));
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("differsFromHarborTotals").EnumerateArray()
            .Single(t => t.GetProperty("kind").GetString() == "harbor-dry-run-over-counts")
            .Should().Match<JsonElement>(t => t.GetProperty("count").GetInt32() == count && t.GetProperty("bytes").GetInt64() == bytes);
        var explained = await Run("explain", baseLayer.ToString(), "--store", Store, "--delete-untagged");
        explained.Out.Should().Contain("kept").And.Contain("differs from Harbor: Harbor's dry run counts this blob as freed 1 time");
        var console = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged");
        console.Out.Split('\n').Should().ContainSingle(l => l.Contains("harbor-dry-run-over-counts", StringComparison.Ordinal))
            .Which.Should().Contain($"Harbor's dry run would count {count} blobs").And.Contain(string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes"));
    }

    [Test]
    public async Task A_manifest_in_the_storage_whose_artifact_Harbor_deleted_is_planned_as_deleted_in_Harbor_whatever_delete_untagged_says()
    {
        // given a tagged image and an image Harbor deleted (its rows gone, its manifest still in the storage until Harbor's GC removes
        // it from artifact_trash: mark and sweep in src/jobservice/job/impl/gc/garbage_collection.go), sharing a layer
        var tagged = await Push.ImageAsync("library/app", null, "{\"app\":1}", ["base-layer", "app-layer"]);
        await Database.PushAsync(tagged, _now.AddDays(-10), tag: "v1");
        var deleted = await Push.ImageAsync("library/app", null, "{\"app\":2}", ["base-layer", "deleted-layer"]);
        await Database.PushAsync(deleted, _now.AddDays(-10));
        await Database.DeleteAsync("library/app", deleted.Digest);

        // when GC is planned without untagged deletion (the default)
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--report-json", "-");

        // then the deleted image is planned, as deleted in Harbor, with its own blobs (with untagged deletion too); the shared layer and
        // the tagged image stay
        code.Should().Be(0, errors);
        var plan = GcRunReportOf(output);
        plan.Artifacts.Should().Equal(("library/app", deleted.Digest, "deleted-in-harbor"));
        plan.Blobs.Should().BeEquivalentTo(deleted.AllBlobs.Where(b => !tagged.Blobs.Contains(b)));
        var explained = await Run("explain", $"library/app@{deleted.Digest}", "--store", Store);
        explained.Out.Should().Contain("collected by the next run").And.Contain("deleted in Harbor");
        var untagged = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-");
        GcRunReportOf(untagged.Out).Artifacts.Should().Equal(("library/app", deleted.Digest, "deleted-in-harbor"));

        // when its manifest was pushed within the time window (a push whose database row Harbor core has not written yet looks the same)
        var now = _now;
        _now = TimeProvider.System.GetUtcNow();
        var fresh = await Run("gc", "--store", Store, "--dry-run", "--report-json", "-");
        _now = now;

        // then it is kept
        fresh.Code.Should().Be(0, fresh.Err);
        GcRunReportOf(fresh.Out).Artifacts.Should().BeEmpty();
    }

    [Test]
    public async Task A_retention_dry_run_does_not_see_a_manifest_whose_artifact_Harbor_deleted()
    {
        // given a tagged image, and a newer image Harbor deleted whose manifest is still in the storage: Harbor's retention lists only
        // the artifacts of its database (src/pkg/retention/dep/client.go GetCandidates, through the artifact controller's List)
        var kept = await Push.ImageAsync("library/web", null, "{\"web\":1}", ["web-1"]);
        await Database.PushAsync(kept, _now.AddDays(-10), tag: "v1");
        var deleted = await Push.ImageAsync("library/web", null, "{\"web\":2}", ["web-2"]);
        await Database.PushAsync(deleted, _now.AddDays(-5));
        await Database.DeleteAsync("library/web", deleted.Digest);
        var policy = Path.Combine(_work, "policy.json");
        await File.WriteAllTextAsync(policy, """
            {"algorithm": "or", "rules": [{"disabled": false, "action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 1},
              "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
              "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
             "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}}, "scope": {"level": "project", "ref": "library"}}
            """);

        // when the policy that keeps the latest pushed artifact is evaluated
        var (code, output, errors) = await Run("retention", "run", "--policy", policy, "--store", Store, "--dry-run", "--report-json", "-");

        // then v1 is the only candidate, and it is retained
        code.Should().Be(0, errors + output);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("artifacts").EnumerateArray()
            .ToDictionary(a => a.GetProperty("digest").GetString()!, a => a.GetProperty("outcome").GetString())
            .Should().Equal(new Dictionary<string, string?> { [kept.Digest.ToString()] = "retained" });
    }

    [Test]
    public async Task A_manifest_in_the_storage_that_neither_Harbors_artifact_table_nor_its_artifact_trash_lists_is_kept_and_warned()
    {
        // given a tagged image, and an old manifest in the storage that Harbor never recorded or whose rows are gone without a trash
        // row (Harbor writes one for every artifact it deletes: deleteDeeply in src/controller/artifact/controller.go), e.g. a
        // database restored from an older backup than the storage
        var tagged = await Push.ImageAsync("library/app", null, "{\"app\":1}", ["base-layer"]);
        await Database.PushAsync(tagged, _now.AddDays(-10), tag: "v1");
        var unrecorded = await Push.ImageAsync("library/app", null, "{\"app\":2}", ["unrecorded-layer"]);

        // when GC of untagged artifacts is planned
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-");

        // then it is kept with its blobs, and a warning names it
        code.Should().Be(0, errors);
        var plan = GcRunReportOf(output);
        plan.Artifacts.Should().BeEmpty();
        plan.Blobs.Should().NotContain(unrecorded.AllBlobs);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("warnings").ToString().Should().Contain(unrecorded.Digest.ToString()).And.Contain("neither in Harbor's artifact table nor in its artifact_trash");
    }

    [Test]
    public async Task A_manifest_Harbor_deleted_that_a_kept_index_lists_is_kept()
    {
        // given a tagged index whose child's row was deleted and trashed (Harbor itself refuses that: deleteDeeply in
        // src/controller/artifact/controller.go; here the row is gone behind its back), the child's manifest still in the storage
        var child = await Push.ImageAsync("library/multi", null, "{\"arch\":\"arm64\"}", ["arm-layer"]);
        await Database.PushAsync(child, _now.AddDays(-10));
        var index = await Push.IndexAsync("library/multi", null, child);
        await Database.PushAsync(index, _now.AddDays(-10), tag: "latest");
        await Database.ExecuteAsync("DELETE FROM artifact_reference");
        await Database.TrashAsync("library/multi", child.Digest);
        await Database.ExecuteAsync("DELETE FROM artifact WHERE digest = @d", ("d", child.Digest.ToString()));

        // when GC of untagged artifacts is planned
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--delete-untagged", "--report-json", "-");

        // then nothing is planned: the index, which is kept, lists the child
        code.Should().Be(0, errors);
        GcRunReportOf(output).Artifacts.Should().BeEmpty();
        GcRunReportOf(output).Blobs.Should().NotContain(child.AllBlobs);
    }

    [Test]
    public async Task A_blob_the_database_lists_but_the_storage_lacks_is_a_warning_naming_it()
    {
        // given an installation whose database lists a blob the storage does not hold
        await PushInstallationAsync();
        var missing = Digest.Sha256Of("never pushed"u8.ToArray());
        await Database.ExecuteAsync("INSERT INTO blob (digest, content_type, size) VALUES (@d, 'application/octet-stream', 12)", ("d", missing.ToString()));

        // when a dry run reads it
        var (code, output, errors) = await Run("gc", "--store", Store, "--dry-run", "--report-json", "-");

        // then it plans, warning about that blob
        code.Should().Be(0, errors);
        using var json = JsonDocument.Parse(output);
        json.RootElement.GetProperty("warnings").ToString().Should().Contain(missing.ToString()).And.Contain("does not hold it");
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
