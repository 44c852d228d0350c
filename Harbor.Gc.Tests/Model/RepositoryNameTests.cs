using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Model;

public class RepositoryNameTests
{
    [TestCase("library/nginx")]
    [TestCase("a")]
    [TestCase("proj/team.sub/app_name/x--y/a__b/v1.2")]
    public void Parse_Valid_RoundTrips(string name)
    {
        RepositoryName.Parse(name).Value.Should().Be(name);
        RepositoryName.Validate(name).Should().BeNull();
    }

    [TestCase("library/nginx", "library")]
    [TestCase("nginx", "nginx")]
    public void Project_IsTheFirstComponent(string name, string project) => RepositoryName.Parse(name).Project.Should().Be(project);

    [TestCase("", "it is empty")]
    [TestCase("../etc/passwd", "path component 1 ('..') must start and end with a lowercase letter or digit", Description = "path tricks never reach a path")]
    [TestCase("library/../secret", "path component 2 ('..') must start and end with a lowercase letter or digit")]
    [TestCase("/library/app", "path component 1 ('') is empty")]
    [TestCase("library//app", "path component 2 ('') is empty")]
    [TestCase("library/app/", "path component 3 ('') is empty")]
    [TestCase("Library/app", "path component 1 ('Library') must start and end with a lowercase letter or digit")]
    [TestCase("library/_layers", "path component 2 ('_layers') must start and end with a lowercase letter or digit", Description = "the Distribution layout's own folders")]
    [TestCase("library/a..b", "path component 2 ('a..b') has the separator '..'")]
    [TestCase("library/a b", "path component 2 ('a b') has the character ' '")]
    [TestCase("library\\app", "path component 1 ('library\\app') has the character '\\'")]
    public void Parse_Invalid_SaysWhatAndWhere(string name, string problem)
    {
        var act = () => RepositoryName.Parse(name);

        act.Should().Throw<InvalidNameException>().Which.Message.Should().StartWith($"'{name}' is not a valid repository name: {problem}");
        RepositoryName.TryParse(name, out _).Should().BeFalse();
    }

    [Test]
    public void Parse_TooLong_IsRejected()
    {
        var name = new string('a', 256);

        RepositoryName.Validate(name).Should().Be("it is 256 characters long, the limit is 255");
    }
}

public class TagNameTests
{
    [TestCase("latest")]
    [TestCase("v1.2.3-rc.1")]
    [TestCase("_private")]
    [TestCase("sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig")]
    public void Validate_Valid_IsNull(string tag) => TagName.Validate(tag).Should().BeNull();

    [TestCase("", "it is empty")]
    [TestCase(".hidden", "it starts with '.' (a tag starts with a letter, digit or '_')")]
    [TestCase("-x", "it starts with '-' (a tag starts with a letter, digit or '_')")]
    [TestCase("a/b", "it has the character '/' at position 1 (allowed: letters, digits, '_', '.', '-')")]
    [TestCase("v1:2", "it has the character ':' at position 2 (allowed: letters, digits, '_', '.', '-')")]
    public void Validate_Invalid_SaysWhatAndWhere(string tag, string problem)
    {
        TagName.Validate(tag).Should().Be(problem);
        var act = () => TagName.Parse(tag);
        act.Should().Throw<InvalidNameException>().Which.Message.Should().Be($"'{tag}' is not a valid tag: {problem}.");
    }

    [Test]
    public void Validate_TooLong_IsRejected() => TagName.Validate(new string('a', 129)).Should().Be("it is 129 characters long, the limit is 128");
}
