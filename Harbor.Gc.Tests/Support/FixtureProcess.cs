using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// The child processes of the test fixtures' servers (PostgreSQL, the S3 server, <c>docker-registry</c>) and of the benchmarks'
/// PostgreSQL: free loopback ports, a server started with its output collected, waited for until it answers, a setup program run
/// to its end, servers stopped by their process ids, and a watchdog shell that ends them when this process dies first. No NUnit
/// here: the benchmarks compile this file in too.
/// </summary>
internal static class FixtureProcess
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    /// <summary>A loopback port no one listens on now (the system's choice).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The first of <paramref name="count"/> consecutive free loopback ports, from a random start.</summary>
    public static int FreePorts(int count)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var first = Random.Shared.Next(20000, 60000 - count);
            if (Enumerable.Range(first, count).All(IsFree))
            {
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports on 127.0.0.1");
    }

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

    /// <summary>What <paramref name="output"/> holds (a buffer <see cref="Start"/> writes to), read under its lock.</summary>
    public static string Read(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    /// <summary>
    /// Waits until <paramref name="ready"/> says the server <paramref name="process"/> serves, polling every 50 ms.
    /// </summary>
    /// <param name="process">The server.</param>
    /// <param name="name">Its name, for the messages.</param>
    /// <param name="serving">What it does once ready, for the messages (<c>accepting connections on 127.0.0.1:5432</c>).</param>
    /// <param name="ready">Whether it serves now; false, or an exception it handles itself, while it does not yet.</param>
    /// <param name="bound">How long it may take.</param>
    /// <param name="output">What it printed, for the messages.</param>
    /// <param name="time">The clock of the wait.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <exception cref="InvalidOperationException">It exited first, or did not serve within <paramref name="bound"/>; the message carries its output.</exception>
    public static async Task WaitUntilServingAsync(Process process, string name, string serving, Func<CancellationToken, Task<bool>> ready, TimeSpan bound,
        Func<string> output, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false); // its output read to the end
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before {serving}:\n{output()}");
            }

            if (await ready(cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            if (time.GetElapsedTime(started) > bound)
            {
                throw new InvalidOperationException($"{name} was not {serving} within {bound.TotalSeconds} s:\n{output()}");
            }

            await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a program to its end; its exit code, stdout and stderr, or null when it ran past <paramref name="bound"/> (it was killed, with its children).</summary>
    public static (int Code, string Stdout, string Stderr)? Run(ProcessStartInfo info, TimeSpan bound)
    {
        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(bound))
        {
            process.Kill(entireProcessTree: true);
            return null;
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a setup program (<c>initdb</c>, <c>chown</c>) to its end.</summary>
    /// <exception cref="InvalidOperationException">It exited with an error (the message carries its output), or ran past <paramref name="bound"/>.</exception>
    public static void RunChecked(ProcessStartInfo info, TimeSpan bound)
    {
        var command = string.Join(' ', [info.FileName, .. info.ArgumentList]);
        var (code, stdout, stderr) = Run(info, bound) ?? throw new InvalidOperationException($"{command} did not finish within {bound.TotalSeconds} s");
        if (code != 0)
        {
            throw new InvalidOperationException($"{command} exited with code {code}:\n{stdout}\n{stderr}");
        }
    }

    /// <summary>A <see cref="ProcessStartInfo"/> of <paramref name="program"/> with <paramref name="arguments"/> (each one argument, unquoted).</summary>
    public static ProcessStartInfo Info(string program, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    /// <summary>Sends <paramref name="signal"/> (<c>INT</c>, <c>TERM</c>…) to a process by its id; one already gone is no error.</summary>
    public static void Signal(string signal, int id)
    {
        var info = Info("kill", ["-" + signal, id.ToString(CultureInfo.InvariantCulture)]);
        info.RedirectStandardError = true;
        using var kill = Process.Start(info)!;
        kill.StandardError.ReadToEnd();
        kill.WaitForExit();
    }

    /// <summary>
    /// Stops servers: <paramref name="signal"/> to each, then for each a wait of up to <paramref name="bound"/>, and a kill (of its
    /// children too when <paramref name="entireProcessTree"/>) with another such wait when it is still running. Disposes them.
    /// </summary>
    public static void Stop(IReadOnlyList<Process> processes, string signal, TimeSpan bound, bool entireProcessTree)
    {
        var running = new List<Process>();
        foreach (var process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    Signal(signal, process.Id);
                    running.Add(process);
                }
            }
            catch (InvalidOperationException)
            {
                // never started, or already gone
            }
        }

        foreach (var process in running)
        {
            try
            {
                if (!process.WaitForExit(bound))
                {
                    process.Kill(entireProcessTree);
                    process.WaitForExit(bound);
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }

        foreach (var process in processes)
        {
            process.Dispose();
        }
    }

    /// <summary><see cref="Stop(IReadOnlyList{Process}, string, TimeSpan, bool)"/> by process ids (those already gone are skipped).</summary>
    public static void Stop(IEnumerable<int> ids, string signal, TimeSpan bound, bool entireProcessTree)
    {
        var processes = new List<Process>();
        foreach (var id in ids)
        {
            try
            {
                processes.Add(Process.GetProcessById(id));
            }
            catch (ArgumentException)
            {
                // already gone
            }
        }

        Stop(processes, signal, bound, entireProcessTree);
    }

    /// <summary>
    /// A shell that waits for <paramref name="parentId"/> (this process) to end and then runs <paramref name="then"/>, a shell command
    /// that ends the servers (its <c>$2</c>, <c>$3</c>… are <paramref name="arguments"/>): nothing outlives a killed test run.
    /// </summary>
    public static Process StartWatchdog(string name, int parentId, string then, params string[] arguments)
    {
        var info = Info("/bin/sh", ["-c", "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; " + then, name, parentId.ToString(CultureInfo.InvariantCulture), .. arguments]);
        info.RedirectStandardInput = true;
        return Process.Start(info) ?? throw new InvalidOperationException("the watchdog shell did not start");
    }

    /// <summary>Kills a watchdog (or any helper process) and disposes it; null afterwards.</summary>
    public static void Kill(ref Process? process)
    {
        if (process is null)
        {
            return;
        }

        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        process.Dispose();
        process = null;
    }

    /// <summary>Removes a fixture's folder; what cannot be removed (a server still writing) stays, under the temporary folder.</summary>
    public static void RemoveFolder(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // left under the temporary folder
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
