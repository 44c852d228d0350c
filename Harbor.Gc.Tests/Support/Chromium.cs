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
    /// <param name="htmlFile">The page.</param>
    /// <param name="timeout">How long Chromium may take (90 s unless told): longer fails the test.</param>
    public static async Task<string> DumpDomAsync(string htmlFile, TimeSpan? timeout = null)
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
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update",
                "--host-resolver-rules=MAP * ~NOTFOUND", $"--user-data-dir={profile.FullName}", "--dump-dom", new Uri(htmlFile).AbsoluteUri,
            })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
            var bound = timeout ?? TimeSpan.FromSeconds(90);
            using var cancel = new CancellationTokenSource(bound);
            var stdout = process.StandardOutput.ReadToEndAsync(cancel.Token);
            var stderr = process.StandardError.ReadToEndAsync(cancel.Token);
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new AssertionException($"chromium --dump-dom did not finish in {bound.TotalSeconds:F0} s");
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
