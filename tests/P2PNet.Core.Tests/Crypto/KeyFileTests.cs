using P2PNet.Core.Tests.IO;
using P2PNet.Crypto;

namespace P2PNet.Core.Tests.Crypto;

public sealed class KeyFileTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("p2pnet-keyfile-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    [Fact]
    public void WriteFileThenReadFile_Ed25519Key_GivesTheSameKey()
    {
        using var key = PrivateKey.GenerateEd25519();
        string path = PathOf("identity.key");

        key.WriteFile(path);
        using var read = PrivateKey.ReadFile(path);

        Assert.Equal(key.ToProtobuf(), read.ToProtobuf());
        Assert.Equal(key.PublicKey.ToPeerId(), read.PublicKey.ToPeerId());
        Assert.Equal(key.ToProtobuf(), File.ReadAllBytes(path)); // the file is the bare protobuf, as go and js write it
    }

    [Theory]
    [InlineData(KeyVectors.SpecSecp256k1Private)]
    [InlineData(KeyVectors.SpecEcdsaPrivate)]
    [InlineData(KeyVectors.SpecRsaPrivate)]
    public void WriteFileThenReadFile_OtherKeyTypes_KeepTheExactBytes(string privateHex)
    {
        using var key = PrivateKey.FromProtobuf(KeyVectors.Bytes(privateHex));
        string path = PathOf("other.key");

        key.WriteFile(path);
        using var read = PrivateKey.ReadFile(path);

        Assert.Equal(privateHex, Convert.ToHexStringLower(File.ReadAllBytes(path)));
        Assert.Equal(key.PublicKey, read.PublicKey);
    }

    [Fact]
    public void WriteFile_OverExistingFile_ReplacesItsContents()
    {
        string path = PathOf("replace.key");
        File.WriteAllBytes(path, new byte[500]);
        using var key = PrivateKey.GenerateEd25519();

        key.WriteFile(path);

        Assert.Equal(key.ToProtobuf(), File.ReadAllBytes(path));
    }

    [Fact]
    public void WriteFile_OnUnix_IsReadableOnlyByTheOwner()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file mode to check
        }
        using var key = PrivateKey.GenerateEd25519();
        string path = PathOf("private.key");

        key.WriteFile(path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void ReadFile_GarbageFile_ThrowsWireFormatExceptionNamingThePath()
    {
        string path = PathOf("garbage.key");
        File.WriteAllText(path, "this is not a key\n");

        var e = WireFormatAssert.Throws(() => PrivateKey.ReadFile(path), path);
        Assert.IsType<WireFormatException>(e.InnerException);
    }

    [Fact]
    public void ReadFile_EmptyFile_ThrowsWireFormatExceptionNamingThePath()
    {
        string path = PathOf("empty.key");
        File.WriteAllBytes(path, []);

        WireFormatAssert.Throws(() => PrivateKey.ReadFile(path), path);
    }

    [Fact]
    public void ReadFile_PublicKeyInsteadOfPrivate_ThrowsWireFormatExceptionNamingThePath()
    {
        string path = PathOf("public.key");
        File.WriteAllBytes(path, KeyVectors.Bytes(KeyVectors.SpecEd25519Public));

        WireFormatAssert.Throws(() => PrivateKey.ReadFile(path), path);
    }

    [Fact]
    public void ReadFile_MissingFile_ThrowsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => PrivateKey.ReadFile(PathOf("missing.key")));
}
