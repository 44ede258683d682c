using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Pnet;

/// <summary>The swarm key file format (pnet/Private-Networks-PSK-V1.md and go-libp2p's decoder) and the fingerprint.</summary>
public sealed class SwarmKeyFileTests : IDisposable
{
    private const string Hex = "7a3f0b6d1c2e4f5a69788796a5b4c3d2e1f00112233445566778899aabbccdde";
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-swarmkey-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] KeyBytes => Convert.FromHexString(Hex);

    [Theory]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex)]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n")]
    [InlineData("/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + Hex + "\r\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n7A3F0B6D1C2E4F5A69788796A5B4C3D2E1F00112233445566778899AABBCCDDE\n")]
    public void Parse_Base16_ReadsTheKey(string text)
    {
        var key = SwarmKey.Parse(Encoding.ASCII.GetBytes(text));
        Assert.Equal(SwarmKey.FromBytes(KeyBytes), key);
    }

    [Fact]
    public void Parse_Base64_ReadsTheKey()
    {
        var key = SwarmKey.Parse(Encoding.ASCII.GetBytes("/key/swarm/psk/1.0.0/\r\n/base64/\r\n" + Convert.ToBase64String(KeyBytes) + "\r\n"));
        Assert.Equal(SwarmKey.FromBytes(KeyBytes), key);
    }

    [Fact]
    public void Parse_Bin_ReadsTheRawBytes()
    {
        var file = Encoding.ASCII.GetBytes("/key/swarm/psk/1.0.0/\n/bin/\n").Concat(KeyBytes).ToArray();
        Assert.Equal(SwarmKey.FromBytes(KeyBytes), SwarmKey.Parse(file));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/key/swarm/psk/1.0.0/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/")]
    [InlineData("/key/swarm/psk/2.0.0/\n/base16/\n" + Hex)]
    [InlineData("/key/swarm/psk/1.0.0/\n/base32/\n" + Hex)]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + "zz" + Hex)]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + "abcd")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "00")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\n!!!not base64!!!")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\nshort")]
    public void Parse_Malformed_ThrowsWireFormatException(string text)
    {
        Assert.Throws<WireFormatException>(() => SwarmKey.Parse(Encoding.ASCII.GetBytes(text)));
    }

    [Fact]
    public void WriteFile_ThenReadFile_RoundTrips()
    {
        var key = SwarmKey.Generate();
        var path = Path.Combine(_dir, "swarm.key");
        key.WriteFile(path);
        Assert.Equal(key, SwarmKey.ReadFile(path));
        Assert.StartsWith("/key/swarm/psk/1.0.0/\n/base16/\n", File.ReadAllText(path), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Fact]
    public void ReadFile_Malformed_NamesTheFile()
    {
        var path = Path.Combine(_dir, "bad.key");
        File.WriteAllText(path, "not a key");
        var error = Assert.Throws<WireFormatException>(() => SwarmKey.ReadFile(path));
        Assert.Contains("bad.key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fingerprint_EqualsSalsa20FinprintThenShake128()
    {
        for (int i = 0; i < 20; i++)
        {
            var key = SwarmKey.Generate();
            var bytes = Convert.FromHexString(key.ToFileText().Split('\n')[2]);
            var salsa = new Salsa20Engine();
            salsa.Init(true, new ParametersWithIV(new KeyParameter(bytes), "finprint"u8.ToArray()));
            var block = new byte[64];
            salsa.ProcessBytes(new byte[64], 0, 64, block, 0);
            var shake = new ShakeDigest(128);
            shake.BlockUpdate(block, 0, block.Length);
            var expected = new byte[16];
            shake.OutputFinal(expected, 0, 16);
            Assert.Equal(expected, key.Fingerprint.ToArray());
            Assert.Equal(Convert.ToHexStringLower(expected), key.FingerprintHex);
            Assert.DoesNotContain(key.ToFileText().Split('\n')[2], key.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Equality_ComparesKeyBytes()
    {
        var a = SwarmKey.FromBytes(KeyBytes);
        var b = SwarmKey.FromBytes(KeyBytes);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, SwarmKey.Generate());
    }
}
