using System.Security.Cryptography;

namespace P2PNet.Crypto;

/// <summary>RSA keys: PKIX DER public keys, PKCS#1 DER private keys, PKCS#1 v1.5 SHA-256 signatures.</summary>
internal sealed class RsaPublicKey : PublicKey
{
    /// <summary>go- and js-libp2p refuse smaller keys.</summary>
    public const int MinBits = 2048;
    public const int MaxBits = 8192;

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
            return new RsaPublicKey(data, rsa.ExportParameters(false));
        }
        catch (CryptographicException e)
        {
            throw new WireFormatException($"Not a valid PKIX RSA public key: {e.Message}", e);
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
