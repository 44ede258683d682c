using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Pnet;

/// <summary>
/// Every Salsa20 kernel this machine runs (AVX2, 128-bit vectors, scalar) against BouncyCastle, published vectors, and a
/// from-the-specification reference that can start at any 64-bit block counter.
/// </summary>
public sealed class XSalsa20Tests
{
    /// <summary>The kernels this machine runs, by name (the kernel enum is internal).</summary>
    public static TheoryData<string> Kernels()
    {
        var kernels = new TheoryData<string> { nameof(Salsa20Kernel.Scalar) };
        if (Vector128.IsHardwareAccelerated)
        {
            kernels.Add(nameof(Salsa20Kernel.Vector128));
        }
        if (Avx2.IsSupported)
        {
            kernels.Add(nameof(Salsa20Kernel.Avx2));
        }
        return kernels;
    }

    private static XSalsa20 Create(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, string kernel, ulong firstBlock = 0)
        => XSalsa20.Create(key, nonce, Enum.Parse<Salsa20Kernel>(kernel), firstBlock);

    private static byte[] BouncyCastle(byte[] key, byte[] nonce, ReadOnlySpan<byte> input)
    {
        var engine = new XSalsa20Engine();
        engine.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
        var output = new byte[input.Length];
        engine.ProcessBytes(input.ToArray(), 0, input.Length, output, 0);
        return output;
    }

