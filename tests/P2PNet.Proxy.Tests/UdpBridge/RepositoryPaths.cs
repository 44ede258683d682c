namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Paths in the repository this test assembly was built from.</summary>
internal static class RepositoryPaths
{
    /// <summary>The folder holding P2PNet.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration of this test run (Debug or Release), read from the output path.</summary>
    public static string Configuration { get; } =
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>The built p2pnet command-line tool.</summary>
    public static string CliDll => Path.Combine(Root, "samples", "P2PNet.Cli", "bin", Configuration, "net10.0", "p2pnet.dll");

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "P2PNet.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"P2PNet.sln not found above {AppContext.BaseDirectory}.");
    }
}
