using System.Diagnostics;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Debian's <c>chromium</c>, headless, for the HTML report tests: skipped with a message when it is missing, failed instead when
/// <c>HARBOR_GC_REQUIRE_BROWSER=1</c> (set by <c>.ci/run</c>, which installs it).
/// </summary>
internal static class Chromium
{
    public static readonly RequiredTool Tool = new("chromium", "HARBOR_GC_REQUIRE_BROWSER", "apt-get install -y chromium", "browser tests");

    /// <summary>
    /// Renders a local HTML file and returns the DOM after rendering. Every host name resolves to nothing
    /// (<c>--host-resolver-rules</c>), so a page that needed the network would render incomplete.
    /// </summary>
    public static async Task<string> DumpDomAsync(string htmlFile)
    {
        var binary = Tool.Require();
        var profile = Directory.CreateTempSubdirectory("harbor-gc-chromium-");
        try
        {
            var start = new ProcessStartInfo(binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update",
                "--host-resolver-rules=MAP * ~NOTFOUND", $"--user-data-dir={profile.FullName}", "--dump-dom", new Uri(htmlFile).AbsoluteUri,
            })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new AssertionException("chromium --dump-dom did not finish in 90 s");
            }

            var dom = await stdout;
            if (process.ExitCode != 0 || dom.Length == 0)
            {
                throw new AssertionException($"chromium --dump-dom failed (exit {process.ExitCode}): {await stderr}");
            }

            return dom;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
