using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using Harbor.Gc.Runner.Daemon;
using Harbor.Gc.Runner.History;

namespace Harbor.Gc.Runner.Commands;

/// <summary>What one invocation of a command line runs with: the console, the clock and the stop request.</summary>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error.</param>
/// <param name="Time">The clock.</param>
/// <param name="Stop">The stop request (signals).</param>
internal sealed record CommandContext(TextWriter Stdout, TextWriter Stderr, TimeProvider Time, StopRequest Stop);

/// <summary>
/// The <c>harbor-gc</c> command tree on System.CommandLine (DESIGN.md §9): every command and subcommand with <c>--help</c>/<c>-h</c>,
/// <c>--opt=value</c> as well as <c>--opt value</c>, shell completion through the <c>[suggest]</c> directive
/// (<c>harbor-gc completion SHELL</c> prints the script). A parse error is exit code 2 with a message naming the option, one line
/// per problem, with a did-you-mean for a misspelled option or command.
/// </summary>
internal static class Cli
{
    /// <summary>Parses and runs <paramref name="args"/>. Usage errors thrown by a command's action are the caller's to report.</summary>
    public static async Task<int> InvokeAsync(string[] args, CommandContext context)
    {
        var root = Build(context);
        if (args is [var directive, var line] && SuggestPosition(directive) is { } position)
        {
            // what completion asks (the script of 'harbor-gc completion bash'): the words that can go at POSITION of LINE
            foreach (var word in root.Parse(line).GetCompletions(position).Select(c => c.Label).Distinct())
            {
                await context.Stdout.WriteLineAsync(word).ConfigureAwait(false);
            }

            return ExitCodes.Done;
        }

        var result = root.Parse(args);
        if (result.Action is ParseErrorAction)
        {
            WriteErrors(result, context.Stderr);
            return ExitCodes.BadInput;
        }

        var invocation = new InvocationConfiguration
        {
            Output = context.Stdout,
            Error = context.Stderr,
            EnableDefaultExceptionHandler = false, // a command's errors are Program's to report (exit 1 or 2)
            ProcessTerminationTimeout = null, // signals are StopSignals' (every command handles them alike)
        };
        return await result.InvokeAsync(invocation, context.Stop.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// The position of System.CommandLine's <c>[suggest:POSITION]</c> directive (the protocol of <c>dotnet-suggest</c>, which the
    /// completion script speaks): the argument after it is the command line after the command's name.
    /// </summary>
    private static int? SuggestPosition(string directive) =>
        directive.StartsWith("[suggest:", StringComparison.Ordinal) && directive.EndsWith(']')
        && int.TryParse(directive.AsSpan(9, directive.Length - 10), NumberStyles.None, CultureInfo.InvariantCulture, out var position)
            ? position
            : null;

    /// <summary>The command tree, its actions bound to <paramref name="context"/>.</summary>
    public static Command Build(CommandContext context)
    {
        var root = new Command("harbor-gc", "Garbage collection and tag retention for OCI registries, with Harbor's accessory semantics.")
        {
            GcCommand.Create(context),
            RetentionCommand.Create(context),
            DaemonCommand.Create(context),
            HistoryCommand.CreateHistory(context),
            HistoryCommand.CreateShow(context),
            ExplainCommand.Create(context),
            StoreCommand.Create(context),
            CompletionCommand.Create(context),
        };
        var help = new HelpOption("--help", "-h");
        help.Action = new HelpWithNotes((HelpAction)help.Action!);
        root.Options.Add(help); // recursive: every command and subcommand has --help, -h
        var version = new VersionOption("--version");
        version.Action = new WriteVersion(); // the tool's own version (System.CommandLine's would be the entry assembly's: a test host's under test)
        root.Options.Add(version);
        root.WithNotes(ExitCodes.Help);
        OnceEach(root);
        root.SetAction(_ =>
        {
            // no command: the help, as --help shows it
            var helpResult = root.Parse(["--help"]);
            return helpResult.Invoke(new InvocationConfiguration { Output = context.Stdout, Error = context.Stderr });
        });
        return root;
    }

    /// <summary>An option of one value given twice is a mistake (the parser would take one of them, or none), not a choice.</summary>
    private static void OnceEach(Command command)
    {
        foreach (var option in command.Options.Where(o => !o.ValueType.IsArray))
        {
            option.Validators.Add(r =>
            {
                if (r.IdentifierTokenCount > 1)
                {
                    r.AddError($"{option.Name}: given more than once.");
                }
            });
        }

        foreach (var sub in command.Subcommands)
        {
            OnceEach(sub);
        }
    }

    /// <summary>Notes the help of <paramref name="command"/> ends with: the grammar of its values, its exit codes.</summary>
    public static T WithNotes<T>(this T command, string notes)
        where T : Command
    {
        Notes.AddOrUpdate(command, notes);
        return command;
    }

    /// <summary><c>--store STORE</c>, the store a command reads or collects.</summary>
    public static Option<string> StoreOption(string? defaultValue = StoreSpec.Default) => new("--store")
    {
        Description = "The store: litedb:PATH, distribution:DIR or distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION, postgres:postgresql://USER@HOST:PORT/DATABASE?blobs=DIR or harbor:postgresql://USER@HOST:PORT/DATABASE?storage=DIR (read only)",
        HelpName = "STORE",
        DefaultValueFactory = defaultValue is null ? null : _ => defaultValue,
    };

    /// <summary>An option whose value is a duration of <see cref="Duration"/>'s grammar (<c>2h30m</c>, <c>90s</c>, <c>7d</c>, <c>hh:mm:ss</c>).</summary>
    public static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "DURATION",
        CustomParser = r => Duration.TryParse(r.Tokens[0].Value, out var value) ? value : Error<TimeSpan?>(r, $"{name}: {Duration.Problem(r.Tokens[0].Value)}"),
    };

    /// <summary>
    /// <c>--delete-untagged [true|false]</c>: a flag (alone it is true) that also takes a value; its default is
    /// <see cref="GcOptions.DeleteUntagged"/>'s. Read it only when given (<see cref="Given"/>).
    /// </summary>
    public static Option<bool> DeleteUntaggedOption(string description) => new("--delete-untagged")
    {
        Description = $"{description}; alone is true [default: {(new Collection.GcOptions().DeleteUntagged ? "true" : "false")}]",
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>An option whose value is a whole number from <paramref name="minimum"/>.</summary>
    public static Option<int?> WholeNumberOption(string name, string description, string helpName = "N", int minimum = 0) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = r =>
        {
            var text = r.Tokens[0].Value;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= minimum
                ? n
                : Error<int?>(r, minimum > 0 ? $"{name}: give a whole number from {minimum}; '{text}' is not one." : $"{name}: '{text}' is not a whole number.");
        },
    };

    /// <summary>An option whose value is a file (completed as one by the shell).</summary>
    public static Option<string?> FileOption(string name, string description, string helpName = "FILE") =>
        new(name) { Description = description, HelpName = helpName };

    /// <summary>The report options of the commands that run a job: <c>--report-json FILE|-</c> and <c>--report-html FILE</c>.</summary>
    public static (Option<string?> Json, Option<string?> Html) ReportOptions() => (
        FileOption("--report-json", "Write the JSON report to FILE, or to stdout with -"),
        FileOption("--report-html", "Write the HTML report to FILE"));

    /// <summary><c>--grace-period</c>: the quarantine's wait on a <c>distribution:</c> store (DESIGN.md §5).</summary>
    public static Option<TimeSpan?> GracePeriodOption() =>
        DurationOption("--grace-period", "distribution: stores: how long deleted items stay out of the registry's sight before the re-check (longer than any registry request) [default: 1m]");

    /// <summary><c>--history PATH</c>: record the run in the run history.</summary>
    public static Option<string?> HistoryOption() => FileOption("--history", "Record the run in the run history database PATH", "PATH");

    /// <summary>An option that is on when given (<c>--quiet</c>).</summary>
    public static Option<bool> FlagOption(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>
    /// <c>--log-format</c> and <c>--log-level</c> (checked when the logging is configured, with the environment's values: a bad
    /// one from either is exit 2 naming where it came from).
    /// </summary>
    public static (Option<string?> Format, Option<string?> Level) LogFormatAndLevel()
    {
        var format = new Option<string?>("--log-format")
        {
            Description = "The log's console format: simple, json or systemd (also HARBOR_GC_LOG_FORMAT, Logging__Console__FormatterName)",
            HelpName = "FORMAT",
        };
        format.CompletionSources.Add(Daemon.LogOptions.Formats);
        var level = new Option<string?>("--log-level")
        {
            Description = "The log's level: trace, debug, information, warning, error, critical or none (also HARBOR_GC_LOG_LEVEL, Logging__LogLevel__Default)",
            HelpName = "LEVEL",
        };
        level.CompletionSources.Add(Daemon.LogOptions.Levels);
        return (format, level);
    }

    /// <summary>The <c>--config FILE | --history PATH</c> pair of the history commands, read into the history's path.</summary>
    public static (Option<string?> Config, Option<string?> History) HistorySourceOptions() => (
        FileOption("--config", "The daemon's configuration FILE: the history it names"),
        FileOption("--history", $"The run history database [default: {HistoryCommand.DefaultHistory}]", "PATH"));

    /// <summary>Whether <paramref name="option"/> was given on the command line (not only defaulted).</summary>
    public static bool Given(this ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Command, string> Notes = [];

    private static T Error<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default!;
    }

    /// <summary>
    /// Writes each parse error on its own line (<c>harbor-gc: COMMAND: what</c>), naming the option; a misspelled option or
    /// command gets a did-you-mean; then where the help is.
    /// </summary>
    internal static void WriteErrors(ParseResult result, TextWriter stderr)
    {
        var command = result.CommandResult.Command;
        var path = CommandPath(result.CommandResult);
        var prefix = path.Length == 0 ? "harbor-gc: " : $"harbor-gc: {path}: ";
        var unmatched = result.UnmatchedTokens;
        foreach (var error in result.Errors)
        {
            var token = unmatched.FirstOrDefault(t => error.SymbolResult is CommandResult && error.Message.Contains($"'{t}'", StringComparison.Ordinal));
            var line = token is not null ? Unmatched(result, command, token)
                : error.SymbolResult is OptionResult { IdentifierTokenCount: > 1 } repeated && !repeated.Option.ValueType.IsArray ? $"{repeated.Option.Name}: given more than once."
                : error.SymbolResult is OptionResult { Tokens.Count: 0 } option && option.Option.Arity.MinimumNumberOfValues > 0 ? $"{option.Option.Name}: a value is missing."
                : error.SymbolResult is ArgumentResult { Tokens.Count: 0 } argument ? $"give the {argument.Argument.HelpName ?? argument.Argument.Name}."
                : error.SymbolResult is CommandResult && command.Subcommands.Count > 0 && command.Action is null
                    ? $"give a command: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}."
                : error.Message;
            stderr.WriteLine(prefix + line);
        }

        stderr.WriteLine($"harbor-gc: see 'harbor-gc {(path.Length == 0 ? string.Empty : path + " ")}--help'.");
    }

    private static string Unmatched(ParseResult result, Command command, string token)
    {
        if (!token.StartsWith('-'))
        {
            // a value after a flag that takes none, or true|false only (--delete-untagged maybe)
            var tokens = result.Tokens;
            var at = tokens.ToList().FindIndex(t => t.Value == token);
            if (at > 0 && tokens[at - 1].Type == TokenType.Option && Option(command, tokens[at - 1].Value) is { } previous && previous.Arity.MaximumNumberOfValues <= 1)
            {
                return previous.Arity.MaximumNumberOfValues == 1 && previous.ValueType == typeof(bool)
                    ? $"{previous.Name}: '{token}' is not true or false (or give {previous.Name} alone)."
                    : $"{previous.Name}: takes no value, but '{token}' follows it.";
            }

            var commands = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
            return commands.Count > 0 && DidYouMean(token, commands) is { } command2
                ? $"unknown command '{token}'; did you mean '{command2}'?"
                : commands.Count > 0 ? $"unknown command '{token}' (the commands: {string.Join(", ", commands)})."
                : $"unexpected argument '{token}'.";
        }

        var name = token.Split('=', 2)[0];
        var options = AllOptions(command).SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct().ToList();
        return DidYouMean(name, options) is { } suggestion
            ? $"unknown option '{name}'; did you mean '{suggestion}'?"
            : $"unknown option '{name}'.";
    }

    private static Option? Option(Command command, string name) =>
        AllOptions(command).FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));

