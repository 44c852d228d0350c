using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FluentAssertions;
using Harbor.Gc.Runner;
using Harbor.Gc.Runner.Commands;
using Harbor.Gc.Tests.Support;
using NUnit.Framework;

namespace Harbor.Gc.Tests.Runner;

/// <summary>
/// The conventions of the command line (issue 14): System.CommandLine's <c>--help</c>/<c>-h</c> on every command,
/// <c>--opt=value</c>, did-you-mean, shell completion, <c>--version</c>, the bare <c>--delete-untagged</c>; every parse error is
/// exit 2 naming the option, and deletes nothing.
/// </summary>
public class CommandLineTests
{
    private string _sample = null!;
    private string _temp = null!;

    [SetUp]
    public void SetUp()
    {
        _sample = Path.Combine(RepositoryRoot.Find(), "samples", "registry");
        _temp = Directory.CreateTempSubdirectory("harbor-gc-cli-").FullName;
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_temp, recursive: true);

    [Test]
    public async Task EveryCommand_AnswersHelpAndH_WithADescriptionOfEachOption()
    {
        // Given every command and subcommand of the tree
        var commands = Walk(Cli.Build(new CommandContext(TextWriter.Null, TextWriter.Null, TimeProvider.System, StopRequest.Of(CancellationToken.None))), []).ToList();
        commands.Select(c => string.Join(' ', c.Path)).Should().Contain(["gc", "retention run", "retention validate", "daemon", "daemon run-now", "history", "history prune", "show", "explain", "store convert", "completion"]);

        foreach (var (path, command) in commands)
        {
            command.Description.Should().NotBeNullOrWhiteSpace($"'{string.Join(' ', path)}' has a one-line description");
            foreach (var flag in new[] { "--help", "-h" })
            {
                // When it is asked for its help
                var (code, stdout, stderr) = await Run([.. path, flag]);

                // Then it prints its usage and each of its options with a description, exit 0
                code.Should().Be(0, stderr);
                stdout.Should().Contain($"harbor-gc {string.Join(' ', path)}".TrimEnd()).And.Contain("Usage:").And.Contain(command.Description!);
                foreach (var option in command.Options)
                {
                    option.Description.Should().NotBeNullOrWhiteSpace($"{option.Name} of '{string.Join(' ', path)}' has a description");
                    stdout.Should().Contain(option.Name).And.Contain(option.Description!.Split(' ', 3)[0]);
                }

                foreach (var argument in command.Arguments)
                {
                    argument.Description.Should().NotBeNullOrWhiteSpace();
                }
            }
        }
    }

    [Test]
    public async Task TheRootHelp_ListsEveryCommandWithItsDescription_AndNoArgumentsIsTheSame()
    {
        var root = Cli.Build(new CommandContext(TextWriter.Null, TextWriter.Null, TimeProvider.System, StopRequest.Of(CancellationToken.None)));

        var help = await Run(["--help"]);
        var bare = await Run([]);

        help.Code.Should().Be(0);
        bare.Should().Be(help);
        foreach (var command in root.Subcommands)
        {
            help.Out.Should().Contain(command.Name).And.Contain(command.Description!);
        }
    }

    [Test]
    public async Task Version_PrintsTheVersionAlone()
    {
        var (code, stdout, _) = await Run(["--version"]);

        code.Should().Be(0);
        stdout.Should().Be(Program.ToolVersion + Environment.NewLine);
        Program.ToolVersion.Should().MatchRegex(@"^\d+\.\d+\.\d+$");
    }

    [Test]
    public async Task OptionEqualsValue_IsTheSameAsOptionSpaceValue()
    {
        // Given the sample dry run written both ways
        var spaced = await Run(["gc", "--store", $"distribution:{_sample}", "--dry-run", "--delete-untagged", "true", "--time-window", "0", "--report-json", "-"]);
        var equals = await Run(["gc", $"--store=distribution:{_sample}", "--dry-run", "--delete-untagged=true", "--time-window=0", "--report-json=-"]);

        // Then both plan the same
        spaced.Code.Should().Be(0, spaced.Err);
        equals.Code.Should().Be(0, equals.Err);
        Planned(equals.Out).Should().Equal(Planned(spaced.Out)).And.NotBeEmpty();
    }

