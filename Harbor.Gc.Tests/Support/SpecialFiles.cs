using System.Diagnostics;

namespace Harbor.Gc.Tests.Support;

/// <summary>Makes what a damaged or hostile tree holds besides files and folders: FIFOs, and folders with names that are not UTF-8.</summary>
internal static class SpecialFiles
{
    /// <summary>Makes a FIFO (named pipe) at <paramref name="path"/> with mkfifo(1): opening it for reading blocks until a writer comes.</summary>
    public static void MakeFifo(string path) => Run("mkfifo", path);

    /// <summary>Makes a folder named by raw bytes (such as 0xFF, not UTF-8) inside <paramref name="parent"/>, with python3.</summary>
    /// <returns>The name as <c>\xNN</c>-escaped text.</returns>
    public static string MakeFolderWithRawName(string parent, params byte[] name)
    {
        var literal = string.Concat(name.Select(b => $"\\x{b:x2}"));
        Run("python3", "-c", $"import os; os.mkdir(os.path.join(os.fsencode('{parent.Replace("'", "\\'", StringComparison.Ordinal)}'), b'{literal}'))");
        return literal;
    }

    /// <summary>Removes a folder with rm -rf, which (unlike .NET's Directory.Delete) copes with names that are not UTF-8.</summary>
    public static void RemoveTree(string path) => Run("rm", "-rf", "--", path);

    private static void Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {error}");
        }
    }
}