    [Fact]
    public void BestKernel_IsTheWidestTheMachineRuns()
    {
        var expected = Avx2.IsSupported ? Salsa20Kernel.Avx2 : Vector128.IsHardwareAccelerated ? Salsa20Kernel.Vector128 : Salsa20Kernel.Scalar;
        using var cipher = XSalsa20.Create(new byte[32], new byte[24]);
        Assert.Equal(expected, cipher.Kernel);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Transform_EveryLengthTo1100_AtOddOffsets_MatchesBouncyCastle(string kernel)
    {
        var random = new Random(1100);
        for (int length = 0; length <= 1100; length++)
        {
            var key = new byte[32];
            var nonce = new byte[24];
            random.NextBytes(key);
            random.NextBytes(nonce);
            var source = new byte[length + 7];
            random.NextBytes(source);
            int inOffset = length % 7, outOffset = length % 5;
            var expected = BouncyCastle(key, nonce, source.AsSpan(inOffset, length));

            var target = new byte[length + 5];
            using (var cipher = Create(key, nonce, kernel))
            {
                cipher.Transform(source.AsSpan(inOffset, length), target.AsSpan(outOffset, length));
            }
            Assert.True(expected.AsSpan().SequenceEqual(target.AsSpan(outOffset, length)), $"src→dst, length {length}");

            using (var cipher = Create(key, nonce, kernel))
            {
                cipher.Transform(source.AsSpan(inOffset, length), source.AsSpan(inOffset, length));
            }
            Assert.True(expected.AsSpan().SequenceEqual(source.AsSpan(inOffset, length)), $"in place, length {length}");
        }
    }

    [Property(MaxTest = 300)]
    public Property Transform_RandomSplitsOffsetsAndInPlace_MatchesBouncyCastle()
    {
        var gen =
            from key in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32)
            from nonce in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 24)
            from length in Gen.Choose(0, 3000)
            from count in Gen.Choose(0, 8)
            from splits in Gen.ArrayOf(Gen.Choose(0, 3000), count)
            from offset in Gen.Choose(0, 31)
            from inPlace in ArbMap.Default.GeneratorFor<bool>()
            select (key, nonce, length, splits, offset, inPlace);
        // Every case runs on every kernel this machine has, so each kernel sees all 300 cases.
        string[] kernels = [.. Kernels().Cast<object[]>().Select(row => (string)row[0])];
        return Prop.ForAll(gen.ToArbitrary(), t =>
        {
            foreach (string kernel in kernels)
            {
                var data = RandomNumberGenerator.GetBytes(t.length + t.offset);
                var expected = BouncyCastle(t.key, t.nonce, data.AsSpan(t.offset));
                var actual = t.inPlace ? data : new byte[t.length + 1];
                int outBase = t.inPlace ? t.offset : 1;
                using var cipher = Create(t.key, t.nonce, kernel);
                int done = 0;
                foreach (int split in t.splits.Select(s => Math.Min(s, t.length)).Order().Append(t.length))
                {
                    cipher.Transform(data.AsSpan(t.offset + done, split - done), actual.AsSpan(outBase + done, split - done));
                    done = split;
                }
                Assert.True(expected.AsSpan().SequenceEqual(actual.AsSpan(outBase, t.length)), $"{kernel} kernel differs from BouncyCastle");
            }
        });
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Transform_CounterCrossing32BitBoundaries_MatchesTheSpecification(string kernel)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        // The low counter word wraps inside a wide kernel's chunk and the high word carries (x8 → x9), at 2^32 and 2^33.
        foreach (ulong first in new[] { 0xFFFF_FFFAUL, 0x1_FFFF_FFF9UL, 0xFFFF_FFFFUL })
        {
            var data = RandomNumberGenerator.GetBytes(40 * 64 + 13);
            var expected = (byte[])data.Clone();
            ReferenceXSalsa20.Xor(key, nonce, first, expected);
            var actual = new byte[data.Length];
            using var cipher = Create(key, nonce, kernel, first);
            int done = 0;
            foreach (int split in new[] { 5, 64, 700, 1500, data.Length })
            {
                cipher.Transform(data.AsSpan(done, split - done), actual.AsSpan(done));
                done = split;
            }
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Reference_AtCounterZero_MatchesBouncyCastle()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(24);
        var data = RandomNumberGenerator.GetBytes(1000);
        var expected = BouncyCastle(key, nonce, data);
        ReferenceXSalsa20.Xor(key, nonce, 0, data);
        Assert.Equal(expected, data);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Keystream_NaClVector_HasTheKnownSha256(string kernel)
    {
        // NaCl's tests/stream.c: the SHA-256 of the first 4,194,304 keystream bytes.
        var key = Convert.FromHexString("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
        var nonce = Convert.FromHexString("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
        var stream = new byte[4_194_304];
        using (var cipher = Create(key, nonce, kernel))
        {
            cipher.Transform(stream, stream);
        }
        Assert.Equal("662b9d0e3463029156069b12f918691a98f7dfb2ca0393c96bbfc6b1fbd630a2", Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Transform_GoXSalsa20Vector_GivesTheKnownCiphertext(string kernel)
    {
        // golang.org/x/crypto/salsa20 xsalsa20 test vector.
        using var cipher = Create("this is 32-byte key for xsalsa20"u8, "24-byte nonce for xsalsa"u8, kernel);
        var text = "Hello world!"u8.ToArray();
        cipher.Transform(text, text);
        Assert.Equal("002d4513843fc240c401e541", Convert.ToHexStringLower(text));
    }

    [Fact]
    public void Salsa20_EcryptSet1Vector0_GivesTheKnownKeystream()
    {
        // eSTREAM Salsa20/20 256-bit key, set 1, vector 0: key 80 00 … 00, IV 0, keystream bytes 0–63.
        var key = new byte[32];
        key[0] = 0x80;
        var stream = new byte[64];
        using (var cipher = XSalsa20.CreateSalsa20(key, new byte[8]))
        {
            cipher.Transform(stream, stream);
        }
        Assert.Equal("E3BE8FDD8BECA2E3EA8EF9475B29A6E7003951E1097A5C38D23B7A5FAD9F6844"
            + "B22C97559E2723C7CBBD3FE4FC8D9A0744652A83E72A9C461876AF4D7EF1A117", Convert.ToHexString(stream));
    }

    [Fact]
    public void Create_WrongKeyOrNonceLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => XSalsa20.Create(new byte[31], new byte[24]));
        Assert.Throws<ArgumentException>(() => XSalsa20.Create(new byte[32], new byte[8]));
        Assert.Throws<ArgumentException>(() => XSalsa20.CreateSalsa20(new byte[32], new byte[24]));
    }

    [Fact]
    public void Transform_ShortOrShiftedOutput_Throws()
    {
        using var cipher = XSalsa20.Create(new byte[32], new byte[24]);
        var buffer = new byte[1000];
        Assert.Throws<ArgumentException>(() => cipher.Transform(buffer.AsSpan(0, 500), new byte[499]));
        Assert.Throws<ArgumentException>(() => cipher.Transform(buffer.AsSpan(0, 500), buffer.AsSpan(1, 500)));
        Assert.Throws<ArgumentException>(() => cipher.Transform(buffer.AsSpan(1, 500), buffer.AsSpan(0, 500)));
    }

    /// <summary>XSalsa20 written straight from the specifications (Salsa20 §4–§8, XSalsa20 §2), one block at a time,
    /// with the block counter as one 64-bit number: the check for counters BouncyCastle cannot reach.</summary>
    private static class ReferenceXSalsa20
    {
        public static void Xor(byte[] key, byte[] nonce, ulong firstBlock, byte[] data)
        {
            uint[] subkeyWords = Core(Input(Words(key), Words(nonce.AsSpan(0, 16))), feedForward: false);
            uint[] subkey = [subkeyWords[0], subkeyWords[5], subkeyWords[10], subkeyWords[15], subkeyWords[6], subkeyWords[7], subkeyWords[8], subkeyWords[9]];
            uint[] tail = Words(nonce.AsSpan(16, 8));
            for (int offset = 0; offset < data.Length; offset += 64)
            {
                ulong block = firstBlock + (ulong)(offset / 64);
                uint[] output = Core(Input(subkey, [tail[0], tail[1], (uint)block, (uint)(block >> 32)]), feedForward: true);
                for (int i = 0; offset + i < data.Length && i < 64; i++)
                {
                    data[offset + i] ^= (byte)(output[i / 4] >> (8 * (i % 4)));
                }
            }
        }

        private static uint[] Words(ReadOnlySpan<byte> bytes)
        {
            var words = new uint[bytes.Length / 4];
            for (int i = 0; i < words.Length; i++)
            {
                words[i] = (uint)(bytes[4 * i] | bytes[4 * i + 1] << 8 | bytes[4 * i + 2] << 16 | bytes[4 * i + 3] << 24);
            }
            return words;
        }

        // §9 expansion, 32-byte key: σ0, k0..k3, σ1, n0..n3, σ2, k4..k7, σ3.
        private static uint[] Input(uint[] key, uint[] n) =>
            [0x61707865, key[0], key[1], key[2], key[3], 0x3320646e, n[0], n[1], n[2], n[3], 0x79622d32, key[4], key[5], key[6], key[7], 0x6b206574];

        private static uint[] Core(uint[] input, bool feedForward)
        {
            var x = (uint[])input.Clone();
            for (int round = 0; round < 10; round++)
            {
                // columnround then rowround, each four quarterrounds on (y0, y1, y2, y3).
                foreach (int[] q in new[] { new[] { 0, 4, 8, 12 }, [5, 9, 13, 1], [10, 14, 2, 6], [15, 3, 7, 11], [0, 1, 2, 3], [5, 6, 7, 4], [10, 11, 8, 9], [15, 12, 13, 14] })
                {
                    x[q[1]] ^= uint.RotateLeft(x[q[0]] + x[q[3]], 7);
                    x[q[2]] ^= uint.RotateLeft(x[q[1]] + x[q[0]], 9);
                    x[q[3]] ^= uint.RotateLeft(x[q[2]] + x[q[1]], 13);
                    x[q[0]] ^= uint.RotateLeft(x[q[3]] + x[q[2]], 18);
                }
            }
            if (feedForward)
            {
                for (int i = 0; i < 16; i++)
                {
                    x[i] += input[i];
                }
            }
            return x;
        }
    }
}
