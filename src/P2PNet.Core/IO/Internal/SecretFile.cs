using System.Security.Cryptography;

namespace P2PNet.IO.Internal;

/// <summary>
/// Writes files that hold secrets (identity private keys, swarm keys) so that the result is readable and writable by
/// the owner only (mode 0600 on Unix) whether or not the file existed before.
/// </summary>
/// <remarks>
/// <see cref="FileStreamOptions.UnixCreateMode"/> applies only when a file is created, so overwriting an existing
/// 0644 file in place would keep 0644 and publish the new secret. Instead the bytes go to a fresh temporary file in the
/// same directory, created 0600, flushed to disk, and then renamed over <c>path</c>: the rename is atomic, so a reader
/// sees either the old file or the whole new one, and never a secret under the old permissive mode. Anyone who held the
/// old file open keeps only the old contents.
/// </remarks>
internal static class SecretFile
{
    /// <summary>Owner read and write: the only mode a secret file may have.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/>, replacing any file there, readable only by the owner.</summary>
    /// <exception cref="IOException">The directory does not exist or cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The process may not write the directory or replace the file.</exception>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> contents)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new IOException($"'{path}' has no directory to write into.");
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }
        try
        {
            using (var file = new FileStream(temporary, options))
            {
                if (!OperatingSystem.IsWindows())
                {
                    // The umask can only remove bits from UnixCreateMode; set the mode exactly anyway so it never depends on it.
                    File.SetUnixFileMode(file.SafeFileHandle, OwnerOnly);
                }
                file.Write(contents);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
