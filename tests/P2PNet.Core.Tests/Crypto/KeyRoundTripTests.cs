using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Crypto;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.Crypto;

public sealed class KeyRoundTripTests
{
    // secp256k1 group order n.
    private static readonly System.Numerics.BigInteger Secp256k1Order = System.Numerics.BigInteger.Parse(
        "0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

    private static Gen<byte[]> Messages => ArbMap.Default.GeneratorFor<byte[]>().Select(b => b ?? []);

    private static Gen<byte[]> Secp256k1Scalars =>
        Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 32).Where(d =>
        {
            var n = new System.Numerics.BigInteger(d, isUnsigned: true, isBigEndian: true);
            return !n.IsZero && n < Secp256k1Order;
        });

    [Property(MaxTest = 200)]
    public Property GenerateEd25519_RoundTripsThroughProtobufAndSignsVerifiably()
    {
        return Prop.ForAll(Messages.ToArbitrary(), message =>
        {
            using var key = PrivateKey.GenerateEd25519();
            byte[] encoded = key.ToProtobuf();
            using var decoded = PrivateKey.FromProtobuf(encoded);

            Assert.Equal(KeyType.Ed25519, decoded.Type);
            Assert.Equal(encoded, decoded.ToProtobuf());
            Assert.Equal(key.PublicKey, decoded.PublicKey);
            Assert.Equal(68, encoded.Length); // type, then 64 bytes: seed || public key
            Assert.True(decoded.PublicKey.Verify(message, key.Sign(message)));
            Assert.StartsWith("12D3KooW", key.PublicKey.ToPeerId().ToString(), StringComparison.Ordinal);
        });
    }

    [Property(MaxTest = 100)]
    public Property Secp256k1_AnyValidScalar_RoundTripsAndSignsVerifiably()
    {
        return Prop.ForAll(Secp256k1Scalars.ToArbitrary(), Messages.ToArbitrary(), (scalar, message) =>
        {
            byte[] encoded = KeyEnvelopes.Encode(KeyType.Secp256k1, scalar);
            using var key = PrivateKey.FromProtobuf(encoded);
            Assert.Equal(encoded, key.ToProtobuf());

            byte[] publicEncoded = key.PublicKey.ToProtobuf();
            Assert.Equal(37, publicEncoded.Length); // compressed point: identity peer id
            Assert.Equal(key.PublicKey, PublicKey.FromProtobuf(publicEncoded));
            Assert.StartsWith("16Uiu2HA", key.PublicKey.ToPeerId().ToString(), StringComparison.Ordinal);

            byte[] signature = key.Sign(message);
            Assert.True(key.PublicKey.Verify(message, signature));
            Assert.Equal(signature, key.Sign(message)); // RFC 6979: deterministic
        });
    }

