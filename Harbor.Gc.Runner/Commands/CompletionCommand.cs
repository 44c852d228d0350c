using System.CommandLine;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>harbor-gc completion bash</c>: prints a bash completion script. The script asks harbor-gc itself what can follow the words
/// typed so far (System.CommandLine's <c>[suggest:POSITION]</c> directive), so it completes commands, options and the values of
/// options that have a fixed set (log formats, levels, shells); where harbor-gc has nothing to offer (a file), bash completes
/// file names.
/// </summary>
internal static class CompletionCommand
{
    /// <summary>The bash script: a completion function for the command as typed (<c>harbor-gc</c>, or a path to it).</summary>
    public const string Bash = """
        # bash completion for harbor-gc: source <(harbor-gc completion bash)   (or save it in /etc/bash_completion.d/harbor-gc)
        _harbor_gc_complete()
        {
            local line="${COMP_LINE:0:COMP_POINT}"
            line="${line#"${COMP_WORDS[0]}"}"
            line="${line#"${line%%[![:space:]]*}"}"
            local IFS=$'\n'
            COMPREPLY=($("${COMP_WORDS[0]}" "[suggest:${#line}]" "$line" 2>/dev/null))
        }
        complete -o default -F _harbor_gc_complete harbor-gc
        """;

    public static Command Create(CommandContext context)
    {
        var shell = new Argument<string>("SHELL") { Description = "The shell: bash" };
        shell.AcceptOnlyFromAmong("bash");
        var command = new Command("completion", "Print the shell completion script (source <(harbor-gc completion bash))") { shell };
        command.SetAction(_ =>
        {
            context.Stdout.WriteLine(Bash);
            return ExitCodes.Done;
        });
        return command;
    }
}
