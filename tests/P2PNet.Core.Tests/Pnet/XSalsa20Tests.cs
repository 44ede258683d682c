using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Pnet;

/// <summary>Our XSalsa20 (AVX2 eight-block core) against BouncyCastle's reference engine and the NaCl vector.</summary>
public sealed class XSalsa20Tests
{
    private static byte[] Reference(byte[] key, byte[] nonce, byte[] input)
    {
        var engine = new XSalsa20Engine();
        engine.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
        var output = new byte[input.Length];
        engine.ProcessBytes(input, 0, input.Length, output, 0);
        return output;
    }

    [Fact]
    public void Transform_RandomKeyNonceAndSplits_MatchesBouncyCastle()
    {
        var gen =
            from key in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32)
            from nonce in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 24)
            from length in Gen.Choose(0, 3000)
            from count in Gen.Choose(0, 6)
            from splits in Gen.ArrayOf(Gen.Choose(0, 3000), count)
            select (key, nonce, length, splits);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var data = RandomNumberGenerator.GetBytes(t.length);
            var expected = Reference(t.key, t.nonce, data);
            var actual = new byte[t.length];
            using var cipher = XSalsa20.Create(t.key, t.nonce);
            int offset = 0;
            foreach (int split in t.splits.Select(s => Math.Min(s, t.length)).Order())
            {
                cipher.Transform(data.AsSpan(offset, split - offset), actual.AsSpan(offset));
                offset = split;
            }
            cipher.Transform(data.AsSpan(offset), actual.AsSpan(offset));
            return expected.AsSpan().SequenceEqual(actual);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void Transform_InPlace_MatchesBouncyCastle()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        var data = RandomNumberGenerator.GetBytes(10_000);
        var expected = Reference(key, nonce, data);
        using var cipher = XSalsa20.Create(key, nonce);
        cipher.Transform(data.AsSpan(0, 7), data.AsSpan(0, 7));
        cipher.Transform(data.AsSpan(7), data.AsSpan(7));
        Assert.Equal(expected, data);
    }

    [Fact]
    public void Keystream_NaClVector_HasTheKnownSha256()
    {
        // NaCl's tests/stream.c: the SHA-256 of the first 4,194,304 keystream bytes.
        var key = Convert.FromHexString("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
        var nonce = Convert.FromHexString("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
        var stream = new byte[4_194_304];
        using (var cipher = XSalsa20.Create(key, nonce))
        {
            cipher.Transform(stream, stream);
        }
        Assert.Equal("662b9d0e3463029156069b12f918691a98f7dfb2ca0393c96bbfc6b1fbd630a2", Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    [Fact]
    public void Create_WrongKeyOrNonceLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => XSalsa20.Create(new byte[31], new byte[24]));
        Assert.Throws<ArgumentException>(() => XSalsa20.Create(new byte[32], new byte[8]));
    }
}