    [Test]
    public async Task DeleteUntagged_AloneIsTrue_AndTakesTrueOrFalse()
    {
        // Given the sample, which has untagged artifacts older than the window
        string[] dryRun = ["gc", "--store", $"distribution:{_sample}", "--dry-run", "--time-window", "0", "--report-json", "-"];

        // When --delete-untagged is given alone (before another option and last), with true, and with false
        var bareBefore = await Run(["gc", "--delete-untagged", .. dryRun[1..]]);
        var bareLast = await Run([.. dryRun, "--delete-untagged"]);
        var on = await Run([.. dryRun, "--delete-untagged", "true"]);
        var off = await Run([.. dryRun, "--delete-untagged", "false"]);

        // Then alone is true: untagged artifacts are planned; false plans none
        foreach (var run in new[] { bareBefore, bareLast, on, off })
        {
            run.Code.Should().Be(0, run.Err);
        }

        Reasons(bareBefore.Out).Should().Contain("untagged");
        Planned(bareBefore.Out).Should().Equal(Planned(on.Out));
        Planned(bareLast.Out).Should().Equal(Planned(on.Out));
        Reasons(off.Out).Should().NotContain("untagged");
    }

    [TestCase(new[] { "gc", "--delet-untagged" }, "gc: unknown option '--delet-untagged'; did you mean '--delete-untagged'?")]
    [TestCase(new[] { "gc", "--wokers", "2" }, "gc: unknown option '--wokers'; did you mean '--workers'?")]
    [TestCase(new[] { "gc", "--time-windw=2h" }, "gc: unknown option '--time-windw'; did you mean '--time-window'?")]
    [TestCase(new[] { "retention", "run", "--polcy", "p.json" }, "retention run: unknown option '--polcy'; did you mean '--policy'?")]
    [TestCase(new[] { "retnetion", "run" }, "unknown command 'retnetion'; did you mean 'retention'?")]
    [TestCase(new[] { "histroy" }, "unknown command 'histroy'; did you mean 'history'?")]
    [TestCase(new[] { "gc", "--frobnicate" }, "gc: unknown option '--frobnicate'.")]
    [TestCase(new[] { "frobnicate" }, "unknown command 'frobnicate' (the commands: gc, retention, daemon, history, show, explain, store, completion).")]
    public async Task AMisspelling_IsExit2_WithWhatWasMeant(string[] args, string message)
    {
        var (code, stdout, stderr) = await Run(args);

        code.Should().Be(ExitCodes.BadInput);
        stdout.Should().BeEmpty();
        stderr.Should().StartWith($"harbor-gc: {message}\n");
        stderr.Should().Contain("--help'.");
    }

    [TestCase(new[] { "--time-window" }, "--time-window: a value is missing.")]
    [TestCase(new[] { "--time-window=2x" }, "--time-window: '2x' is not a duration")]
    [TestCase(new[] { "--max-duration", "soon" }, "--max-duration: 'soon' is not a duration")]
    [TestCase(new[] { "--workers", "two" }, "--workers: 'two' is not a whole number.")]
    [TestCase(new[] { "--delete-untagged", "maybe" }, "--delete-untagged: 'maybe' is not true or false")]
    [TestCase(new[] { "--quiet", "yes" }, "--quiet: takes no value, but 'yes' follows it.")]
    [TestCase(new[] { "--workers", "1", "--workers", "2" }, "--workers: given more than once.")]
    [TestCase(new[] { "--time-window", "0", "--time-window" }, "--time-window: given more than once.")]
    public async Task AParseError_IsExit2_NamesTheOption_AndDeletesNothing(string[] bad, string message)
    {
        // Given a copy of the sample registry, and a real run's command line with one bad option
        var root = Path.Combine(_temp, "registry");
        CopyTree(_sample, root);
        var before = Listing(root);

        // When it runs
        var (code, _, stderr) = await Run(["gc", "--store", $"distribution:{root}", "--delete-untagged", "--grace-period", "0", .. bad]);

        // Then it is exit 2 with the option named, and the tree is as it was
        code.Should().Be(ExitCodes.BadInput);
        stderr.Should().StartWith("harbor-gc: gc: ").And.Contain(message);
        Listing(root).Should().Equal(before);
    }

    [Test]
    public async Task GcAndRetention_LogThroughTheConsoleFormatter_WhenAskedFor()
    {
        // Given the sample dry run with --log-format json
        var (code, _, stderr) = await Run(["gc", "--store", $"distribution:{_sample}", "--dry-run", "--delete-untagged", "--time-window", "0", "--quiet", "--log-format", "json"]);

        // Then stderr carries the run's log, one JSON entry a line, the plan among them
        code.Should().Be(0, stderr);
        var entries = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        entries.Should().Contain(e => e.GetProperty("Category").GetString() == "Harbor.Gc.Collection.GarbageCollector"
            && e.GetProperty("Message").GetString()!.StartsWith("GC plan for", StringComparison.Ordinal));

        // and without any logging option (nor HARBOR_GC_LOG_*), no log: the summary alone
        var plain = await Run(["gc", "--store", $"distribution:{_sample}", "--dry-run", "--time-window", "0"]);
        plain.Code.Should().Be(0, plain.Err);
        plain.Err.Should().NotContain("GC plan for");
        plain.Out.Should().NotContain("GC plan for").And.Contain("scanned 2 repositories");

        // a bad level is exit 2 naming the option, before the store is read
        var bad = await Run(["retention", "run", "--policy", "missing.json", "--log-level", "loud"]);
        bad.Code.Should().Be(ExitCodes.BadInput);
        bad.Err.Should().Contain("--log-level: 'loud' is not a log level");
    }

