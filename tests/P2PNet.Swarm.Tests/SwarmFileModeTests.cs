using P2PNet.Testing.Interop;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>Files holding swarm keys end up 0600 after every open and overwrite, whatever mode they had.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SwarmFileModeTests(ITestOutputHelper output) : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Permissive = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-swarm-modes-").FullName;

    [Fact]
    public void Store_ReopenedOverPermissiveFiles_LeavesDatabaseWalAndShmOwnerOnly()
    {
        string path = Path.Combine(_directory, "swarm.db");
        using var first = SwarmStore.Open(path);
        first.SetBootstrap([]);
        string[] files = [path, path + "-wal", path + "-shm"];
        Assert.All(files, f => Assert.Equal(OwnerOnly, File.GetUnixFileMode(f)));
        // As an older version (or a copy) would have left them.
        foreach (var file in files)
        {
            File.SetUnixFileMode(file, Permissive);
        }

        using var second = SwarmStore.Open(path);
        second.SetBootstrap([Multiformats.Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001")]);

        Assert.All(files, f => Assert.Equal(OwnerOnly, File.GetUnixFileMode(f)));
    }

    [Fact]
    public void Store_Created_IsOwnerOnly()
    {
        string path = Path.Combine(_directory, "new.db");
        using var store = SwarmStore.Open(path);
        store.SetBootstrap([]);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path + "-wal"));
    }

    [Fact]
    public async Task CliKeyNew_OverwritingAPermissiveFile_LeavesItOwnerOnly()
    {
        string path = Path.Combine(_directory, "swarm.key");
        await File.WriteAllTextAsync(path, "old");
        File.SetUnixFileMode(path, Permissive);

        var result = await P2PNetCli.RunAsync(["swarm", "key", "new", "--out", path, "--force"], Step).WaitAsync(Step);
        output.WriteLine($"$ {result.CommandLine} → {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        result.EnsureSuccess();

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.StartsWith("/key/swarm/psk/1.0.0/", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