    [Theory]
    [InlineData("nistP256")]
    [InlineData("nistP384")]
    [InlineData("nistP521")]
    public void Ecdsa_KeyFromDotNet_RoundTripsAndInteroperatesWithDotNetSignatures(string curve)
    {
        using var ecdsa = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));
        byte[] encoded = KeyEnvelopes.Encode(KeyType.Ecdsa, ecdsa.ExportECPrivateKey());
        using var key = PrivateKey.FromProtobuf(encoded);

        Assert.Equal(encoded, key.ToProtobuf());
        Assert.Equal(KeyEnvelopes.Encode(KeyType.Ecdsa, ecdsa.ExportSubjectPublicKeyInfo()), key.PublicKey.ToProtobuf());
        Assert.StartsWith("Qm", key.PublicKey.ToPeerId().ToString(), StringComparison.Ordinal);

        byte[] message = [1, 2, 3];
        byte[] ours = key.Sign(message);
        Assert.True(ecdsa.VerifyData(message, ours, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        byte[] theirs = ecdsa.SignData(message, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        Assert.True(key.PublicKey.Verify(message, theirs));
    }

    [Fact]
    public void Ecdsa_Pkcs8PrivateKey_IsAcceptedAndReEncodedAsSec1()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var key = PrivateKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Ecdsa, ecdsa.ExportPkcs8PrivateKey()));
        Assert.Equal(KeyEnvelopes.Encode(KeyType.Ecdsa, ecdsa.ExportECPrivateKey()), key.ToProtobuf());
    }

    [Fact]
    public void Rsa_KeyFromDotNet_RoundTripsAndInteroperatesWithDotNetSignatures()
    {
        using var rsa = RSA.Create(2048);
        byte[] encoded = KeyEnvelopes.Encode(KeyType.Rsa, rsa.ExportRSAPrivateKey());
        using var key = PrivateKey.FromProtobuf(encoded);

        Assert.Equal(encoded, key.ToProtobuf());
        Assert.Equal(KeyEnvelopes.Encode(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo()), key.PublicKey.ToProtobuf());

        byte[] message = [4, 5, 6];
        byte[] ours = key.Sign(message);
        Assert.True(rsa.VerifyData(message, ours, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.True(key.PublicKey.Verify(message, rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
        Assert.False(key.PublicKey.Verify(message, rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)));
    }

    [Fact]
    public void Ed25519_LegacyNinetySixByteKey_IsAcceptedAndReEncodedAsSixtyFourBytes()
    {
        using var original = PrivateKey.GenerateEd25519();
        byte[] data = original.ToProtobuf()[4..];
        byte[] legacy = KeyEnvelopes.Encode(KeyType.Ed25519, [.. data, .. data[32..]]);

        using var key = PrivateKey.FromProtobuf(legacy);
        Assert.Equal(original.ToProtobuf(), key.ToProtobuf());
    }

    [Fact]
    public void Secp256k1_UncompressedPublicKey_IsReadAndReEncodedCompressedAsGoDoes()
    {
        var compressedKey = PublicKey.FromProtobuf(KeyVectors.Bytes(KeyVectors.SpecSecp256k1Public));
        var curve = Org.BouncyCastle.Asn1.Sec.SecNamedCurves.GetByName("secp256k1").Curve;
        byte[] uncompressed = curve.DecodePoint(compressedKey.Data.ToArray()).GetEncoded(false);
        Assert.Equal(65, uncompressed.Length);

        var key = PublicKey.FromProtobuf(KeyEnvelopes.Encode(KeyType.Secp256k1, uncompressed));

        Assert.Equal(compressedKey, key);
        Assert.Equal(KeyVectors.SpecSecp256k1Public, Convert.ToHexStringLower(key.ToProtobuf()));
        Assert.Equal(KeyVectors.SpecSecp256k1PeerId, key.ToPeerId().ToString());
    }

    [Fact]
    public void PublicKey_Equality_ComparesTypeAndBytes()
    {
        using var a = PrivateKey.GenerateEd25519();
        using var b = PrivateKey.GenerateEd25519();
        var a2 = PublicKey.FromProtobuf(a.PublicKey.ToProtobuf());

        Assert.Equal(a.PublicKey, a2);
        Assert.Equal(a.PublicKey.GetHashCode(), a2.GetHashCode());
        Assert.NotEqual(a.PublicKey, b.PublicKey);
        Assert.False(a.PublicKey.Equals(null));
    }

    [Fact]
    public void PublicKey_ToString_NamesTheTypeAndPeerId()
    {
        using var key = PrivateKey.GenerateEd25519();
        Assert.Equal($"Ed25519 {key.PublicKey.ToPeerId()}", key.PublicKey.ToString());
    }

    [Fact]
    public void Verify_SignatureOfTheWrongLengthOrShape_ReturnsFalseForEveryKeyType()
    {
        var keys = new[]
        {
            KeyVectors.SpecEd25519Public, KeyVectors.SpecSecp256k1Public, KeyVectors.SpecEcdsaPublic, KeyVectors.SpecRsaPublic,
        }.Select(hex => PublicKey.FromProtobuf(KeyVectors.Bytes(hex)));
        byte[][] signatures = [[], [0x30], [0x30, 0x00], new byte[64], new byte[512], [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]];
        foreach (var key in keys)
        {
            foreach (var signature in signatures)
            {
                Assert.False(key.Verify([1, 2, 3], signature), $"{key.Type} accepted {Convert.ToHexString(signature)}");
            }
        }
    }

    [Fact]
    public void PeerId_FromDifferentKeys_Differ()
    {
        using var a = PrivateKey.GenerateEd25519();
        using var b = PrivateKey.GenerateEd25519();
        Assert.NotEqual(a.PublicKey.ToPeerId(), b.PublicKey.ToPeerId());
        Assert.False(PeerId.FromPublicKey(a.PublicKey).Matches(b.PublicKey));
    }
}