    [Test]
    public void TheLogOfACommand_FollowsTheEnvironment()
    {
        // no option and no HARBOR_GC_LOG_* variable: no console log; either variable turns it on, and a bad one is exit 2 naming it
        RunnerLoggingForCommand(new Dictionary<string, string>()).Should().BeNull();
        using var factory = RunnerLoggingForCommand(new Dictionary<string, string> { ["HARBOR_GC_LOG_LEVEL"] = "warning" });
        factory.Should().NotBeNull();
        var bad = () => RunnerLoggingForCommand(new Dictionary<string, string> { ["HARBOR_GC_LOG_FORMAT"] = "xml" });
        bad.Should().Throw<UsageException>().WithMessage("*HARBOR_GC_LOG_FORMAT*'xml' is not a log format*");
    }

    [Test]
    public void BashCompletion_CompletesCommandsOptionsAndValues()
    {
        // Given bash with the script harbor-gc prints sourced, and harbor-gc on the PATH
        var bin = Path.Combine(_temp, "bin");
        Directory.CreateDirectory(bin);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var launcher = Path.Combine(bin, "harbor-gc");
        File.WriteAllText(launcher, $"#!/bin/sh\nexec '{dotnet}' '{Path.Combine(AppContext.BaseDirectory, "harbor-gc.dll")}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(launcher, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // When a line is completed at its end (as bash does on Tab)
        var script = """
            set -e
            source <(harbor-gc completion bash)
            complete -p harbor-gc
            complete_line() {
                COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
                read -r -a COMP_WORDS <<< "$COMP_LINE"
                if [[ "$COMP_LINE" == *' ' ]]; then COMP_WORDS+=(''); fi
                COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
                _harbor_gc_complete
                echo "[$1] ${COMPREPLY[*]}"
            }
            complete_line 'harbor-gc ret'
            complete_line 'harbor-gc retention '
            complete_line 'harbor-gc gc --dry'
            complete_line 'harbor-gc gc --log-format '
            complete_line 'harbor-gc daemon run-now --log-level w'
            """;
        var (code, stdout, stderr) = Bash(script, bin);

        // Then commands, subcommands, options and fixed values are completed
        code.Should().Be(0, stderr);
        stdout.Should().Contain("complete -o default -F _harbor_gc_complete harbor-gc");
        stdout.Should().Contain("[harbor-gc ret] retention\n");
        stdout.Should().MatchRegex(@"\[harbor-gc retention \] .*\brun\b.*\bvalidate\b|\[harbor-gc retention \] .*\bvalidate\b.*\brun\b");
        stdout.Should().Contain("[harbor-gc gc --dry] --dry-run\n");
        stdout.Should().Contain("[harbor-gc gc --log-format ] json simple systemd\n");
        stdout.Should().Contain("[harbor-gc daemon run-now --log-level w] warning\n");
    }

    private static IDisposable? RunnerLoggingForCommand(Dictionary<string, string> environment) =>
        Gc.Runner.Daemon.RunnerLogging.ForCommand(new Gc.Runner.Daemon.LogOptions(null, null), TextWriter.Null, TimeProvider.System, environment);

    private static (int Code, string Out, string Err) Bash(string script, string bin)
    {
        var info = new ProcessStartInfo("bash", ["--norc", "--noprofile", "-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("bash did not finish in 2 minutes");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static IEnumerable<(string[] Path, Command Command)> Walk(Command command, string[] path)
    {
        foreach (var sub in command.Subcommands)
        {
            string[] subPath = [.. path, sub.Name];
            yield return (subPath, sub);
            foreach (var nested in Walk(sub, subPath))
            {
                yield return nested;
            }
        }
    }

    private static List<string> Planned(string json)
    {
        using var report = JsonDocument.Parse(json);
        return report.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => $"{a.GetProperty("repository").GetString()}@{a.GetProperty("digest").GetString()}")
            .Concat(report.RootElement.GetProperty("blobs").EnumerateArray().Select(b => b.GetProperty("digest").GetString()!)).ToList();
    }

    private static List<string> Reasons(string json)
    {
        using var report = JsonDocument.Parse(json);
        return report.RootElement.GetProperty("artifacts").EnumerateArray().Select(a => a.GetProperty("reason").GetString()!).ToList();
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static List<string> Listing(string root) =>
        [.. Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal)];

    private static async Task<(int Code, string Out, string Err)> Run(string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = await Program.RunAsync(args, stdout, stderr, TimeProvider.System, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
