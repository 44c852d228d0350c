using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Harbor.Gc.Tests.Support;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// What the README's top promises an operator: <c>harbor-gc</c> packs as a .NET tool that installs from the packed folder alone
/// and runs the README's sample dry run; <c>Harbor.Gc.Core</c> packs as a library; the Dockerfile's published output runs. Each
/// test runs the SDK (<c>dotnet pack</c>, <c>tool install</c>, <c>publish</c>) in a temporary folder; the projects are built
/// in Release once (incrementally: nothing to do after <c>.ci/run</c>'s build).
/// </summary>
[Category("Package")]
[NonParallelizable] // the SDK builds: alone on the machine's two cores
public partial class ToolPackageTests
{
    /// <summary>Generous: a pack or publish in a clean clone builds the Runner and Core in Release on two busy cores.</summary>
    private static readonly TimeSpan SdkBound = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(2);
    private string _root = null!;
    private string _temp = null!;

    [SetUp]
    public void SetUp()
    {
        _root = RepositoryRoot.Find();
        _temp = Directory.CreateTempSubdirectory("harbor-gc-package-").FullName;
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_temp, recursive: true);

    /// <summary>The one version of the repository, Directory.Build.props' Version.</summary>
    private string Version => XDocument.Load(Path.Combine(_root, "Directory.Build.props")).Descendants("Version").Single().Value;

    [Test]
    public void ThePackedTool_InstallsFromItsFolderAlone_AndRunsTheReadmesSampleDryRun()
    {
        // given the README's top: the install line (pack the Runner into a folder, install the tool from it) and the sample dry run
        var readme = File.ReadAllText(Path.Combine(_root, "README.md")).ReplaceLineEndings("\n");
        var top = readme[..readme.IndexOf("\n## ", StringComparison.Ordinal)];
        top.Should().Contain("dotnet pack Harbor.Gc.Runner -c Release -o packages && dotnet tool install --global --add-source packages Harbor.Gc.Runner\n");
        var sample = SampleDryRun().Match(top);
        sample.Success.Should().BeTrue("the README's top shows the sample dry run through dotnet run");
        var packages = Path.Combine(_temp, "packages");

        // when both projects are packed into a temporary folder, as the README packs the Runner
        foreach (var project in new[] { "Harbor.Gc.Runner", "Harbor.Gc.Core" })
        {
            var pack = ToolProcess.Run(ToolProcess.Dotnet, ["pack", project, "-c", "Release", "-o", packages, "--disable-build-servers"], _root, SdkBound);
            pack.Code.Should().Be(0, pack.Stdout + pack.Stderr);
            (pack.Stdout + pack.Stderr).Should().NotContainEquivalentOf("warning", "packing must not warn");
        }

        // ...and the tool is installed from that folder alone: a NuGet configuration whose only source is it, and an empty
        // package cache (the tool package carries its dependencies; a cached package of the same version would hide this one)
        var config = Path.Combine(_temp, "nuget.config");
        new XDocument(new XElement("configuration", new XElement("packageSources",
            new XElement("clear"), new XElement("add", new XAttribute("key", "packed"), new XAttribute("value", packages))))).Save(config);
        var tools = Path.Combine(_temp, "tools");
        var install = ToolProcess.Run(ToolProcess.Dotnet,
            ["tool", "install", "--tool-path", tools, "--configfile", config, "Harbor.Gc.Runner", "--version", Version], _temp, SdkBound,
            new Dictionary<string, string?> { ["NUGET_PACKAGES"] = Path.Combine(_temp, "nuget-cache") });
        install.Code.Should().Be(0, install.Stdout + install.Stderr);

        // then the installed harbor-gc prints the repository's version, one line, exit 0
        var harborGc = Path.Combine(tools, "harbor-gc");
        var version = ToolProcess.Run(harborGc, ["--version"], _temp, RunBound);
        version.Code.Should().Be(0, version.Stderr);
        version.Stdout.Should().Be(Version + "\n");

        // ...and runs the README's sample dry run from the repository's root: the documented plan, on stdout as JSON
        var args = sample.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var run = ToolProcess.Run(harborGc, args, _root, RunBound);
        run.Code.Should().Be(0, run.Stderr);
        SampleRegistryTests.ShouldBeTheDocumentedPlan(run.Stdout, run.Stderr);

        // ...and its help and completion script (the parser's assembly is in the package too)
        var help = ToolProcess.Run(harborGc, ["gc", "--help"], _temp, RunBound);
        help.Code.Should().Be(0, help.Stderr);
        help.Stdout.Should().Contain("Usage:").And.Contain("harbor-gc gc [options]").And.Contain("--delete-untagged");
        var completion = ToolProcess.Run(harborGc, ["completion", "bash"], _temp, RunBound);
        completion.Code.Should().Be(0, completion.Stderr);
        completion.Stdout.Should().Contain("complete -o default -F _harbor_gc_complete harbor-gc");
    }

