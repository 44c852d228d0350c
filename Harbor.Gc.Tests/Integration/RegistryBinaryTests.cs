namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// When the integration tests run, skip or fail: a missing <c>docker-registry</c> skips them with the install command, unless
/// <c>HARBOR_GC_REQUIRE_REGISTRY=1</c> (set by <c>.ci/run</c>) makes it a failure. These run without the registry.
/// </summary>
public class RegistryBinaryTests
{
    private string _folder = null!;

    [SetUp]
    public void SetUp()
    {
        _folder = Path.Combine(Path.GetTempPath(), "harbor-gc-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_folder, recursive: true);

    private string Binary(UnixFileMode mode)
    {
        var file = Path.Combine(_folder, RegistryBinary.Name);
        File.WriteAllText(file, "#!/bin/sh\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, mode);
        }

        return file;
    }

    [Test]
    public void Resolve_AnExecutableOnPath_IsUsed_WhateverTheRequirement()
    {
        var binary = Binary(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = string.Join(Path.PathSeparator, Path.Combine(_folder, "missing"), _folder);

        RegistryBinary.Resolve(path, null).Path.Should().Be(binary);
        RegistryBinary.Resolve(path, "1").Path.Should().Be(binary);
    }

    [TestCase(null, false, Description = "a developer without docker-registry: ignored, with the install command")]
    [TestCase("0", false)]
    [TestCase("1", true, Description = ".ci/run: a missing registry fails the tests, never skips them")]
    public void Resolve_NotOnPath_IgnoresOrFails_AndSaysHowToInstall(string? require, bool fails)
    {
        var resolution = RegistryBinary.Resolve(_folder, require);

        resolution.Path.Should().BeNull();
        resolution.Required.Should().Be(fails);
        resolution.Message.Should().Contain("docker-registry is not on PATH").And.Contain("apt-get install -y docker-registry");
    }

    [Test]
    public void Resolve_AFileThatIsNotExecutable_IsNotTheBinary()
    {
        Assume.That(!OperatingSystem.IsWindows(), "execute bits are a Unix notion");
        Binary(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        RegistryBinary.Resolve(_folder, null).Path.Should().BeNull();
        RegistryBinary.Resolve(string.Empty, null).Path.Should().BeNull();
    }
}
