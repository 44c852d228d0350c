using System.Diagnostics;

namespace Harbor.Gc.Tests.Support;

/// <summary>Runs a small program (<c>find</c>, <c>mkfifo</c>, <c>chattr</c>, <c>bash</c>) and returns what it printed.</summary>
internal static class Shell
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; its stdout as bytes.</summary>
    /// <exception cref="InvalidOperationException">It exited with an error (the message carries stderr), or ran past two minutes.</exception>
    public static byte[] Run(string file, IEnumerable<string> args)
    {
        var (code, stdout, stderr) = TryRun(file, args);
        return code == 0
            ? stdout
            : throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with code {code}: {stderr}");
    }

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; its exit code, stdout and stderr.</summary>
    public static (int Code, byte[] Stdout, string Stderr) TryRun(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        using var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        if (!process.WaitForExit(Bound))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish within {Bound}");
        }

        copy.Wait(Bound);
        return (process.ExitCode, stdout.ToArray(), stderr.Result);
    }
}
