namespace P2PNet.Swarm.Internal;

/// <summary>Files that hold secrets (swarm keys) are readable and writable by their owner only (0600) on Unix.</summary>
internal static class SecretFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> empty with mode 0600 when absent; otherwise sets its mode to 0600 (a file
    /// copied in or left by an older version may be permissive, and overwriting or reopening does not change a mode).</summary>
    public static void CreateOrRestrict(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        try
        {
            // CreateNew with a create mode: no moment where the file exists with the umask's mode.
            using var created = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly });
        }
        catch (IOException) when (File.Exists(path))
        {
            // It exists: restrict it below.
        }
        File.SetUnixFileMode(path, OwnerOnly);
    }

    /// <summary>Sets <paramref name="path"/>'s mode to 0600 when it exists.</summary>
    public static void Restrict(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        try
        {
            File.SetUnixFileMode(path, OwnerOnly);
        }
        catch (FileNotFoundException)
        {
            // SQLite had no reason to create it yet; when it does it copies the database file's mode (0600).
        }
    }
}
