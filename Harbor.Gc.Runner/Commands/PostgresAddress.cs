using Npgsql;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// The PostgreSQL address of the <c>harbor:</c> and <c>postgres:</c> stores, <c>postgresql://USER@HOST[:PORT]/DATABASE?FOLDER=DIR[&amp;passfile=FILE]</c>,
/// read the same way for both: the password never on the command line (one in the address, or a <c>password=</c> setting, is
/// refused without being repeated); it comes from <see cref="PasswordVariable"/>, or a pgpass file (<c>passfile=</c>), or what
/// Npgsql reads itself (<c>PGPASSWORD</c>, <c>PGPASSFILE</c>, <c>~/.pgpass</c>).
/// </summary>
internal static class PostgresAddress
{
    /// <summary>The variable both stores read the database password from (before Npgsql's own <c>PGPASSWORD</c>).</summary>
    public const string PasswordVariable = "HARBOR_GC_PGPASSWORD";

    /// <summary>What one store kind's address needs: its names and the hints its messages give.</summary>
    /// <param name="Name">The store kind, as in <c>--store KIND:…</c>.</param>
    /// <param name="Form">The address's form, for messages.</param>
    /// <param name="Database">What the database is, for messages ("Harbor's database").</param>
    /// <param name="Folder">The required setting naming the folder (<c>storage</c>, <c>blobs</c>).</param>
    /// <param name="FolderHelp">What that folder is, for the message when it is missing.</param>
    /// <param name="UserHint">Said after "name the database user (…)", or empty.</param>
    /// <param name="DatabaseHint">Said after "name the database after the host (…)", or empty.</param>
    public sealed record Kind(string Name, string Form, string Database, string Folder, string FolderHelp, string UserHint = "", string DatabaseHint = "");

    /// <summary>The connection (its password only from <see cref="PasswordVariable"/>) and the folder <paramref name="location"/> names.</summary>
    /// <exception cref="UsageException">The address is bad; the message names it, never with its password.</exception>
    public static (NpgsqlConnectionStringBuilder Connection, string Folder) Parse(Kind kind, string location)
    {
        var store = $"--store {kind.Name}:{Redacted(location)}";
        var useVariable = $"give it in {PasswordVariable} or PGPASSWORD, or in a pgpass file (passfile=FILE or PGPASSFILE)";
        if (!location.StartsWith("postgresql://", StringComparison.Ordinal) && !location.StartsWith("postgres://", StringComparison.Ordinal))
        {
            throw new UsageException($"{store}: give {kind.Database} as {kind.Form} (the password in {PasswordVariable} or a passfile).");
        }

        if (!Uri.TryCreate(location, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new UsageException($"{store}: not a valid address; the form is {kind.Form}.");
        }

        var userInfo = Uri.UnescapeDataString(uri.UserInfo);
        if (userInfo.Contains(':', StringComparison.Ordinal))
        {
            throw new UsageException($"{store}: a password on the command line is refused (other users can read it, and shells keep it); {useVariable}.");
        }

        if (userInfo.Length == 0)
        {
            throw new UsageException($"{store}: name the database user (postgresql://USER@HOST...){kind.UserHint}.");
        }

        var database = uri.AbsolutePath.Trim('/');
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw new UsageException($"{store}: name the database after the host (postgresql://USER@HOST:PORT/DATABASE){kind.DatabaseHint}.");
        }

        string? folder = null;
        string? passfile = null;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? pair : pair[..equals];
            var value = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..]);
            if (name == kind.Folder)
            {
                folder = value;
                continue;
            }

            passfile = name switch
            {
                "passfile" => value,
                "password" => throw new UsageException($"{store}: a password on the command line is refused; {useVariable}."),
                _ => throw new UsageException($"{store}: unknown setting '{name}'; the settings are {kind.Folder}=DIR (required) and passfile=FILE."),
            };
        }

        if (string.IsNullOrEmpty(folder))
        {
            throw new UsageException($"{store}: give {kind.Folder}=DIR, {kind.FolderHelp}.");
        }

        if (passfile is not null && !File.Exists(passfile))
        {
            throw new UsageException($"{store}: the passfile '{Path.GetFullPath(passfile)}' does not exist.");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.IdnHost,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Username = userInfo,
            Database = Uri.UnescapeDataString(database),
            Timeout = 10,
        };
        if (Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } password)
        {
            builder.Password = password;
        }
        else if (passfile is not null)
        {
            builder.Passfile = passfile;
        }

        return (builder, folder);
    }

    /// <summary>The address with any password replaced by <c>***</c>, for messages.</summary>
    public static string Redacted(string location)
    {
        var at = location.IndexOf('@', StringComparison.Ordinal);
        var scheme = location.IndexOf("://", StringComparison.Ordinal);
        var redacted = location;
        if (at > 0 && scheme > 0 && location.IndexOf(':', scheme + 3) is var colon and > 0 && colon < at)
        {
            redacted = location[..(colon + 1)] + "***" + location[at..];
        }

        var password = redacted.IndexOf("password=", StringComparison.Ordinal);
        if (password >= 0)
        {
            var end = redacted.IndexOf('&', password);
            redacted = redacted[..(password + 9)] + "***" + (end < 0 ? string.Empty : redacted[end..]);
        }

        return redacted;
    }
}
