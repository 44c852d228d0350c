namespace Harbor.Gc.Retention;

/// <summary>
/// A compiled doublestar pattern, the matcher Harbor's retention and immutability selectors use (bmatcuk/doublestar
/// semantics): <c>*</c> matches any run of characters except <c>/</c>; <c>**</c> as a whole path component matches zero or
/// more components (elsewhere it behaves like <c>*</c>); <c>?</c> matches one character except <c>/</c>; <c>[abc]</c>,
/// <c>[a-z]</c>, <c>[!a]</c> and <c>[^a]</c> match one character of a class (never <c>/</c>); <c>{a,b}</c> matches either
/// alternative (alternatives may nest and contain wildcards); <c>\</c> escapes the next character. An empty pattern matches
/// everything (as Harbor's selector does).
/// </summary>
public sealed class DoublestarPattern
{
    private readonly Node[] _nodes;

    private DoublestarPattern(string text, Node[] nodes)
    {
        Text = text;
        _nodes = nodes;
    }

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>Compiles a pattern.</summary>
    /// <param name="pattern">The pattern.</param>
    /// <returns>The compiled pattern.</returns>
    /// <exception cref="FormatException">The pattern is malformed; the message says what and at which position.</exception>
    public static DoublestarPattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var problem = TryCompile(pattern, out var compiled);
        return problem is null ? compiled! : throw new FormatException($"bad doublestar pattern '{pattern}': {problem}");
    }

    /// <summary>Validates a pattern.</summary>
    /// <param name="pattern">The pattern.</param>
    /// <returns><see langword="null"/> when the pattern is well formed, otherwise what is wrong with it.</returns>
    public static string? Validate(string pattern) => TryCompile(pattern, out _);

    /// <summary>Whether <paramref name="value"/> matches the whole pattern.</summary>
    /// <param name="value">A repository name or a tag.</param>
    /// <returns>Whether it matches.</returns>
    public bool IsMatch(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return _nodes.Length == 0 || Match(_nodes, 0, value, 0);
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static string? TryCompile(string pattern, out DoublestarPattern? compiled)
    {
        compiled = null;
        var position = 0;
        var problem = ParseSequence(pattern, ref position, inBraces: false, out var nodes);
        if (problem is null && position < pattern.Length)
        {
            problem = $"unexpected '{pattern[position]}' at position {position}";
        }

        if (problem is null)
        {
            compiled = new DoublestarPattern(pattern, [.. nodes]);
        }

        return problem;
    }

    private static string? ParseSequence(string p, ref int i, bool inBraces, out List<Node> nodes)
    {
        nodes = [];
        while (i < p.Length)
        {
            var c = p[i];
            if (inBraces && (c == ',' || c == '}'))
            {
                return null;
            }

            switch (c)
            {
                case '*':
                {
                    var start = i;
                    while (i < p.Length && p[i] == '*')
                    {
                        i++;
                    }

                    var count = i - start;
                    var atStart = start == 0 || p[start - 1] == '/';
                    var atEnd = i == p.Length || p[i] == '/' || (inBraces && (p[i] == ',' || p[i] == '}'));
                    if (count >= 2 && atStart && atEnd)
                    {
                        // "**/" also matches nothing at all (zero components): the slash is consumed with it.
                        var slash = i < p.Length && p[i] == '/';
                        if (slash)
                        {
                            i++;
                        }

                        nodes.Add(new Node(NodeKind.Globstar, '\0', null, null, slash));
                    }
                    else
                    {
                        nodes.Add(new Node(NodeKind.Star, '\0', null, null, false));
                    }

                    break;
                }

                case '?':
                    nodes.Add(new Node(NodeKind.Any, '\0', null, null, false));
                    i++;
                    break;
                case '[':
                {
                    var problem = ParseClass(p, ref i, out var node);
                    if (problem is not null)
                    {
                        return problem;
                    }

                    nodes.Add(node);
                    break;
                }

                case '{':
                {
                    var open = i;
                    i++;
                    var alternatives = new List<Node[]>();
                    while (true)
                    {
                        var problem = ParseSequence(p, ref i, inBraces: true, out var alternative);
                        if (problem is not null)
                        {
                            return problem;
                        }

                        alternatives.Add([.. alternative]);
                        if (i >= p.Length)
                        {
                            return $"unclosed '{{' at position {open}";
                        }

                        if (p[i++] == '}')
                        {
                            break;
                        }
                    }

                    nodes.Add(new Node(NodeKind.Alternatives, '\0', null, [.. alternatives], false));
                    break;
                }

                case '\\':
                    if (i + 1 >= p.Length)
                    {
                        return $"dangling '\\' at position {i}";
                    }

                    nodes.Add(new Node(NodeKind.Literal, p[i + 1], null, null, false));
                    i += 2;
                    break;
                case ']':
                    return $"unmatched ']' at position {i}";
                case '}' or ',' when !inBraces:
                    if (c == '}')
                    {
                        return $"unmatched '}}' at position {i}";
                    }

                    nodes.Add(new Node(NodeKind.Literal, c, null, null, false));
                    i++;
                    break;
                default:
                    nodes.Add(new Node(NodeKind.Literal, c, null, null, false));
                    i++;
                    break;
            }
        }

        return null;
    }

    private static string? ParseClass(string p, ref int i, out Node node)
    {
        node = default;
        var open = i;
        i++;
        var negated = i < p.Length && (p[i] == '!' || p[i] == '^');
        if (negated)
        {
            i++;
        }

        var ranges = new List<(char From, char To)>();
        while (true)
        {
            if (i >= p.Length)
            {
                return $"unclosed '[' at position {open}";
            }

            if (p[i] == ']' && ranges.Count > 0)
            {
                i++;
                break;
            }

            if (p[i] == ']')
            {
                return $"empty character class at position {open}";
            }

            var from = p[i];
            if (from == '\\')
            {
                if (++i >= p.Length)
                {
                    return $"unclosed '[' at position {open}";
                }

                from = p[i];
            }

            i++;
            var to = from;
            if (i + 1 < p.Length && p[i] == '-' && p[i + 1] != ']')
            {
                i++;
                to = p[i];
                if (to == '\\')
                {
                    if (++i >= p.Length)
                    {
                        return $"unclosed '[' at position {open}";
                    }

                    to = p[i];
                }

                i++;
                if (to < from)
                {
                    return $"bad range '{from}-{to}' at position {open}";
                }
            }

            ranges.Add((from, to));
        }

        node = new Node(negated ? NodeKind.NegatedClass : NodeKind.Class, '\0', [.. ranges], null, false);
        return null;
    }

    private static bool Match(ReadOnlySpan<Node> nodes, int n, string s, int i)
    {
        while (n < nodes.Length)
        {
            var node = nodes[n];
            switch (node.Kind)
            {
                case NodeKind.Literal:
                    if (i >= s.Length || s[i] != node.Char)
                    {
                        return false;
                    }

                    i++;
                    n++;
                    break;
                case NodeKind.Any:
                    if (i >= s.Length || s[i] == '/')
                    {
                        return false;
                    }

                    i++;
                    n++;
                    break;
                case NodeKind.Class or NodeKind.NegatedClass:
                    if (i >= s.Length || s[i] == '/' || InClass(node.Ranges!, s[i]) == (node.Kind == NodeKind.NegatedClass))
                    {
                        return false;
                    }

                    i++;
                    n++;
                    break;
                case NodeKind.Star:
                    for (var j = i; ; j++)
                    {
                        if (Match(nodes, n + 1, s, j))
                        {
                            return true;
                        }

                        if (j >= s.Length || s[j] == '/')
                        {
                            return false;
                        }
                    }

                case NodeKind.Globstar:
                    // Zero or more whole components: try every component boundary from here on.
                    for (var j = i; ; j++)
                    {
                        var boundary = j == i || s[j - 1] == '/';
                        if (boundary && Match(nodes, n + 1, s, j))
                        {
                            return true;
                        }

                        if (!node.ConsumesSlash && j == s.Length && Match(nodes, n + 1, s, j))
                        {
                            return true;
                        }

                        if (j >= s.Length)
                        {
                            return false;
                        }
                    }

                case NodeKind.Alternatives:
                    var rest = nodes[(n + 1)..];
                    foreach (var alternative in node.Alternatives!)
                    {
                        Node[] combined = [.. alternative, .. rest];
                        if (Match(combined, 0, s, i))
                        {
                            return true;
                        }
                    }

                    return false;
            }
        }

        return i == s.Length;
    }

    private static bool InClass((char From, char To)[] ranges, char c)
    {
        foreach (var (from, to) in ranges)
        {
            if (c >= from && c <= to)
            {
                return true;
            }
        }

        return false;
    }

    private enum NodeKind
    {
        Literal,
        Any,
        Star,
        Globstar,
        Class,
        NegatedClass,
        Alternatives,
    }

    private readonly record struct Node(NodeKind Kind, char Char, (char From, char To)[]? Ranges, Node[][]? Alternatives, bool ConsumesSlash);
}
