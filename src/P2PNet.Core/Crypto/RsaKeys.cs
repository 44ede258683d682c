using System.Security.Cryptography;

namespace P2PNet.Crypto;

/// <summary>RSA keys: PKIX DER public keys, PKCS#1 DER private keys, PKCS#1 v1.5 SHA-256 signatures.</summary>
internal sealed class RsaPublicKey : PublicKey
{
    /// <summary>go- and js-libp2p refuse smaller keys.</summary>
    public const int MinBits = 2048;

    /// <summary>go-libp2p's limit (8192 bits, its "RSA key too big" error): a larger modulus only costs verification time.</summary>
    public const int MaxBits = 8192;

    /// <summary>
    /// The largest public exponent accepted: 2^31 − 1, Go's <c>crypto/rsa</c> limit (so go-libp2p's), which keeps
    /// verification cost independent of the exponent. Without it a key with an exponent as long as its modulus
    /// turns one signature check into a full private-key-sized exponentiation. Real keys use 65537.
    /// </summary>
    public const long MaxExponent = int.MaxValue;

    private readonly RSAParameters _parameters;

    private RsaPublicKey(byte[] data, RSAParameters parameters) : base(data) => _parameters = parameters;

    public override KeyType Type => KeyType.Rsa;

    public static RsaPublicKey Create(byte[] data)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(data, out int read);
            if (read != data.Length)
            {
                throw new WireFormatException("The RSA public key has trailing bytes.");
            }
            if (rsa.KeySize is < MinBits or > MaxBits)
            {
                throw new WireFormatException($"RSA keys must have {MinBits} to {MaxBits} bits, not {rsa.KeySize}.");
            }
            var parameters = rsa.ExportParameters(false);
            CheckExponent(parameters.Exponent!);
            return new RsaPublicKey(data, parameters);
        }
        catch (CryptographicException e)
        {
            throw new WireFormatException($"Not a valid PKIX RSA public key: {e.Message}", e);
        }
    }

    /// <summary>An RSA public exponent must be odd (even ones have no inverse) and within 3 ..= <see cref="MaxExponent"/>.</summary>
    private static void CheckExponent(ReadOnlySpan<byte> exponent)
    {
        exponent = exponent.TrimStart((byte)0);
        if (exponent.Length > sizeof(long))
        {
            throw new WireFormatException($"The RSA public exponent is {exponent.Length * 8} bits long; at most {MaxExponent} is accepted.");
        }
        long e = 0;
        foreach (byte b in exponent)
        {
            e = e << 8 | b;
        }
        if (e is < 3 or > MaxExponent || (e & 1) == 0)
        {
            throw new WireFormatException($"The RSA public exponent {e} is not an odd number from 3 to {MaxExponent}.");
        }
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var rsa = RSA.Create(_parameters);
            return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

internal sealed class RsaPrivateKey : PrivateKey
{
    private readonly RSA _key;
    private readonly RsaPublicKey _public;

    private RsaPrivateKey(RSA key)
    {
        _key = key;
        _public = RsaPublicKey.Create(key.ExportSubjectPublicKeyInfo());
    }

    public override KeyType Type => KeyType.Rsa;

    public override PublicKey PublicKey => _public;

    public static RsaPrivateKey FromData(ReadOnlySpan<byte> data)
    {
        var rsa = RSA.Create();
        try
        {
            int read;
            try
            {
                rsa.ImportRSAPrivateKey(data, out read);
            }
            catch (CryptographicException)
            {
                rsa.ImportPkcs8PrivateKey(data, out read);
            }
            if (read != data.Length)
            {
                throw new WireFormatException("The RSA private key has trailing bytes.");
            }
            return new RsaPrivateKey(rsa);
        }
        catch (CryptographicException e)
        {
            rsa.Dispose();
            throw new WireFormatException($"Not a valid RSA private key: {e.Message}", e);
        }
        catch (WireFormatException)
        {
            rsa.Dispose();
            throw;
        }
    }

    public override byte[] Sign(ReadOnlySpan<byte> data) =>
        _key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    protected override byte[] ExportData() => _key.ExportRSAPrivateKey();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _key.Dispose();
        }
        base.Dispose(disposing);
    }
}
