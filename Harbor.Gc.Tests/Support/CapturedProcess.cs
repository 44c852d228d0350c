using System.Diagnostics;
using System.Text;

namespace Harbor.Gc.Tests.Support;

/// <summary>A server process of a test fixture whose stdout and stderr are collected, line by line as they arrive, into one buffer.</summary>
internal static class CapturedProcess
{
    /// <summary>Starts <paramref name="info"/> (its streams redirected) and appends every line it prints to <paramref name="output"/>, under its lock.</summary>
    public static Process Start(ProcessStartInfo info, StringBuilder output)
    {
        var process = new Process { StartInfo = info };
        void Append(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is { } line)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }

        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
