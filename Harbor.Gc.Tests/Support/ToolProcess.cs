using System.Diagnostics;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Runs a program to its end with a bound: the SDK's <c>dotnet pack</c>, <c>publish</c> and <c>tool install</c>, or an installed
/// <c>harbor-gc</c>. The child gets no MSBuild or compiler server that outlives it (none would hold the test's pipes open), and
/// none of the MSBuild variables of the <c>dotnet test</c> that started the tests.
/// </summary>
internal static class ToolProcess
{
    /// <summary>The <c>dotnet</c> that runs the tests (the SDK's muxer when the tests run under <c>dotnet test</c>).</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/> in <paramref name="workingDirectory"/>; its exit code, stdout and stderr.</summary>
    /// <exception cref="TimeoutException">It ran past <paramref name="bound"/> (it was killed, with its children).</exception>
    public static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, string workingDirectory, TimeSpan bound,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("MSBUILD", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(name);
        }

        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        info.Environment["UseSharedCompilation"] = "false";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { } host && Path.GetDirectoryName(host) is { } root)
        {
            info.Environment["DOTNET_ROOT"] = root; // where an apphost (an installed tool, a published harbor-gc) finds the runtime
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(bound))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} did not finish within {bound}");
        }

        process.WaitForExit();
        return Task.WhenAll(stdout, stderr).Wait(bound)
            ? (process.ExitCode, stdout.Result, stderr.Result)
            : throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)}: its output did not close within {bound}");
    }
}
