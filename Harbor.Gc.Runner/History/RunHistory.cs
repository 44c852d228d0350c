using System.Text;
using LiteDB;

namespace Harbor.Gc.Runner.History;

/// <summary>
/// The run history (DESIGN.md §9): a LiteDB database of its own (never the registry store's), opened in shared mode so that
/// <c>harbor-gc history</c> and <c>show</c> can read it while the daemon writes it. Reports live in the database's file storage
/// (<c>reports/ID</c>), so a large report does not meet LiteDB's document size limit.
/// </summary>
internal sealed class RunHistory : IDisposable
{
    /// <summary>The message a run left running by a crash gets at the next start.</summary>
    public const string InterruptedMessage = "interrupted: the daemon stopped without finishing it";

    private const int MaxLogLines = 10_000;
    private readonly LiteDatabase _db;
    private readonly ILiteCollection<RunRecord> _runs;

    private RunHistory(LiteDatabase db)
    {
        _db = db;
        _runs = db.GetCollection<RunRecord>("runs");
        _runs.EnsureIndex(r => r.Job);
    }

    /// <summary>The database file.</summary>
    public required string Path { get; init; }

    /// <summary>Opens (or, with <paramref name="create"/>, creates) the history database at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist and <paramref name="create"/> is off.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static RunHistory Open(string path, bool create)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (System.IO.Path.GetDirectoryName(full) is { } folder && !Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"the history database's folder '{folder}' does not exist.");
        }

        if (!create && !File.Exists(full))
        {
            throw new FileNotFoundException($"the history database '{full}' does not exist.", full);
        }

        var db = new LiteDatabase(new ConnectionString { Filename = full, Connection = ConnectionType.Shared });
        return new RunHistory(db) { Path = full };
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
