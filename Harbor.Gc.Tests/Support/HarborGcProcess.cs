using System.Diagnostics;
using System.Text;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// The built <c>harbor-gc</c> (the Runner's dll beside the tests) as a child process: for kills, signals and anything that must
/// not run inside the test host (a read that could hang, a second process holding a file). Also the test assembly itself as a
/// program (<see cref="ChildProgram"/>), for a second process that embeds the store (a registry that pushes through it, say).
/// </summary>
internal sealed class HarborGcProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _stdout = new();

    private HarborGcProcess(Process process) => _process = process;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public int Id => _process.Id;

    /// <summary>Everything the process printed so far, stdout and stderr interleaved as they arrived.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>What the process printed on stdout so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_output)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Starts <c>harbor-gc ARGS</c> in <paramref name="workingDirectory"/> (the current one when null).</summary>
    /// <remarks>
    /// Through <c>env --default-signal=INT,QUIT</c> (which then runs dotnet in its own process): the child gets the default action
    /// for SIGINT and SIGQUIT, as a terminal's foreground program does, even when the tests run in a background job that ignores
    /// them (an ignored signal stays ignored across exec, and .NET then never sees it).
    /// </remarks>
    public static HarborGcProcess Start(IEnumerable<string> args, string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null) =>
        Launch("harbor-gc.dll", args, workingDirectory, environment, redirectInput: false);

    /// <summary>
    /// Starts the test assembly as a program (<see cref="ChildProgram"/>): <c>Harbor.Gc.Tests ARGS</c>. With <paramref name="inputPipe"/>,
    /// its stdin is a pipe that <see cref="CloseInput"/> closes (a way to tell it to stop); through <paramref name="wrapper"/> when
    /// given (<c>env --default-signal=INT,QUIT WRAPPER... dotnet Harbor.Gc.Tests.dll ARGS</c>).
    /// </summary>
    public static HarborGcProcess StartTestProgram(IEnumerable<string> args, string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null, bool inputPipe = false, IReadOnlyList<string>? wrapper = null) =>
        Launch("Harbor.Gc.Tests.dll", args, workingDirectory, environment, inputPipe, wrapper);

    /// <summary>Starts <c>dotnet ARGS</c> (the SDK: <c>dotnet run --project ...</c>) in <paramref name="workingDirectory"/>.</summary>
    public static HarborGcProcess StartDotnet(IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string?>? environment = null) =>
        Launch(null, args, workingDirectory, environment, redirectInput: false);

    private static HarborGcProcess Launch(string? dll, IEnumerable<string> args, string? workingDirectory, IReadOnlyDictionary<string, string?>? environment, bool redirectInput, IReadOnlyList<string>? wrapper = null)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var info = new ProcessStartInfo("env")
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        info.ArgumentList.Add("--default-signal=INT,QUIT");
        foreach (var arg in wrapper ?? [])
        {
            info.ArgumentList.Add(arg);
        }

        info.ArgumentList.Add(dotnet);
        if (dll is not null)
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[name] = value;
        }

        var child = new HarborGcProcess(new Process { StartInfo = info });
        child._process.OutputDataReceived += (_, e) => child.Append(e, stdout: true);
        child._process.ErrorDataReceived += (_, e) => child.Append(e, stdout: false);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Closes the process's stdin: it reads end of file.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>SIGKILL to the process and its children: no clean shutdown, no finally blocks.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // it had already exited
        }
    }

    /// <summary>Sends a signal (<c>TERM</c>, <c>INT</c>, <c>QUIT</c>) to the process, as <c>kill -s NAME PID</c> does.</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-s", name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        kill.ExitCode.Should().Be(0, $"kill -s {name} reaches harbor-gc (pid {_process.Id}); its output so far:\n{Output}");
    }

    /// <summary>Waits until the output holds <paramref name="text"/>; fails after <paramref name="bound"/> or if the process exits first.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan bound)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            _process.HasExited.Should().BeFalse($"harbor-gc exited (code {(_process.HasExited ? _process.ExitCode : 0)}) before printing '{text}'; its output:\n{Output}");
            stopwatch.Elapsed.Should().BeLessThan(bound, $"waiting for '{text}'; the output so far:\n{Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }
    }

    /// <summary>Waits for the process to exit; throws <see cref="OperationCanceledException"/> after <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(DataReceivedEventArgs e, bool stdout)
    {
        if (e.Data is { } line)
        {
            lock (_output)
            {
                _output.AppendLine(line);
                if (stdout)
                {
                    _stdout.AppendLine(line);
                }
            }
        }
    }
}
