using System.Numerics;
using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Crypto;
using P2PNet.Crypto.Internal;
using static P2PNet.Core.Tests.Crypto.KeyVectors;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>RFC 7748 and RFC 8032 known answers and refusals, run on each backend; and the backends agree with each other.</summary>
public sealed class Curve25519BackendTests
{
    // RFC 7748 §5.2: scalar, input u-coordinate, output u-coordinate.
    public static TheoryData<string, string, string, string> ScalarMultVectors
    {
        get
        {
            var data = new TheoryData<string, string, string, string>();
            foreach (string backend in Curve25519Backends.All)
            {
                data.Add(backend, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                    "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
                data.Add(backend, "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                    "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
            }
            return data;
        }
    }

    // Points whose product with any clamped scalar is zero (orders 1, 2, 4 and 8, and p, p + 1 encodings of 0 and 1):
    // RFC 7748 §6.1 says to check for the all-zero output, which refuses all of them.
    public static TheoryData<string, string> LowOrderPoints
    {
        get
        {
            string[] points =
            [
                "0000000000000000000000000000000000000000000000000000000000000000",
                "0100000000000000000000000000000000000000000000000000000000000000",
                "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
                "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
                "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                "0000000000000000000000000000000000000000000000000000000000000080", // 0 with the ignored top bit set
            ];
            var data = new TheoryData<string, string>();
            foreach (string backend in Curve25519Backends.All)
            {
                foreach (string point in points)
                {
                    data.Add(backend, point);
                }
            }
            return data;
        }
    }

    [Fact]
    public void Default_OnLinuxX64_RunsX25519OnOpenSsl_AndEd25519OnNSec()
    {
        // CI is Linux x64 with libcrypto.so.3, and NSec ships libsodium for it: both native backends must load there,
        // or every handshake silently runs the slow path.
        Assert.True(OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64,
            "this test describes the Linux x64 default; run the suite there");
        Assert.True(NativeLibrary.TryLoad("libcrypto.so.3", out nint library), "libcrypto.so.3 is missing: install libssl3");
        NativeLibrary.Free(library);
        Assert.NotNull(Curve25519Backend.OpenSsl);
        Assert.NotNull(Curve25519Backend.NSec);
        if (Environment.GetEnvironmentVariable(Curve25519Backend.DisableNativeVariable) == "1")
        {
            Assert.Same(Curve25519Backend.Managed, Curve25519Backend.Default);
            return;
        }
        var composite = Assert.IsType<CompositeCurve25519>(Curve25519Backend.Default);
        Assert.Same(Curve25519Backend.OpenSsl, composite.X25519);
        Assert.Same(Curve25519Backend.NSec, composite.Ed25519);
    }

    [Theory]
    [MemberData(nameof(ScalarMultVectors))]
    public void X25519_Rfc7748ScalarMultVector_GivesTheOutput(string backend, string scalar, string u, string expected)
    {
        using var key = Curve25519Backends.Get(backend).CreateX25519(Bytes(scalar));
        var shared = new byte[32];
        Assert.True(key.TryAgree(Bytes(u), shared));
        Assert.Equal(expected, Convert.ToHexStringLower(shared));
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void X25519_Rfc7748IteratedVector_After1000Iterations(string backend)
    {
        // RFC 7748 §5.2: k = u = 9; then k, u = X25519(k, u), k, 1,000 times.
        var b = Curve25519Backends.Get(backend);
        byte[] k = new byte[32];
        byte[] u = new byte[32];
        k[0] = 9;
        u[0] = 9;
        var result = new byte[32];
        for (int i = 1; i <= 1000; i++)
        {
            using (var key = b.CreateX25519(k))
            {
                Assert.True(key.TryAgree(u, result));
            }
            (u, k) = (k, result.ToArray());
            if (i == 1)
            {
                Assert.Equal("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", Convert.ToHexStringLower(k));
            }
        }
        Assert.Equal("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", Convert.ToHexStringLower(k));
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void X25519_Rfc7748DiffieHellmanVector_DerivesBothPublicKeysAndTheSharedSecret(string backend)
    {
        var b = Curve25519Backends.Get(backend);
        using var alice = b.CreateX25519(Bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        using var bob = b.CreateX25519(Bytes("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", Convert.ToHexStringLower(alice.PublicKey));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", Convert.ToHexStringLower(bob.PublicKey));
        var aliceShared = new byte[32];
        var bobShared = new byte[32];
        Assert.True(alice.TryAgree(bob.PublicKey, aliceShared));
        Assert.True(bob.TryAgree(alice.PublicKey, bobShared));
        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", Convert.ToHexStringLower(aliceShared));
        Assert.Equal(aliceShared, bobShared);
    }

    [Theory]
    [MemberData(nameof(LowOrderPoints))]
    public void X25519_WithLowOrderPoint_IsRefusedAndLeavesZeros(string backend, string point)
    {
        using var key = Curve25519Backends.Get(backend).CreateX25519(Bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        byte[] shared = Enumerable.Repeat((byte)0xaa, 32).ToArray();
        Assert.False(key.TryAgree(Bytes(point), shared));
        Assert.All(shared, b => Assert.Equal(0, b));
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void X25519_WrongLengthKeys_ThrowArgumentException(string backend)
    {
        var b = Curve25519Backends.Get(backend);
        Assert.Throws<ArgumentException>(() => b.CreateX25519(new byte[31]));
        using var key = b.CreateX25519(new byte[32]);
        Assert.Throws<ArgumentException>(() => key.TryAgree(new byte[33], new byte[32]));
    }

    [Theory]
    [InlineData(Rfc8032Test1Seed, Rfc8032Test1Public, Rfc8032Test1Message, Rfc8032Test1Signature)]
    [InlineData(Rfc8032Test2Seed, Rfc8032Test2Public, Rfc8032Test2Message, Rfc8032Test2Signature)]
    [InlineData(Rfc8032Test3Seed, Rfc8032Test3Public, Rfc8032Test3Message, Rfc8032Test3Signature)]
    public void Ed25519_Rfc8032Vector_SignsAndVerifiesTheSameOnEveryBackend(string seed, string publicHex, string messageHex, string signatureHex)
    {
        foreach (string name in Curve25519Backends.All)
        {
            var b = Curve25519Backends.Get(name);
            using var key = b.CreateEd25519(Bytes(seed));
            Assert.Equal(publicHex, Convert.ToHexStringLower(key.PublicKey));
            var signature = new byte[64];
            key.Sign(Bytes(messageHex), signature);
            Assert.Equal(signatureHex, Convert.ToHexStringLower(signature));
            Assert.True(b.Ed25519Verify(Bytes(publicHex), Bytes(messageHex), signature));
            Assert.False(b.Ed25519Verify(Bytes(publicHex), [.. Bytes(messageHex), 0], signature));
        }
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void Ed25519_SignatureWithScalarPlusGroupOrder_IsRefused(string backend)
    {
        // RFC 8032 §5.1.7 step 1: S must be below L. S + L verifies under the group equation, so only this check refuses it.
        var b = Curve25519Backends.Get(backend);
        byte[] signature = Bytes(Rfc8032Test1Signature);
        var order = BigInteger.Parse("7237005577332262213973186563042994240857116359379907606001950938285454250989", System.Globalization.CultureInfo.InvariantCulture);
        var s = new BigInteger(signature.AsSpan(32), isUnsigned: true);
        Assert.True((s + order).TryWriteBytes(signature.AsSpan(32), out int written, isUnsigned: true));
        signature.AsSpan(32 + written).Clear();
        Assert.False(b.Ed25519Verify(Bytes(Rfc8032Test1Public), [], signature));
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void Ed25519_MalformedLengthsOrKeys_AreRefusedWithoutThrowing(string backend)
    {
        var b = Curve25519Backends.Get(backend);
        byte[] signature = Bytes(Rfc8032Test1Signature);
        Assert.False(b.Ed25519Verify(Bytes(Rfc8032Test1Public), [], signature.AsSpan(0, 63)));
        Assert.False(b.Ed25519Verify(Bytes(Rfc8032Test1Public), [], [.. signature, 0]));
        Assert.False(b.Ed25519Verify(Bytes(Rfc8032Test1Public).AsSpan(0, 31), [], signature));
        // y = 2 is not the y-coordinate of any point: the key does not decode.
        Assert.False(b.Ed25519Verify(Bytes("0200000000000000000000000000000000000000000000000000000000000000"), [], signature));
        Assert.False(b.Ed25519Verify(Bytes(Rfc8032Test1Public), [], new byte[64]));
        Assert.Throws<ArgumentException>(() => b.CreateEd25519(new byte[33]));
    }

    [Property(MaxTest = 200)]
    public Property Backends_AgreeOnRandomKeysSignaturesAndSharedSecrets()
    {
        var native = Curve25519Backends.RequireOpenSsl();
        var managed = Curve25519Backend.Managed;
        Gen<(byte[] A, byte[] B, byte[] Message)> inputs =
            from a in ArbMap.Default.GeneratorFor<byte>().ArrayOf(32)
            from c in ArbMap.Default.GeneratorFor<byte>().ArrayOf(32)
            from m in ArbMap.Default.GeneratorFor<byte[]>()
            select (a, c, m);
        return Prop.ForAll(inputs.ToArbitrary(), input =>
        {
            using var x1 = managed.CreateX25519(input.A);
            using var x2 = native.CreateX25519(input.A);
            using var peer = native.CreateX25519(input.B);
            var s1 = new byte[32];
            var s2 = new byte[32];
            bool ok1 = x1.TryAgree(peer.PublicKey, s1);
            bool ok2 = x2.TryAgree(peer.PublicKey, s2);
            // Arbitrary bytes as a remote point too (twist points included): same answer or same refusal.
            var t1 = new byte[32];
            var t2 = new byte[32];
            bool twist1 = x1.TryAgree(input.B, t1);
            bool twist2 = x2.TryAgree(input.B, t2);

            using var e1 = managed.CreateEd25519(input.A);
            using var e2 = native.CreateEd25519(input.A);
            var sig1 = new byte[64];
            var sig2 = new byte[64];
            e1.Sign(input.Message, sig1);
            e2.Sign(input.Message, sig2);
            return x1.PublicKey.SequenceEqual(x2.PublicKey) && ok1 && ok2 && s1.AsSpan().SequenceEqual(s2)
                && twist1 == twist2 && t1.AsSpan().SequenceEqual(t2)
                && e1.PublicKey.SequenceEqual(e2.PublicKey) && sig1.AsSpan().SequenceEqual(sig2)
                && managed.Ed25519Verify(e2.PublicKey, input.Message, sig2) && native.Ed25519Verify(e1.PublicKey, input.Message, sig1);
        });
    }

    [Property(MaxTest = 500)]
    public Property Backends_AgreeOnDamagedSignaturesAndKeys()
    {
        var native = Curve25519Backends.RequireOpenSsl();
        byte[] key = Bytes(Rfc8032Test2Public);
        byte[] message = Bytes(Rfc8032Test2Message);
        byte[] valid = Bytes(Rfc8032Test2Signature);
        Gen<(int Index, byte Xor, bool InKey)> damage =
            from index in Gen.Choose(0, 63)
            from xor in Gen.Choose(1, 255)
            from inKey in ArbMap.Default.GeneratorFor<bool>()
            select (index, (byte)xor, inKey);
        return Prop.ForAll(damage.ToArbitrary(), d =>
        {
            byte[] k = key.ToArray();
            byte[] s = valid.ToArray();
            if (d.InKey)
            {
                k[d.Index % 32] ^= d.Xor;
            }
            else
            {
                s[d.Index] ^= d.Xor;
            }
            bool m = Curve25519Backend.Managed.Ed25519Verify(k, message, s);
            bool n = native.Ed25519Verify(k, message, s);
            return m == n && !m;
        });
    }

    [Theory]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000", "01000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "01000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f0000000000000000000000000000000000000000000000000000000000000000")]
    public void Ed25519_SmallOrderOrNonCanonicalKeyWithTrivialSignature_IsRefusedByTheDefaultAndTheFallback(string publicHex, string signatureHex)
    {
        // Identity and order-2 keys and non-canonical encodings (y = p) with R = identity, S = 0: whether such a
        // "signature" verifies depends on how strictly a library decodes points. libsodium (NSec, the default Ed25519
        // backend) and BouncyCastle 2.x (the managed fallback) refuse all three; OpenSSL 3 accepts one of them, one
        // reason Ed25519 does not run there when NSec loads (docs/dependencies.md).
        foreach (var backend in new[] { Curve25519Backend.Default, Curve25519Backend.Managed, Curve25519Backends.Get("nsec") })
        {
            Assert.False(backend.Ed25519Verify(Bytes(publicHex), "m"u8, Bytes(signatureHex)), backend.Name);
        }
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void Ed25519PrivateKey_OnEachBackend_RoundTripsAndVerifiesAcrossBackends(string backend)
    {
        using var key = Ed25519PrivateKey.FromData(Bytes(SpecEd25519Private).AsSpan(4), Curve25519Backends.Get(backend));
        byte[] message = "a message to sign"u8.ToArray();
        byte[] signature = key.Sign(message);
        foreach (string other in Curve25519Backends.All)
        {
            var publicKey = new Ed25519PublicKey(key.PublicKey.Data.ToArray(), Curve25519Backends.Get(other));
            Assert.True(publicKey.Verify(message, signature));
            Assert.False(publicKey.Verify(message.AsSpan(1), signature));
        }
        Assert.Equal(SpecEd25519Private, Convert.ToHexStringLower(key.ToProtobuf()));
    }
}
