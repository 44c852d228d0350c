namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// The report options a run command shares: <c>--report-json FILE|-</c> (<c>-</c> is stdout, and the console summary then goes to
/// stderr) and <c>--report-html FILE</c>. The files are opened for writing before the run (<see cref="Open"/>), so a report that
/// cannot be written is bad input found before anything is deleted, never an error after the deletions.
/// </summary>
/// <param name="json">The JSON report's file, <c>-</c> for stdout, or none.</param>
/// <param name="html">The HTML report's file, or none.</param>
internal sealed class ReportOutput(string? json, string? html) : IDisposable
{
    private ReportFile? _json;
    private ReportFile? _html;
    private bool _opened;

    /// <summary>Where the console summary goes: stderr when the JSON report takes stdout.</summary>
    public TextWriter SummaryWriter(TextWriter stdout, TextWriter stderr) => json == "-" ? stderr : stdout;

    /// <summary>
    /// Opens each report file for writing, changing nothing yet: an existing file keeps its content until the report replaces it,
    /// and a file created here is removed again if no report is written (the run failed or was refused).
    /// </summary>
    /// <exception cref="UsageException">A report file cannot be written (exit code 2): a folder, a path under a file, a folder
    /// that does not exist, no permission, a read-only file system; the message names the option and the path.</exception>
    public void Open()
    {
        var jsonFile = json == "-" ? null : json;
        if (jsonFile is not null && html is not null && Path.GetFullPath(jsonFile) == Path.GetFullPath(html))
        {
            throw new UsageException($"--report-json and --report-html both name {html}; give each report its own file.");
        }

        _opened = true;
        _json = jsonFile is null ? null : ReportFile.Open("--report-json", jsonFile);
        try
        {
            _html = html is null ? null : ReportFile.Open("--report-html", html);
        }
        catch
        {
            _json?.Dispose();
            _json = null;
            throw;
        }
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
        if (!_opened)
        {
            Open();
        }

        if (json == "-")
        {
            await stdout.WriteLineAsync(toJson()).ConfigureAwait(false);
        }
        else if (json is not null)
        {
            await WriteFileAsync(_json!, writeJson, "report", summaryWriter, quiet).ConfigureAwait(false);
        }

        if (html is not null)
        {
            await WriteFileAsync(_html!, writeHtml, "HTML report", summaryWriter, quiet).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the files; removes those <see cref="Open"/> created and no report was written to.</summary>
    public void Dispose()
    {
        _json?.Dispose();
        _html?.Dispose();
    }

    private static async Task WriteFileAsync(ReportFile file, Action<Stream> write, string what, TextWriter summaryWriter, bool quiet)
    {
        file.Write(write);
        if (!quiet)
        {
            await summaryWriter.WriteLineAsync($"  {what}: {file.FullPath}").ConfigureAwait(false);
        }
    }

    /// <summary>A report file opened before the run.</summary>
    private sealed class ReportFile : IDisposable
    {
        private readonly FileStream _stream;
        private readonly bool _created;
        private bool _written;

        private ReportFile(string fullPath, FileStream stream, bool created)
        {
            FullPath = fullPath;
            _stream = stream;
            _created = created;
        }

        public string FullPath { get; }

        /// <summary>Opens <paramref name="path"/> for writing without truncating it, creating it when it does not exist.</summary>
        /// <exception cref="UsageException">It cannot be written.</exception>
        public static ReportFile Open(string option, string path)
        {
            var full = Path.GetFullPath(path);
            if (Directory.Exists(full))
            {
                throw new UsageException($"{option} {path}: cannot be written: '{full}' is a folder; give a file name.");
            }

            if (Path.GetDirectoryName(full) is { } folder && !Directory.Exists(folder))
            {
                throw new UsageException(File.Exists(folder)
                    ? $"{option} {path}: cannot be written: '{folder}' is a file, not a folder."
                    : $"{option} {path}: the folder '{folder}' does not exist.");
            }

            var existed = File.Exists(full);
            try
            {
                return new ReportFile(full, new FileStream(full, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read), !existed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{option} {path}: cannot be written: {e.Message}");
            }
        }

        /// <summary>Replaces the file's content with what <paramref name="write"/> writes.</summary>
        public void Write(Action<Stream> write)
        {
            // an empty file needs no truncating, and a character device such as /dev/null can seek but refuses it (EINVAL)
            if (_stream.CanSeek && _stream.Length > 0)
            {
                _stream.SetLength(0);
            }

            write(_stream);
            _stream.Flush();
            _written = true;
        }

        public void Dispose()
        {
            _stream.Dispose();
            if (_created && !_written)
            {
                try
                {
                    File.Delete(FullPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // an empty file left behind is harmless; the run's own error is the one to report
                }
            }
        }
    }
}
