using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.IO;
using P2PNet.Crypto;
using static P2PNet.Core.Tests.Crypto.KeyVectors;

namespace P2PNet.Core.Tests.Crypto;

public sealed class KeyMalformedTests
{
    private static readonly byte[][] PublicSeeds =
        [.. new[] { SpecEd25519Public, SpecSecp256k1Public, SpecEcdsaPublic, SpecRsaPublic, GoRsaPublic, TlsEcdsaPublic }.Select(Bytes)];

    private static readonly byte[][] PrivateSeeds =
        [.. new[] { SpecEd25519Private, SpecSecp256k1Private, SpecEcdsaPrivate, GoRsaPrivate, GoEcdsaPrivate }.Select(Bytes)];

    [Theory]
    [InlineData("", "Type")]
    [InlineData("0801", "Data")]
    [InlineData("1200", "Type")]
    [InlineData("08011220aabb", "protobuf")] // Data claims 32 bytes, has 2
    [InlineData("0801122", "protobuf")]
    [InlineData("ffffffff", "protobuf")]
    public void PublicKeyFromProtobuf_BrokenEnvelope_ThrowsWireFormatException(string hex, string fragment) =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(Convert.FromHexString(hex.Length % 2 == 0 ? hex : hex + "0")), fragment);

    [Fact]
    public void PublicKeyFromProtobuf_UnknownKeyType_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(7, new byte[32])));

    [Fact]
    public void PublicKeyFromProtobuf_Ed25519OfWrongLength_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ed25519, new byte[31])), "32 bytes");

    [Fact]
    public void PublicKeyFromProtobuf_Secp256k1NotOnTheCurve_ThrowsWireFormatException()
    {
        byte[] x = Enumerable.Repeat((byte)0xff, 32).ToArray(); // x >= p: no such point
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Secp256k1, [0x02, .. x])), "secp256k1");
    }

    [Fact]
    public void PublicKeyFromProtobuf_Secp256k1OfWrongLength_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Secp256k1, new byte[32])), "33-byte");

    [Fact]
    public void PublicKeyFromProtobuf_EcdsaGarbage_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ecdsa, [0x30, 0x03, 0x02, 0x01, 0x01])), "ECDSA");

    [Fact]
    public void PublicKeyFromProtobuf_RsaKeyInEcdsaEnvelope_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ecdsa, PublicKey.FromProtobuf(Bytes(SpecRsaPublic)).Data)), "ECDSA");

    [Fact]
    public void PublicKeyFromProtobuf_RsaKeyWithTrailingBytes_ThrowsWireFormatException()
    {
        byte[] spki = PublicKey.FromProtobuf(Bytes(GoRsaPublic)).Data.ToArray();
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Rsa, [.. spki, 0x00])), "trailing");
    }

    [Fact]
    public void PublicKeyFromProtobuf_RsaKeySmallerThan2048Bits_ThrowsWireFormatException()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(1024);
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo())), "2048");
    }

    [Fact]
    public void PublicKeyFromProtobuf_OversizeInput_ThrowsWireFormatExceptionWithoutParsing() =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Rsa, new byte[10_000])), "allowed");

    [Fact]
    public void PublicKeyCreate_UndefinedKeyType_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PublicKey.Create((KeyType)9, new byte[32]), "unknown key type");

    [Fact]
    public void PrivateKeyFromProtobuf_Ed25519WithForeignPublicHalf_ThrowsWireFormatException()
    {
        byte[] data = Bytes(SpecEd25519Private)[4..];
        data[40] ^= 1;
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ed25519, data)), "does not match");
    }

    [Fact]
    public void PrivateKeyFromProtobuf_LegacyEd25519WithDifferentThirdPart_ThrowsWireFormatException()
    {
        // peer-ids.md: in the 96-byte form the two public keys must be identical, else the key is invalid.
        byte[] data = Bytes(SpecEd25519Private)[4..];
        byte[] other = new byte[32];
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ed25519, [.. data, .. other])), "public");
    }

    [Theory]
    [InlineData(32)]
    [InlineData(63)]
    [InlineData(65)]
    [InlineData(128)]
    public void PrivateKeyFromProtobuf_Ed25519OfWrongLength_ThrowsWireFormatException(int length) =>
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ed25519, new byte[length])), "64 bytes");

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")] // n
    [InlineData("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    public void PrivateKeyFromProtobuf_Secp256k1ScalarOutOfRange_ThrowsWireFormatException(string hex) =>
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Secp256k1, Convert.FromHexString(hex))), "out of range");

    [Fact]
    public void PrivateKeyFromProtobuf_Secp256k1OfWrongLength_ThrowsWireFormatException() =>
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Secp256k1, new byte[33])), "32 bytes");

    [Theory]
    [InlineData(KeyType.Rsa)]
    [InlineData(KeyType.Ecdsa)]
    public void PrivateKeyFromProtobuf_DerGarbage_ThrowsWireFormatException(KeyType type) =>
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(type, [0x30, 0x03, 0x02, 0x01, 0x00])), type.ToString());

    [Theory]
    [InlineData(KeyType.Rsa)]
    [InlineData(KeyType.Ecdsa)]
    public void PrivateKeyFromProtobuf_DerKeyWithTrailingBytes_ThrowsWireFormatException(KeyType type)
    {
        byte[] data = (type == KeyType.Rsa ? Bytes(GoRsaPrivate) : Bytes(SpecEcdsaPrivate))[(type == KeyType.Rsa ? 5 : 4)..];
        WireFormatAssert.Throws(() => PrivateKey.FromProtobuf(KeyEnvelopes.Encode(type, [.. data, 0x00])), "trailing");
    }

    [Property(MaxTest = 3000)]
    public Property PublicKeyFromProtobuf_ArbitraryOrDamagedInput_SucceedsOrThrowsWireFormatException()
    {
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(PublicSeeds), bytes =>
        {
            if (WireFormatAssert.SucceedsOrThrowsWireFormat(() => PublicKey.FromProtobuf(bytes)))
            {
                // Whatever is accepted must be usable.
                var key = PublicKey.FromProtobuf(bytes);
                _ = key.ToPeerId();
                _ = key.Verify([1], [2]);
            }
        });
    }

    [Property(MaxTest = 2000)]
    public Property PrivateKeyFromProtobuf_ArbitraryOrDamagedInput_SucceedsOrThrowsWireFormatException()
    {
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(PrivateSeeds), bytes =>
        {
            _ = WireFormatAssert.SucceedsOrThrowsWireFormat(() =>
            {
                using var key = PrivateKey.FromProtobuf(bytes);
                _ = key.PublicKey.ToPeerId();
            });
        });
    }

    [Property(MaxTest = 500)]
    public Property Verify_ArbitraryOrDamagedRsaSignature_NeverThrowsAndNeverAcceptsAChangedSignature() =>
        OnlyTheOriginalSignatureVerifies([PublicKey.FromProtobuf(Bytes(GoRsaPublic))], System.Text.Encoding.ASCII.GetBytes(GoFixtureMessage), Bytes(GoRsaSignature));

    [Property(MaxTest = 500)]
    public Property Verify_ArbitraryOrDamagedSecp256k1Signature_NeverThrowsAndNeverAcceptsAChangedSignature() =>
        OnlyTheOriginalSignatureVerifies([PublicKey.FromProtobuf(Bytes(GoSecp256k1Public))], System.Text.Encoding.ASCII.GetBytes(GoFixtureMessage), Bytes(GoSecp256k1Signature));

    [Property(MaxTest = 500)]
    public Property Verify_ArbitraryOrDamagedEcdsaSignature_NeverThrowsAndNeverAcceptsAChangedSignature() =>
        OnlyTheOriginalSignatureVerifies([PublicKey.FromProtobuf(Bytes(GoEcdsaPublic))], System.Text.Encoding.ASCII.GetBytes(GoFixtureMessage), Bytes(GoEcdsaSignature));

    [Property(MaxTest = 500)]
    public Property Verify_ArbitraryOrDamagedEd25519Signature_OnEveryBackend_NeverThrowsAndNeverAcceptsAChangedSignature()
    {
        byte[] publicKey = PublicKey.FromProtobuf(Bytes(TlsEd25519Public)).Data.ToArray();
        return OnlyTheOriginalSignatureVerifies(
            [.. Curve25519Backends.All.Select(name => (PublicKey)new Ed25519PublicKey(publicKey, Curve25519Backends.Get(name)))],
            [.. System.Text.Encoding.ASCII.GetBytes(TlsSignaturePrefix), .. Bytes(TlsCertificateSpki)],
            Bytes(TlsEd25519Signature));
    }

    // Each key (one per Ed25519 backend) verifies the fixture, and only the original byte string: no damaged or
    // re-encoded signature is accepted.
    private static Property OnlyTheOriginalSignatureVerifies(PublicKey[] keys, byte[] signed, byte[] valid)
    {
        foreach (var key in keys)
        {
            Assert.True(key.Verify(signed, valid));
        }
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(valid), signature =>
            keys.All(key => !key.Verify(signed, signature) || signature.AsSpan().SequenceEqual(valid)));
    }
}
