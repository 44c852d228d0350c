using System.Diagnostics;
using System.Text;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Tests.Daemon;

/// <summary>The real <c>harbor-gc daemon</c> as a child process (<c>dotnet harbor-gc.dll</c> from the test's output folder).</summary>
internal sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private DaemonProcess(Process process) => _process = process;

    public int Id => _process.Id;

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

    public static DaemonProcess Start(string config, IReadOnlyDictionary<string, string>? environment = null, params string[] options)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "harbor-gc.dll");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dll, "daemon", "--config", config }.Concat(options))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var daemon = new DaemonProcess(process);
        process.OutputDataReceived += daemon.Append;
        process.ErrorDataReceived += daemon.Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return daemon;
    }

    /// <summary>Waits until the output holds <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan bound)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            _process.HasExited.Should().BeFalse($"the daemon runs until stopped; its output:\n{Output}");
            stopwatch.Elapsed.Should().BeLessThan(bound, $"waiting for '{text}'; the daemon's output:\n{Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }
    }

    /// <summary>Sends SIGTERM (what <c>docker stop</c> and systemd send), through the <c>kill</c> command.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        kill.ExitCode.Should().Be(0, "kill -TERM reaches the daemon");
    }

    /// <summary>Waits for the exit; returns the exit code, or null when it did not exit within <paramref name="bound"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan bound)
    {
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Polls the history (shared mode, as <c>harbor-gc history</c> reads it) until <paramref name="done"/> holds.</summary>
    public async Task<IReadOnlyList<RunRecord>> WaitForHistoryAsync(string history, Func<IReadOnlyList<RunRecord>, bool> done, TimeSpan bound, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            _process.HasExited.Should().BeFalse($"the daemon runs until stopped; its output:\n{Output}");
            if (File.Exists(history))
            {
                using var runs = RunHistory.Open(history, create: false);
                var list = runs.List(null, 1000);
                if (done(list))
                {
                    return list;
                }
            }

            stopwatch.Elapsed.Should().BeLessThan(bound, $"waiting for {what}; the daemon's output:\n{Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private void Append(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is not null)
        {
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
        }
    }
}
