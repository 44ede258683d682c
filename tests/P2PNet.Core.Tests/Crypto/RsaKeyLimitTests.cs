using System.Formats.Asn1;
using System.Numerics;
using P2PNet.Core.Tests.IO;
using P2PNet.Crypto;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>
/// RSA public keys from peers: modulus 2048–8192 bits (go-libp2p's range) and an odd public exponent from 3 to 2^31 − 1
/// (Go's crypto/rsa limit), so no peer can make one signature check cost a private-key-sized exponentiation.
/// </summary>
public sealed class RsaKeyLimitTests
{
    private static readonly byte[] Modulus2048 = RandomOddModulus(2048);

    /// <summary>Any odd number with the top bit set parses as a modulus: importing checks the encoding, not primality.</summary>
    private static byte[] RandomOddModulus(int bits)
    {
        var bytes = new byte[bits / 8];
        new Random(bits).NextBytes(bytes);
        bytes[0] |= 0x80;
        bytes[^1] |= 1;
        return bytes;
    }

    /// <summary>SubjectPublicKeyInfo { rsaEncryption, RSAPublicKey { n, e } } wrapped in the libp2p PublicKey protobuf.</summary>
    private static byte[] RsaPublicKeyProtobuf(byte[] modulus, BigInteger exponent)
    {
        var rsaKey = new AsnWriter(AsnEncodingRules.DER);
        using (rsaKey.PushSequence())
        {
            rsaKey.WriteInteger(new BigInteger(modulus, isUnsigned: true, isBigEndian: true));
            rsaKey.WriteInteger(exponent);
        }
        var spki = new AsnWriter(AsnEncodingRules.DER);
        using (spki.PushSequence())
        {
            using (spki.PushSequence())
            {
                spki.WriteObjectIdentifier("1.2.840.113549.1.1.1");
                spki.WriteNull();
            }
            spki.WriteBitString(rsaKey.Encode());
        }
        return KeyEnvelopes.Encode(KeyType.Rsa, spki.Encode());
    }

    [Fact]
    public void PublicKeyFromProtobuf_ExponentAsLongAsTheModulus_ThrowsWireFormatException()
    {
        var exponent = new BigInteger(RandomOddModulus(2048), isUnsigned: true, isBigEndian: true) - 2;

        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(RsaPublicKeyProtobuf(Modulus2048, exponent)), "exponent");
    }

    [Theory]
    [InlineData("2147483649")] // 2^31 + 1
    [InlineData("4294967297")] // 2^32 + 1
    [InlineData("18446744073709551617")] // 2^64 + 1
    public void PublicKeyFromProtobuf_ExponentOutsideTheAcceptedRange_ThrowsWireFormatException(string exponent) =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(RsaPublicKeyProtobuf(Modulus2048, BigInteger.Parse(exponent, System.Globalization.CultureInfo.InvariantCulture))), "exponent");

    [Theory]
    [InlineData("65536")] // even: no inverse, so no private key; OpenSSL's import refuses it too
    [InlineData("1")]
    public void PublicKeyFromProtobuf_EvenOrTrivialExponent_ThrowsWireFormatException(string exponent) =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(RsaPublicKeyProtobuf(Modulus2048, BigInteger.Parse(exponent, System.Globalization.CultureInfo.InvariantCulture))));

    [Theory]
    [InlineData("3")]
    [InlineData("65537")]
    [InlineData("2147483647")] // 2^31 − 1, Go's largest
    public void PublicKeyFromProtobuf_ExponentInRange_IsAccepted(string exponent)
    {
        var key = PublicKey.FromProtobuf(RsaPublicKeyProtobuf(Modulus2048, BigInteger.Parse(exponent, System.Globalization.CultureInfo.InvariantCulture)));

        Assert.Equal(KeyType.Rsa, key.Type);
    }

    [Theory]
    [InlineData(2040)]
    [InlineData(8200)]
    public void PublicKeyFromProtobuf_ModulusOutside2048To8192Bits_ThrowsWireFormatException(int bits) =>
        WireFormatAssert.Throws(() => PublicKey.FromProtobuf(RsaPublicKeyProtobuf(RandomOddModulus(bits), 65537)), "bits");

    [Theory]
    [InlineData(2048)]
    [InlineData(8192)]
    public void PublicKeyFromProtobuf_ModulusAtTheBounds_IsAccepted(int bits) =>
        Assert.Equal(KeyType.Rsa, PublicKey.FromProtobuf(RsaPublicKeyProtobuf(RandomOddModulus(bits), 65537)).Type);
}
