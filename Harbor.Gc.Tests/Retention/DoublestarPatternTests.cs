using Harbor.Gc.Retention;

namespace Harbor.Gc.Tests.Retention;

/// <summary>The matcher against bmatcuk/doublestar's documented behaviour, on repository paths (with '/') and tags.</summary>
public sealed class DoublestarPatternTests
{
    [TestCase("**", "nginx", true)]
    [TestCase("**", "team/app/api", true)]
    [TestCase("**", "", true)]
    [TestCase("*", "nginx", true)]
    [TestCase("*", "team/app", false, TestName = "Star_DoesNotCrossSlash")]
    [TestCase("team/*", "team/app", true)]
    [TestCase("team/*", "team/app/api", false)]
    [TestCase("team/**", "team/app/api", true)]
    [TestCase("**/api", "api", true, TestName = "Globstar_MatchesZeroComponents")]
    [TestCase("**/api", "team/app/api", true)]
    [TestCase("team/**/api", "team/api", true)]
    [TestCase("team/**/api", "team/a/b/api", true)]
    [TestCase("team/**/api", "teamx/api", false)]
    [TestCase("v?.0", "v1.0", true)]
    [TestCase("v?.0", "v10.0", false)]
    [TestCase("a?b", "a/b", false, TestName = "Question_DoesNotMatchSlash")]
    [TestCase("{dev,prod}-*", "dev-1", true)]
    [TestCase("{dev,prod}-*", "prod-2", true)]
    [TestCase("{dev,prod}-*", "test-1", false)]
    [TestCase("{a,b/{c,d}}", "b/d", true, TestName = "Braces_Nest")]
    [TestCase("{,x}y", "y", true, TestName = "Braces_EmptyAlternative")]
    [TestCase("v[0-9]*", "v1.2", true)]
    [TestCase("v[0-9]*", "va", false)]
    [TestCase("v[!0-9]*", "va", true)]
    [TestCase("v[^0-9]*", "v1", false)]
    [TestCase("[abc]", "b", true)]
    [TestCase(@"\*", "*", true)]
    [TestCase(@"\*", "a", false)]
    [TestCase("latest", "latest", true)]
    [TestCase("latest", "latest2", false)]
    [TestCase("", "anything/at/all", true, TestName = "EmptyPattern_MatchesEverything_AsHarborsSelector")]
    [TestCase("1.*", "1.2.3", true)]
    [TestCase("team**", "team/x", false, TestName = "Doublestar_NotAWholeComponent_IsAStar_AsDoublestarDocuments")]
    [TestCase("team**", "team-x", true)]
    public void Given_pattern_when_matched_then_result_follows_doublestar(string pattern, string value, bool expected) =>
        DoublestarPattern.Parse(pattern).IsMatch(value).Should().Be(expected);

    [TestCase("[abc", "unclosed '['")]
    [TestCase("{a,b", "unclosed '{'")]
    [TestCase("a}", "unmatched '}'")]
    [TestCase("a]", "unmatched ']'")]
    [TestCase(@"a\", "dangling")]
    [TestCase("[z-a]", "bad range")]
    [TestCase("[]", "empty character class")]
    public void Given_malformed_pattern_when_parsed_then_error_says_what(string pattern, string problem)
    {
        DoublestarPattern.Validate(pattern).Should().Contain(problem);
        var parse = () => DoublestarPattern.Parse(pattern);
        parse.Should().Throw<FormatException>().WithMessage($"*'{pattern}'*{problem}*");
    }
}
