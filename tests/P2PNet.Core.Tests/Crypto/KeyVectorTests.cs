using System.Text;
using P2PNet.Crypto;
using P2PNet.Peers;
using static P2PNet.Core.Tests.Crypto.KeyVectors;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Known answers from libp2p/specs (peer-ids, tls), go-libp2p's fixtures and RFC 8032.</summary>
public sealed class KeyVectorTests
{
    private static readonly Dictionary<KeyType, (string Private, string Public, string PeerId)> Spec = new()
    {
        [KeyType.Ed25519] = (SpecEd25519Private, SpecEd25519Public, SpecEd25519PeerId),
        [KeyType.Secp256k1] = (SpecSecp256k1Private, SpecSecp256k1Public, SpecSecp256k1PeerId),
        [KeyType.Ecdsa] = (SpecEcdsaPrivate, SpecEcdsaPublic, SpecEcdsaPeerId),
        [KeyType.Rsa] = (SpecRsaPrivate, SpecRsaPublic, SpecRsaPeerId),
    };

    public static TheoryData<KeyType> SpecKeyTypes => new(KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa, KeyType.Rsa);

    public static TheoryData<KeyType, string, string, string> GoFixtures => new()
    {
        { KeyType.Rsa, GoRsaPrivate, GoRsaPublic, GoRsaSignature },
        { KeyType.Secp256k1, GoSecp256k1Private, GoSecp256k1Public, GoSecp256k1Signature },
        { KeyType.Ecdsa, GoEcdsaPrivate, GoEcdsaPublic, GoEcdsaSignature },
    };

    public static TheoryData<KeyType, string, string, string> TlsKeys => new()
    {
        { KeyType.Ed25519, TlsEd25519Public, TlsEd25519Signature, TlsEd25519PeerId },
        { KeyType.Ecdsa, TlsEcdsaPublic, TlsEcdsaSignature, TlsEcdsaPeerId },
        { KeyType.Secp256k1, TlsSecp256k1Public, TlsSecp256k1Signature, TlsSecp256k1PeerId },
    };

    private static byte[] TlsSignedMessage => [.. Encoding.ASCII.GetBytes(TlsSignaturePrefix), .. Bytes(TlsCertificateSpki)];

    [Theory]
    [MemberData(nameof(SpecKeyTypes))]
    public void FromProtobuf_SpecPrivateKey_DerivesTheSpecPublicKey(KeyType type)
    {
        var (privateHex, publicHex, _) = Spec[type];
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        Assert.Equal(type, key.Type);
        Assert.Equal(type, key.PublicKey.Type);
        Assert.Equal(publicHex, Convert.ToHexStringLower(key.PublicKey.ToProtobuf()));
    }

    [Theory]
    [MemberData(nameof(SpecKeyTypes))]
    public void ToProtobuf_SpecPrivateKey_ReEncodesByteForByte(KeyType type)
    {
        string privateHex = Spec[type].Private;
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        Assert.Equal(privateHex, Convert.ToHexStringLower(key.ToProtobuf()));
    }

    [Theory]
    [MemberData(nameof(SpecKeyTypes))]
    public void ToProtobuf_SpecPublicKey_ReEncodesByteForByte(KeyType type)
    {
        string publicHex = Spec[type].Public;
        var key = PublicKey.FromProtobuf(Bytes(publicHex));
        Assert.Equal(type, key.Type);
        Assert.Equal(publicHex, Convert.ToHexStringLower(key.ToProtobuf()));
    }

    [Theory]
    [MemberData(nameof(SpecKeyTypes))]
    public void ToPeerId_SpecKey_GivesTheKnownPeerId(KeyType type)
    {
        var (privateHex, publicHex, peerId) = Spec[type];
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        Assert.Equal(peerId, key.PublicKey.ToPeerId().ToString());
        Assert.Equal(peerId, PublicKey.FromProtobuf(Bytes(publicHex)).ToPeerId().ToString());
        Assert.True(PeerId.Parse(peerId).Matches(key.PublicKey));
    }

    [Theory]
    [MemberData(nameof(SpecKeyTypes))]
    public void Sign_SpecKey_VerifiesWithThePublicKeyAndNotAfterTampering(KeyType type)
    {
        var (privateHex, publicHex, _) = Spec[type];
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        var publicKey = PublicKey.FromProtobuf(Bytes(publicHex));
        byte[] message = Encoding.UTF8.GetBytes("a message to sign");
        byte[] signature = key.Sign(message);

        Assert.True(publicKey.Verify(message, signature));
        Assert.False(publicKey.Verify([.. message, 0], signature));
        signature[^1] ^= 0x01;
        Assert.False(publicKey.Verify(message, signature));
    }

    [Fact]
    public void PeerId_OfSpecEd25519Key_IsAnIdentityIdStartingWith12D3KooW()
    {
        var id = PublicKey.FromProtobuf(Bytes(SpecEd25519Public)).ToPeerId();
        Assert.StartsWith("12D3KooW", id.ToString(), StringComparison.Ordinal);
        Assert.Equal(0x00, id.Bytes[0]); // identity multihash
    }