    [Test]
    public void ThePackages_CarryTheReadme_TheLicence_AndTheToolSettings()
    {
        // given both projects packed
        var packages = Path.Combine(_temp, "packages");
        foreach (var project in new[] { "Harbor.Gc.Runner", "Harbor.Gc.Core" })
        {
            var pack = ToolProcess.Run(ToolProcess.Dotnet, ["pack", project, "-c", "Release", "-o", packages, "--disable-build-servers"], _root, SdkBound);
            pack.Code.Should().Be(0, pack.Stdout + pack.Stderr);
        }

        // when their contents are read
        using var tool = ZipFile.OpenRead(Path.Combine(packages, $"Harbor.Gc.Runner.{Version}.nupkg"));
        using var library = ZipFile.OpenRead(Path.Combine(packages, $"Harbor.Gc.Core.{Version}.nupkg"));

        // then both carry the README and the LICENSE file, name the licence by its SPDX expression and have the same metadata
        var readme = File.ReadAllText(Path.Combine(_root, "README.md"));
        var license = File.ReadAllText(Path.Combine(_root, "LICENSE"));
        foreach (var package in new[] { tool, library })
        {
            Text(package, "README.md").Should().Be(readme);
            Text(package, "LICENSE").Should().Be(license);
            var nuspec = Nuspec(package);
            Element(nuspec, "version").Value.Should().Be(Version);
            Element(nuspec, "license").Value.Should().Be("MIT");
            Element(nuspec, "license").Attribute("type")!.Value.Should().Be("expression");
            Element(nuspec, "readme").Value.Should().Be("README.md");
            Element(nuspec, "authors").Value.Should().Be("Harbor.Gc contributors");
            Element(nuspec, "description").Value.Should().NotBeNullOrWhiteSpace();
            Element(nuspec, "tags").Value.Should().Contain("oci").And.Contain("registry");
            Element(nuspec, "repository").Attribute("type")!.Value.Should().Be("git");
        }

        license.Should().StartWith("MIT License");

        // ...the tool is a DotnetTool package whose settings name the command harbor-gc and its entry point, with every assembly
        // it loads beside it
        var toolNuspec = Nuspec(tool);
        Element(toolNuspec, "id").Value.Should().Be("Harbor.Gc.Runner");
        Element(toolNuspec, "packageType").Attribute("name")!.Value.Should().Be("DotnetTool");
        var settings = XDocument.Parse(Text(tool, "tools/net10.0/any/DotnetToolSettings.xml"));
        var command = settings.Descendants("Command").Single();
        command.Attribute("Name")!.Value.Should().Be("harbor-gc");
        command.Attribute("EntryPoint")!.Value.Should().Be("harbor-gc.dll");
        tool.Entries.Select(e => e.FullName).Should().Contain(
            ["tools/net10.0/any/harbor-gc.dll", "tools/net10.0/any/Harbor.Gc.Core.dll", "tools/net10.0/any/LiteDB.dll", "tools/net10.0/any/Cronos.dll", "tools/net10.0/any/System.CommandLine.dll"]);

        // ...and the library is Harbor.Gc.Core's assembly and XML docs, depending on its packages rather than carrying them
        var libraryNuspec = Nuspec(library);
        Element(libraryNuspec, "id").Value.Should().Be("Harbor.Gc.Core");
        library.Entries.Select(e => e.FullName).Should().Contain(["lib/net10.0/Harbor.Gc.Core.dll", "lib/net10.0/Harbor.Gc.Core.xml"])
            .And.NotContain(e => e.EndsWith("LiteDB.dll", StringComparison.Ordinal));
        libraryNuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value)
            .Should().Contain(["LiteDB", "Cronos", "Microsoft.Extensions.Options"]);
    }

    [Test]
    public void TheDockerfilesPublishCommand_MakesTheFoldersItCopies_WhoseHarborGcRuns()
    {
        // given the Dockerfile: the dotnet publish command in its comment, the folder it copies, a non-root user, harbor-gc as entry point
        var dockerfile = File.ReadAllText(Path.Combine(_root, "Dockerfile")).ReplaceLineEndings("\n");
        var publish = PublishCommand().Match(dockerfile);
        publish.Success.Should().BeTrue("the Dockerfile says how its input is made");
        var output = publish.Groups["output"].Value;
        dockerfile.Should().Contain("\nFROM mcr.microsoft.com/dotnet/runtime:10.0\n")
            .And.Contain($"\nCOPY {output}/ /app/\n")
            .And.Contain("\nUSER $APP_UID\n")
            .And.Contain("\nENTRYPOINT [\"/app/harbor-gc\"]\n");
        File.ReadAllText(Path.Combine(_root, ".dockerignore")).Should().Contain($"!{output}/");

        // when that command runs, publishing into a temporary folder instead of the copied one
        var published = Path.Combine(_temp, "publish");
        var args = publish.Groups["args"].Value.Replace($"-o {output}", $"-o {published}", StringComparison.Ordinal)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Append("--disable-build-servers").ToArray();
        args.Should().Contain(published);
        var run = ToolProcess.Run(ToolProcess.Dotnet, args, _root, SdkBound);
        run.Code.Should().Be(0, run.Stdout + run.Stderr);
        (run.Stdout + run.Stderr).Should().NotContainEquivalentOf("warning");

        // then its harbor-gc (the image's entry point) prints the version and runs the sample dry run
        var harborGc = Path.Combine(published, "harbor-gc");
        var version = ToolProcess.Run(harborGc, ["--version"], _temp, RunBound);
        version.Code.Should().Be(0, version.Stderr);
        version.Stdout.Should().Be(Version + "\n");
        var dryRun = ToolProcess.Run(harborGc, ["gc", "--store", "distribution:samples/registry", "--dry-run", "--delete-untagged", "true", "--time-window", "0", "--report-json", "-"], _root, RunBound);
        dryRun.Code.Should().Be(0, dryRun.Stderr);
        SampleRegistryTests.ShouldBeTheDocumentedPlan(dryRun.Stdout, dryRun.Stderr);
        AsTheImagesUser_ADryRunReadsATreeOwnedByRoot_AndARealRunIsRefusedTheDeletes(harborGc);
    }

    /// <summary>
    /// The README's container section: as the image's user (UID 1654, <c>$APP_UID</c>) on a tree that registry:2 wrote as root
    /// (folders 0755, files 0644), a dry run works and a real run cannot delete, exits 1 and leaves the tree as it was. Needs
    /// root to take that user (<c>setpriv</c>), as CI is; skipped otherwise, with a message.
    /// </summary>
    private void AsTheImagesUser_ADryRunReadsATreeOwnedByRoot_AndARealRunIsRefusedTheDeletes(string harborGc)
    {
        if (Environment.UserName != "root")
        {
            TestContext.Out.WriteLine("not root: the run as the image's user (UID 1654) is not checked");
            return;
        }

        // given a root-owned copy of the sample with registry:2's modes, and the published output readable by all
        var tree = Path.Combine(_temp, "registry");
        StoreFactory.CopyFolder(Path.Combine(_root, "samples", "registry"), tree);
        Shell.Run("chmod", ["-R", "u=rwX,go=rX", _temp]);
        var before = FolderSnapshot.Take(tree);
        string[] asImageUser = ["--reuid", "1654", "--regid", "1654", "--clear-groups", "env", "HOME=/tmp", harborGc];

        // when the image's user runs a dry run, then a real run
        var dryRun = ToolProcess.Run("setpriv", [.. asImageUser, "gc", "--store", $"distribution:{tree}", "--dry-run", "--delete-untagged", "true", "--time-window", "0", "--report-json", "-"], _temp, RunBound);
        var real = ToolProcess.Run("setpriv", [.. asImageUser, "gc", "--store", $"distribution:{tree}", "--delete-untagged", "true", "--time-window", "0", "--grace-period", "0"], _temp, RunBound);

        // then the dry run plans as root would, and the real run fails on the permission and deletes nothing
        dryRun.Code.Should().Be(0, dryRun.Stderr);
        SampleRegistryTests.ShouldBeTheDocumentedPlan(dryRun.Stdout, dryRun.Stderr);
        real.Code.Should().Be(1, real.Stderr);
        (real.Stdout + real.Stderr).Should().Contain("Permission denied");
        before.ShouldBeUnchanged("the image's user cannot delete what registry:2 wrote as root");
    }

    private static string Text(ZipArchive package, string path)
    {
        var entry = package.GetEntry(path);
        entry.Should().NotBeNull($"the package holds {path}");
        using var reader = new StreamReader(entry!.Open());
        return reader.ReadToEnd();
    }

    private static XDocument Nuspec(ZipArchive package) =>
        XDocument.Parse(Text(package, package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).FullName));

    private static XElement Element(XDocument nuspec, string name)
    {
        var element = nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name);
        element.Should().NotBeNull($"the nuspec has <{name}>");
        return element!;
    }

    [GeneratedRegex(@"^dotnet run --project Harbor\.Gc\.Runner -- (?<args>gc --store distribution:samples/registry [^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex SampleDryRun();

    [GeneratedRegex(@"^#\s+dotnet (?<args>publish Harbor\.Gc\.Runner [^\n]*-o (?<output>\S+)[^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex PublishCommand();
}
