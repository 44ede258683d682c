namespace P2PNet.Testing;

/// <summary>
/// The one repository-root finder of the tests: the folder holding <c>P2PNet.sln</c> above the running test
/// assembly, and the build configuration the tests were built in (read from their output path).
/// </summary>
public static class RepositoryRoot
{
    private static readonly Lazy<string?> Found = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The repository root; throws <see cref="DirectoryNotFoundException"/> when the tests run outside a clone.</summary>
    public static string Path => Found.Value ?? throw new DirectoryNotFoundException(
        $"cannot find the repository root (a folder with P2PNet.sln) above {AppContext.BaseDirectory}");

    /// <summary>The build configuration of this test run (Debug or Release): …/bin/&lt;Configuration&gt;/net10.0/.</summary>
    public static string Configuration { get; } =
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(System.IO.Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>The repository root, or null when the tests run outside a clone.</summary>
    public static string? TryFind() => Found.Value;

    /// <summary>A path under the repository root.</summary>
    /// <param name="parts">Path parts below the root.</param>
    public static string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "P2PNet.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