    [Fact]
    public void PeerId_OfSpecRsaKey_IsASha256IdStartingWithQm()
    {
        var id = PublicKey.FromProtobuf(Bytes(SpecRsaPublic)).ToPeerId();
        Assert.StartsWith("Qm", id.ToString(), StringComparison.Ordinal);
        Assert.Equal(0x12, id.Bytes[0]); // sha2-256 multihash
    }

    [Theory]
    [MemberData(nameof(GoFixtures))]
    public void GoFixture_KeysReEncodeByteForByteAndTheSignatureVerifies(KeyType type, string privateHex, string publicHex, string signatureHex)
    {
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        var publicKey = PublicKey.FromProtobuf(Bytes(publicHex));
        byte[] message = Encoding.ASCII.GetBytes(GoFixtureMessage);

        Assert.Equal(type, key.Type);
        Assert.Equal(privateHex, Convert.ToHexStringLower(key.ToProtobuf()));
        Assert.Equal(publicHex, Convert.ToHexStringLower(publicKey.ToProtobuf()));
        Assert.Equal(publicKey, key.PublicKey);
        Assert.True(publicKey.Verify(message, Bytes(signatureHex)));
        Assert.False(publicKey.Verify(Encoding.ASCII.GetBytes(GoFixtureMessage + "!"), Bytes(signatureHex)));
    }

    [Theory]
    [InlineData(KeyType.Rsa, GoRsaPrivate, GoRsaSignature)]
    [InlineData(KeyType.Secp256k1, GoSecp256k1Private, GoSecp256k1Signature)]
    public void Sign_DeterministicKeyTypes_ReproduceGoSignatureByteForByte(KeyType type, string privateHex, string signatureHex)
    {
        // RSA PKCS#1 v1.5 is deterministic; go signs secp256k1 with RFC 6979 nonces and low-S, as we do.
        using var key = PrivateKey.FromProtobuf(Bytes(privateHex));
        Assert.Equal(type, key.Type);
        Assert.Equal(signatureHex, Convert.ToHexStringLower(key.Sign(Encoding.ASCII.GetBytes(GoFixtureMessage))));
    }

    [Fact]
    public void FromProtobuf_GoPeerTestRsaKey_GivesGoPeerId()
    {
        using var key = PrivateKey.FromProtobuf(Bytes(GoPeerTestRsaPrivate));
        Assert.Equal(GoPeerTestRsaPeerId, key.PublicKey.ToPeerId().ToString());
    }

    [Theory]
    [MemberData(nameof(TlsKeys))]
    public void TlsSpecVector_PublicKeyGivesThePeerIdAndVerifiesTheCertificateSignature(KeyType type, string publicHex, string signatureHex, string peerId)
    {
        var key = PublicKey.FromProtobuf(Bytes(publicHex));
        Assert.Equal(type, key.Type);
        Assert.Equal(peerId, key.ToPeerId().ToString());
        Assert.True(key.Verify(TlsSignedMessage, Bytes(signatureHex)));
    }

    [Fact]
    public void TlsSpecInvalidCertificate_SignatureDoesNotVerify()
    {
        var key = PublicKey.FromProtobuf(Bytes(TlsInvalidEcdsaPublic));
        Assert.False(key.Verify(TlsSignedMessage, Bytes(TlsInvalidEcdsaSignature)));
    }

    public static TheoryData<string, string, string, string, string> Rfc8032Vectors
    {
        get
        {
            var data = new TheoryData<string, string, string, string, string>();
            foreach (string backend in Curve25519Backends.All)
            {
                data.Add(backend, Rfc8032Test1Seed, Rfc8032Test1Public, Rfc8032Test1Message, Rfc8032Test1Signature);
                data.Add(backend, Rfc8032Test2Seed, Rfc8032Test2Public, Rfc8032Test2Message, Rfc8032Test2Signature);
                data.Add(backend, Rfc8032Test3Seed, Rfc8032Test3Public, Rfc8032Test3Message, Rfc8032Test3Signature);
            }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519_Rfc8032Vector_DerivesThePublicKeyAndSignsExactly(string backend, string seed, string publicHex, string messageHex, string signatureHex)
    {
        var b = Curve25519Backends.Get(backend);
        using var key = Ed25519PrivateKey.FromData(Bytes(seed + publicHex), b);
        Assert.Equal(publicHex, Convert.ToHexStringLower(key.PublicKey.Data));
        Assert.Equal(signatureHex, Convert.ToHexStringLower(key.Sign(Bytes(messageHex))));

        var publicKey = new Ed25519PublicKey(Bytes(publicHex), b);
        Assert.True(publicKey.Verify(Bytes(messageHex), Bytes(signatureHex)));
        Assert.False(publicKey.Verify([.. Bytes(messageHex), 0x00], Bytes(signatureHex)));
    }

    [Fact]
    public void Ed25519_Rfc8032Vector_ThroughTheProtobufEnvelope()
    {
        using var key = PrivateKey.FromProtobuf(Bytes("08011240" + Rfc8032Test2Seed + Rfc8032Test2Public));
        Assert.Equal(Rfc8032Test2Signature, Convert.ToHexStringLower(key.Sign(Bytes(Rfc8032Test2Message))));
        Assert.True(PublicKey.Create(KeyType.Ed25519, Bytes(Rfc8032Test2Public)).Verify(Bytes(Rfc8032Test2Message), Bytes(Rfc8032Test2Signature)));
    }
}