    private static IEnumerable<Option> AllOptions(Command command)
    {
        foreach (var option in command.Options)
        {
            yield return option;
        }

        for (var parent = command.Parents.OfType<Command>().FirstOrDefault(); parent is not null; parent = parent.Parents.OfType<Command>().FirstOrDefault())
        {
            foreach (var option in parent.Options.Where(o => o.Recursive))
            {
                yield return option;
            }
        }
    }

    /// <summary>The closest of <paramref name="candidates"/> to a misspelled <paramref name="word"/>, if one is close enough.</summary>
    internal static string? DidYouMean(string word, IReadOnlyList<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = EditDistance(word, candidate);
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        // a third of the word's letters may be wrong (at least one): --delet-untagged, --wokers, gcc, retnetion
        var letters = word.TrimStart('-').Length;
        return bestDistance <= Math.Max(1, letters / 3) ? best : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of two neighbours cost one.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c && c.Parent is not null; r = r.Parent)
        {
            names.Add(c.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary><c>--version</c>: the version alone on a line (Directory.Build.props' Version).</summary>
    private sealed class WriteVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Program.ToolVersion);
            return ExitCodes.Done;
        }
    }

    /// <summary>The standard help, then the command's notes (the grammar of its values, its exit codes).</summary>
    private sealed class HelpWithNotes(HelpAction help) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var code = help.Invoke(parseResult);
            if (Notes.TryGetValue(parseResult.CommandResult.Command, out var notes))
            {
                parseResult.InvocationConfiguration.Output.WriteLine(notes.TrimEnd());
            }

            return code;
        }
    }
}
