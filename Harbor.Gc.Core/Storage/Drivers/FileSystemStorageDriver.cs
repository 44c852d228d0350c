using System.Runtime.InteropServices;
using System.Text;

namespace Harbor.Gc.Storage.Drivers;

/// <summary>Opens the file-system driver over a folder: <see cref="LinuxStorageDriver"/> on Linux, <see cref="PortableStorageDriver"/> elsewhere.</summary>
internal static class FileSystemStorageDriver
{
    /// <summary>Resolves <paramref name="root"/> (links above it are followed once, here) and opens a driver over it.</summary>
    /// <param name="root">The folder.</param>
    /// <param name="portable">Use the portable driver even on Linux (for tests of it).</param>
    /// <exception cref="DirectoryNotFoundException">There is no folder at <paramref name="root"/>.</exception>
    public static IStorageDriver Open(string root, bool portable = false)
    {
        var resolved = Resolve(root);
        if (!Directory.Exists(resolved))
        {
            throw new DirectoryNotFoundException($"The folder '{root}' does not exist.");
        }

        return LinuxNative.IsAvailable && !portable ? new LinuxStorageDriver(resolved) : new PortableStorageDriver(resolved);
    }

    /// <summary>The real path of a folder: absolute, with every symbolic link on the way resolved.</summary>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (LinuxNative.IsAvailable)
        {
            var bytes = Encoding.UTF8.GetBytes(full + "\0");
            var resolved = LinuxNative.RealPath(bytes, 0);
            if (resolved == 0)
            {
                return full; // missing: the caller says so
            }

            try
            {
                return Marshal.PtrToStringUTF8(resolved) ?? full;
            }
            finally
            {
                LinuxNative.Free(resolved);
            }
        }

        // elsewhere: resolve each segment that is a link, from the top
        var current = Path.GetPathRoot(full)!;
        foreach (var segment in full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, segment);
            var info = new DirectoryInfo(current);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                current = target.FullName;
            }
        }

        return current;
    }
}
