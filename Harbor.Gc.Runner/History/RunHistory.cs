using System.Text;
using Harbor.Gc.Storage.LiteDb;
using LiteDB;

namespace Harbor.Gc.Runner.History;

/// <summary>
/// The run history (DESIGN.md §9): a LiteDB database of its own (never the registry store's: opening refuses one), opened in
/// shared mode so that <c>harbor-gc history</c> and <c>show</c> can read it (read-only) while the daemon writes it. Reports live in the database's file storage
/// (<c>reports/ID</c>), so a large report does not meet LiteDB's document size limit.
/// </summary>
internal sealed class RunHistory : IDisposable
{
    /// <summary>The message a run left running by a crash gets at the next start.</summary>
    public const string InterruptedMessage = "interrupted: the daemon stopped without finishing it";

    private const int MaxLogLines = 10_000;
    private const string Kind = "a harbor-gc run history";
    private const string Runs = "runs";

    /// <summary>The collections of a history: the runs, and LiteDB's file storage of the reports.</summary>
    private static readonly string[] OwnCollections = [Runs, "_files", "_chunks"];

    private readonly LiteDatabase _db;
    private readonly ILiteCollection<RunRecord> _runs;

    private RunHistory(LiteDatabase db, bool ensureIndex)
    {
        _db = db;
        _runs = db.GetCollection<RunRecord>(Runs);
        if (ensureIndex)
        {
            _runs.EnsureIndex(r => r.Job);
        }
    }

    /// <summary>The database file.</summary>
    public required string Path { get; init; }

    /// <summary>
    /// Opens (or, with <paramref name="create"/>, creates) the history database at <paramref name="path"/>; read-only with
    /// <paramref name="readOnly"/> (<c>history</c>, <c>show</c>). A file that is not a run history is refused before LiteDB
    /// touches it (LiteDB writes to what it opens): another file, another application's LiteDB database, a Harbor.Gc store.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist and <paramref name="create"/> is off.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a run history; the message names it and says what it is.</exception>
    /// <exception cref="IOException">Another process holds the file in LiteDB's direct mode.</exception>
    public static RunHistory Open(string path, bool create, bool readOnly = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (System.IO.Path.GetDirectoryName(full) is { } folder && !Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"the history database's folder '{folder}' does not exist.");
        }

        if (!File.Exists(full))
        {
            if (!create || readOnly)
            {
                throw new FileNotFoundException($"the history database '{full}' does not exist.", full);
            }

            Create(full);
        }

        var header = LiteDbFile.Inspect(full, Kind, $"The run history '{full}'", writable: !readOnly);
        if (header.Collections.Contains("meta") && header.Collections.Contains("artifacts"))
        {
            throw new InvalidDataException($"'{full}' is not {Kind}: it is a Harbor.Gc store (a registry's metadata); give the history its own file. Nothing was changed.");
        }

        if (!header.Collections.Contains(Runs) || header.Collections.Except(OwnCollections, StringComparer.Ordinal).Any())
        {
            throw new InvalidDataException($"'{full}' is not {Kind}: it is "
                + (header.Collections.Count == 0 ? "an empty LiteDB database" : $"a LiteDB database of another application (collections: {string.Join(", ", header.Collections)})")
                + ". Nothing was changed.");
        }

        var db = new LiteDatabase(new ConnectionString { Filename = full, Connection = ConnectionType.Shared, ReadOnly = readOnly });
        try
        {
            return new RunHistory(db, ensureIndex: !readOnly) { Path = full };
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates an empty history at <paramref name="path"/>, whole or not at all: written under a temporary name beside it (with
    /// LiteDB's fixed ordinal collation) and renamed into place only if nothing is there by then.
    /// </summary>
    private static void Create(string path)
    {
        var temporary = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? ".", $".{System.IO.Path.GetFileName(path)}.creating-{Guid.NewGuid():N}");
        try
        {
            using (var db = new LiteDatabase(new ConnectionString { Filename = temporary, Connection = ConnectionType.Direct, Collation = LiteDbFile.Collation }))
            {
                db.GetCollection<RunRecord>(Runs).EnsureIndex(r => r.Job);
                db.Checkpoint();
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // another process created it first: open that one
            }
        }
        finally
        {
            File.Delete(temporary);
            File.Delete(LiteDbFile.LogPath(temporary));
        }
    }

    /// <summary>Adds a run; sets its id.</summary>
    public void Add(RunRecord run) => _runs.Insert(run);

    /// <summary>Saves a run's changes; the report too, when given.</summary>
    public void Update(RunRecord run, string? reportJson = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Log.Count > MaxLogLines)
        {
            var dropped = run.Log.Count - MaxLogLines;
            run.Log = [.. run.Log.Take(MaxLogLines), $"({dropped} more log lines not kept)"];
        }

        if (reportJson is not null)
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(reportJson));
            _db.FileStorage.Upload(ReportId(run.Id), "report.json", stream);
            run.HasReport = true;
        }

        _runs.Update(run);
    }

    /// <summary>A run by id.</summary>
    public RunRecord? Get(int id) => _runs.FindById(id);

    /// <summary>The latest runs first, of one job or all.</summary>
    public IReadOnlyList<RunRecord> List(string? job, int limit)
    {
        var query = _runs.Query();
        if (job is not null)
        {
            query = query.Where(r => r.Job == job);
        }

        return query.OrderByDescending(r => r.Id).Limit(limit).ToList();
    }

    /// <summary>The stored JSON report of a run, or null.</summary>
    public string? ReadReport(int id)
    {
        var file = _db.FileStorage.FindById(ReportId(id));
        if (file is null)
        {
            return null;
        }

        using var stream = new MemoryStream();
        file.CopyTo(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The runs still <see cref="RunStatus.Running"/> (in this process or another).</summary>
    public IReadOnlyList<RunRecord> Running() => _runs.Find(r => r.Status == RunStatus.Running).ToList();

    /// <summary>
    /// Removes the runs <paramref name="keep"/> does not keep, with their stored reports; a run still running is kept whatever its
    /// age or place.
    /// </summary>
    /// <returns>How many runs were removed.</returns>
    public int Prune(HistoryKeep keep, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(keep);
        List<RunRecord> old;
        if (keep.Count is { } count)
        {
            old = _runs.Query().OrderByDescending(r => r.Id).Offset(count).ToList();
        }
        else
        {
            var cutoff = (now - keep.Age!.Value).UtcTicks;
            old = _runs.Find(r => r.StartedTicks < cutoff).ToList();
        }

        var removed = 0;
        foreach (var run in old.Where(r => r.Status != RunStatus.Running))
        {
            // the report first: a crash in between leaves a run whose report is gone (show says so), never a report of no run
            _db.FileStorage.Delete(ReportId(run.Id));
            if (_runs.Delete(run.Id))
            {
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Marks every run left <see cref="RunStatus.Running"/> (by a crash) as failed, ending now.</summary>
    /// <returns>The runs marked.</returns>
    public IReadOnlyList<RunRecord> MarkInterrupted(DateTimeOffset now)
    {
        var left = _runs.Find(r => r.Status == RunStatus.Running).ToList();
        foreach (var run in left)
        {
            run.Status = RunStatus.Failed;
            run.Message = InterruptedMessage;
            run.FinishedAt = now;
            _runs.Update(run);
        }

        return left;
    }

    public void Dispose() => _db.Dispose();

    private static string ReportId(int id) => $"reports/{id}";
}
