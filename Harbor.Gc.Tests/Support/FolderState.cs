using System.Security.Cryptography;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// Every file and folder under a folder, with each file's length, SHA-256 and modification time: equal before and after means
/// nothing was written, cut, created or removed there (the access time is left out: reading a file may set it).
/// </summary>
internal static class FolderState
{
    public static IReadOnlyDictionary<string, string> Of(string folder) =>
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).ToDictionary(
            entry => Path.GetRelativePath(folder, entry),
            entry => Directory.Exists(entry)
                ? "folder"
                : $"{new FileInfo(entry).Length} bytes, sha256 {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry)))}, written {File.GetLastWriteTimeUtc(entry):O}");
}
