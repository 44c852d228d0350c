namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// The report options a run command shares: <c>--report-json FILE|-</c> (<c>-</c> is stdout, and the console summary then goes to
/// stderr) and <c>--report-html FILE</c>. The folders are checked before the run, so bad input never costs a run.
/// </summary>
/// <param name="Json">The JSON report's file, <c>-</c> for stdout, or none.</param>
/// <param name="Html">The HTML report's file, or none.</param>
internal sealed record ReportOutput(string? Json, string? Html)
{
    /// <summary>Where the console summary goes: stderr when the JSON report takes stdout.</summary>
    public TextWriter SummaryWriter(TextWriter stdout, TextWriter stderr) => Json == "-" ? stderr : stdout;

    /// <summary>Throws a <see cref="UsageException"/> (exit code 2) when a report file's folder does not exist.</summary>
    public void CheckFolders()
    {
        CheckFolder("--report-json", Json == "-" ? null : Json);
        CheckFolder("--report-html", Html);
    }

    /// <summary>Writes the reports asked for, and unless quiet, their paths to the summary writer.</summary>
    /// <param name="toJson">The JSON report as text (for stdout).</param>
    /// <param name="writeJson">Writes the JSON report to a file.</param>
    /// <param name="writeHtml">Writes the HTML report to a file.</param>
    /// <param name="stdout">Standard output.</param>
    /// <param name="summaryWriter">Where the summary went.</param>
    /// <param name="quiet">Whether the paths are left unsaid.</param>
    public async Task WriteAsync(Func<string> toJson, Action<Stream> writeJson, Action<Stream> writeHtml, TextWriter stdout, TextWriter summaryWriter, bool quiet)
    {
        if (Json == "-")
        {
            await stdout.WriteLineAsync(toJson()).ConfigureAwait(false);
        }
        else if (Json is not null)
        {
            await WriteFileAsync(Json, writeJson, "report", summaryWriter, quiet).ConfigureAwait(false);
        }

        if (Html is not null)
        {
            await WriteFileAsync(Html, writeHtml, "HTML report", summaryWriter, quiet).ConfigureAwait(false);
        }
    }

    private static async Task WriteFileAsync(string path, Action<Stream> write, string what, TextWriter summaryWriter, bool quiet)
    {
        await using (var file = File.Create(path))
        {
            write(file);
        }

        if (!quiet)
        {
            await summaryWriter.WriteLineAsync($"  {what}: {Path.GetFullPath(path)}").ConfigureAwait(false);
        }
    }

    private static void CheckFolder(string option, string? file)
    {
        if (file is not null && Path.GetDirectoryName(Path.GetFullPath(file)) is { } folder && !Directory.Exists(folder))
        {
            throw new UsageException($"{option} {file}: the folder '{folder}' does not exist.");
        }
    }
}
