namespace Harbor.Gc.Tests.Model;

/// <summary><see cref="Duration"/>: the one duration grammar of the command line, the daemon configuration, the reports and the options.</summary>
public class DurationTests
{
    [TestCase("0", 0L)]
    [TestCase("0s", 0L)]
    [TestCase("90s", 90L)]
    [TestCase("30m", 30 * 60L)]
    [TestCase("2h", 2 * 3600L)]
    [TestCase("7d", 7 * 86400L)]
    [TestCase("2h30m", 2 * 3600L + 30 * 60)]
    [TestCase("1d12h", 86400L + 12 * 3600)]
    [TestCase("36h", 36 * 3600L)]
    [TestCase("1d2h3m4s", 86400L + 7200 + 180 + 4)]
    [TestCase("02:30:00", 2 * 3600L + 30 * 60)]
    [TestCase("2:30:00", 2 * 3600L + 30 * 60)]
    [TestCase("1.12:00:00", 86400L + 12 * 3600)]
    [TestCase("00:00:00", 0L)]
    public void Parse_ReadsUnitsAndClockForms(string text, long seconds) =>
        Duration.Parse("x", text).Should().Be(TimeSpan.FromSeconds(seconds));

    [Test]
    public void Parse_ReadsMillisecondsAndFractions()
    {
        Duration.Parse("x", "1s500ms").Should().Be(TimeSpan.FromMilliseconds(1500));
        Duration.Parse("x", "00:00:00.0000001").Should().Be(TimeSpan.FromTicks(1));
    }

    [TestCase("")]
    [TestCase("2")]
    [TestCase("2x")]
    [TestCase("h")]
    [TestCase("30m2h")]
    [TestCase("2h2h")]
    [TestCase("1.5h")]
    [TestCase("-2h")]
    [TestCase("2H")]
    [TestCase(" 2h")]
    [TestCase("2h ")]
    [TestCase("-02:00:00")]
    [TestCase("02:00")]
    [TestCase("24:00:00")]
    [TestCase("00:60:00")]
    [TestCase("99999999999999999d")]
    [TestCase("1d:02:00:00")]
    public void Parse_RefusesOtherText_NamingTheOption_TheText_AndTheGrammar(string text)
    {
        var parse = () => Duration.Parse("--time-window", text);

        parse.Should().Throw<FormatException>().WithMessage($"--time-window: '{text}' is not a duration; write 0, or whole numbers each followed by d, h, m, s or ms*2h30m*[d.]hh:mm:ss*");
    }

    [TestCase(0L, "0s")]
    [TestCase(90L, "1m30s")]
    [TestCase(60L, "1m")]
    [TestCase(2 * 3600L + 30 * 60, "2h30m")]
    [TestCase(7 * 86400L, "7d")]
    [TestCase(86400L + 12 * 3600 + 1, "1d12h1s")]
    public void Format_WritesTheShortestUnitForm(long seconds, string text) =>
        Duration.Format(TimeSpan.FromSeconds(seconds)).Should().Be(text);

    [TestCase(1L)]
    [TestCase(TimeSpan.TicksPerMillisecond * 1500)]
    [TestCase(TimeSpan.TicksPerDay * 400 + 12345)]
    [TestCase(long.MaxValue)]
    public void Format_IsReadBack(long ticks) =>
        Duration.Parse("x", Duration.Format(TimeSpan.FromTicks(ticks))).Should().Be(TimeSpan.FromTicks(ticks));

    [Test]
    public void Format_RefusesANegativeDuration() =>
        ((Action)(() => Duration.Format(TimeSpan.FromSeconds(-1)))).Should().Throw<ArgumentOutOfRangeException>();
}
