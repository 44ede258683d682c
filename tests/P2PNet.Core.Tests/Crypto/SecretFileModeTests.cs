using System.Runtime.Versioning;
using P2PNet.Crypto;
using P2PNet.IO.Internal;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Every write of a secret file leaves it readable only by the owner, also over an existing permissive file.</summary>
public sealed class SecretFileModeTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode WorldReadable = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("p2pnet-secretfile-");

    public void Dispose() => _directory.Delete(recursive: true);

    [UnsupportedOSPlatform("windows")]
    private string ExistingWorldReadableFile(string name)
    {
        string path = Path.Combine(_directory.FullName, name);
        File.WriteAllText(path, "old contents, long enough to need truncating ......................................");
        File.SetUnixFileMode(path, WorldReadable);
        Assert.Equal(WorldReadable, File.GetUnixFileMode(path));
        return path;
    }

    [Fact]
    public void PrivateKeyWriteFile_OverA0644File_LeavesIt0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file mode to check
        }
        string path = ExistingWorldReadableFile("identity.key");
        using var key = PrivateKey.GenerateEd25519();

        key.WriteFile(path);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(key.ToProtobuf(), File.ReadAllBytes(path));
    }

    [Fact]
    public void SwarmKeyWriteFile_OverA0644File_LeavesIt0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file mode to check
        }
        string path = ExistingWorldReadableFile("swarm.key");
        var key = SwarmKey.Generate();

        key.WriteFile(path);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(key, SwarmKey.ReadFile(path));
    }

    [Fact]
    public void SecretFileWrite_OverA0777File_LeavesIt0600AndNoTemporaryFiles()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file mode to check
        }
        string path = ExistingWorldReadableFile("secret");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);

        SecretFile.WriteAllBytes(path, "new"u8);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal("new"u8.ToArray(), File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(_directory.FullName));
    }

    [Fact]
    public void SecretFileWrite_NewFile_Is0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file mode to check
        }
        string path = Path.Combine(_directory.FullName, "fresh.key");

        SecretFile.WriteAllBytes(path, [1, 2, 3]);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
    }

    [Fact]
    public void SecretFileWrite_IntoAMissingDirectory_ThrowsAndLeavesNothing()
    {
        string path = Path.Combine(_directory.FullName, "missing", "secret.key");

        Assert.Throws<DirectoryNotFoundException>(() => SecretFile.WriteAllBytes(path, [1]));
        Assert.Empty(Directory.GetFileSystemEntries(_directory.FullName));
    }
}
