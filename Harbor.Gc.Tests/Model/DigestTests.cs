using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Model;

public class DigestTests
{
    private const string Sha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Test]
    public void Parse_Sha256_RoundTrips()
    {
        var digest = Digest.Parse("sha256:" + Sha256Hex);

        digest.Algorithm.Should().Be(DigestAlgorithm.Sha256);
        digest.ToString().Should().Be("sha256:" + Sha256Hex);
        digest.Hex.Should().Be(Sha256Hex);
        digest.Should().Be(Digest.Sha256Of([]), "the hex above is the sha256 of no bytes");
    }

    [Test]
    public void Parse_Sha512_RoundTrips()
    {
        var hex = new string('a', 64) + new string('0', 63) + "1";
        var digest = Digest.Parse("sha512:" + hex);

        digest.Algorithm.Should().Be(DigestAlgorithm.Sha512);
        digest.ToString().Should().Be("sha512:" + hex);
        digest.Should().NotBe(Digest.Parse("sha512:" + new string('a', 64) + new string('0', 64)), "the last byte differs");
    }

    [Test]
    public void AllZeroSha256_IsAValidDigest_NotEmpty()
    {
        var digest = Digest.Parse("sha256:" + new string('0', 64));

        digest.IsEmpty.Should().BeFalse();
        digest.Should().NotBe(default(Digest));
        default(Digest).IsEmpty.Should().BeTrue();
    }

    [TestCase("sha256:" + "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "is not a lowercase hex digit", Description = "upper case is rejected, as the OCI spec registers lowercase hex")]
    [TestCase("SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "unsupported algorithm 'SHA256'", Description = "algorithm is case sensitive")]
    [TestCase("sha256:../../../../etc/passwd", "takes 64 hex characters after ':', found 22", Description = "path tricks never reach a path")]
    [TestCase("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/", "'/' at position 70 is not a lowercase hex digit")]
    [TestCase("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", "found 63")]
    [TestCase("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", "found 65")]
    [TestCase("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm 'md5'")]
    [TestCase("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "found no ':'")]
    [TestCase(":abc", "the algorithm before ':' is empty")]
    [TestCase("", "found no ':'")]
    public void Parse_Invalid_ThrowsWithWhatIsWrong(string value, string problem)
    {
        var act = () => Digest.Parse(value);

        act.Should().Throw<InvalidDigestException>()
            .Which.Message.Should().Contain(problem).And.StartWith($"'{value}' is not a valid digest");
        Digest.TryParse(value, out _).Should().BeFalse();
    }

    [Test]
    public void CompareTo_OrdersByHashBytes()
    {
        var low = Digest.Parse("sha256:" + new string('0', 63) + "1");
        var high = Digest.Parse("sha256:" + "1" + new string('0', 63));

        (low < high).Should().BeTrue();
        low.CompareTo(low).Should().Be(0);
    }
}
