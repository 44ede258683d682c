using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;

namespace P2PNet.Crypto;

/// <summary>secp256k1 keys: compressed 33-byte points, signatures DER(r, s) over SHA-256 of the message.</summary>
internal sealed class Secp256k1PublicKey : PublicKey
{
    internal static readonly X9ECParameters Curve = SecNamedCurves.GetByName("secp256k1");
    internal static readonly ECDomainParameters Domain = new(Curve.Curve, Curve.G, Curve.N, Curve.H);

    private readonly ECPublicKeyParameters _key;

    private Secp256k1PublicKey(byte[] data, ECPublicKeyParameters key) : base(data) => _key = key;

    public override KeyType Type => KeyType.Secp256k1;

    public static Secp256k1PublicKey Create(byte[] data)
    {
        if (data.Length is not (33 or 65))
        {
            throw new WireFormatException($"A secp256k1 public key is a 33-byte compressed point, not {data.Length} bytes.");
        }
        try
        {
            var point = Curve.Curve.DecodePoint(data);
            // Store the compressed form: it is what go and js put in the envelope.
            byte[] compressed = point.GetEncoded(true);
            return new Secp256k1PublicKey(compressed, new ECPublicKeyParameters(point, Domain));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or ArithmeticException)
        {
            // BouncyCastle reports a bad prefix byte as FormatException and an off-curve point as ArgumentException.
            throw new WireFormatException($"Not a point on secp256k1: {e.Message}", e);
        }
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.IsEmpty)
        {
            return false;
        }
        try
        {
            // FromByteArray returns null for some inputs rather than throwing; negative integers are refused by the
            // range check in VerifySignature, as r and s must lie in [1, n-1].
            if (Asn1Object.FromByteArray(signature.ToArray()) is not Asn1Sequence { Count: 2 } seq
                || seq[0] is not DerInteger r || seq[1] is not DerInteger s)
            {
                return false;
            }
            var signer = new ECDsaSigner();
            signer.Init(false, _key);
            return signer.VerifySignature(SHA256.HashData(data), r.Value, s.Value);
        }
        catch (Exception e) when (e is IOException or ArgumentException or FormatException or InvalidCastException or InvalidOperationException)
        {
            return false;
        }
    }
}

internal sealed class Secp256k1PrivateKey : PrivateKey
{
    private readonly ECPrivateKeyParameters _key;
    private readonly Secp256k1PublicKey _public;

    private Secp256k1PrivateKey(BigInteger d)
    {
        _key = new ECPrivateKeyParameters(d, Secp256k1PublicKey.Domain);
        var q = Secp256k1PublicKey.Domain.G.Multiply(d).Normalize();
        _public = Secp256k1PublicKey.Create(q.GetEncoded(true));
    }

    public override KeyType Type => KeyType.Secp256k1;

    public override PublicKey PublicKey => _public;

    public static Secp256k1PrivateKey FromData(ReadOnlySpan<byte> data)
    {
        if (data.Length != 32)
        {
            throw new WireFormatException($"A secp256k1 private key is 32 bytes, not {data.Length}.");
        }
        var d = new BigInteger(1, data.ToArray());
        if (d.SignValue == 0 || d.CompareTo(Secp256k1PublicKey.Domain.N) >= 0)
        {
            throw new WireFormatException("The secp256k1 private key is out of range.");
        }
        return new Secp256k1PrivateKey(d);
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        var signer = new ECDsaSigner(new HMacDsaKCalculator(new Sha256Digest()));
        signer.Init(true, _key);
        var rs = signer.GenerateSignature(SHA256.HashData(data));
        var s = rs[1];
        var halfN = Secp256k1PublicKey.Domain.N.ShiftRight(1);
        if (s.CompareTo(halfN) > 0)
        {
            s = Secp256k1PublicKey.Domain.N.Subtract(s); // low-S, as bitcoin-style verifiers require
        }
        return new DerSequence(new DerInteger(rs[0]), new DerInteger(s)).GetDerEncoded();
    }

    protected override byte[] ExportData()
    {
        byte[] raw = _key.D.ToByteArrayUnsigned();
        var data = new byte[32];
        raw.CopyTo(data, 32 - raw.Length);
        return data;
    }
}
