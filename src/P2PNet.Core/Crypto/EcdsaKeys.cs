using System.Security.Cryptography;

namespace P2PNet.Crypto;

/// <summary>ECDSA keys (P-256, P-384, P-521): PKIX DER public keys, signatures DER over SHA-256.</summary>
internal sealed class EcdsaPublicKey : PublicKey
{
    private readonly ECParameters _parameters;

    private EcdsaPublicKey(byte[] data, ECParameters parameters) : base(data) => _parameters = parameters;

    public override KeyType Type => KeyType.Ecdsa;

    public static EcdsaPublicKey Create(byte[] data)
    {
        try
        {
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportSubjectPublicKeyInfo(data, out int read);
            if (read != data.Length)
            {
                throw new WireFormatException("The ECDSA public key has trailing bytes.");
            }
            return new EcdsaPublicKey(data, ecdsa.ExportParameters(false));
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            throw new WireFormatException($"Not a valid PKIX ECDSA public key: {e.Message}", e);
        }
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var ecdsa = ECDsa.Create(_parameters);
            return ecdsa.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

internal sealed class EcdsaPrivateKey : PrivateKey
{
    private readonly ECDsa _key;
    private readonly EcdsaPublicKey _public;

    private EcdsaPrivateKey(ECDsa key)
    {
        _key = key;
        _public = EcdsaPublicKey.Create(key.ExportSubjectPublicKeyInfo());
    }

    public override KeyType Type => KeyType.Ecdsa;

    public override PublicKey PublicKey => _public;

    /// <summary>go-libp2p stores SEC1 (RFC 5915) DER; PKCS#8 is accepted too.</summary>
    public static EcdsaPrivateKey FromData(ReadOnlySpan<byte> data)
    {
        var ecdsa = ECDsa.Create();
        try
        {
            int read;
            try
            {
                ecdsa.ImportECPrivateKey(data, out read);
            }
            catch (CryptographicException)
            {
                ecdsa.ImportPkcs8PrivateKey(data, out read);
            }
            if (read != data.Length)
            {
                throw new WireFormatException("The ECDSA private key has trailing bytes.");
            }
            return new EcdsaPrivateKey(ecdsa);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            // The platform refuses curves it does not implement (explicit parameters, unknown OIDs) with PlatformNotSupportedException.
            ecdsa.Dispose();
            throw new WireFormatException($"Not a valid ECDSA private key: {e.Message}", e);
        }
        catch (WireFormatException)
        {
            ecdsa.Dispose();
            throw;
        }
    }

    public override byte[] Sign(ReadOnlySpan<byte> data) =>
        _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    protected override byte[] ExportData() => _key.ExportECPrivateKey();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _key.Dispose();
        }
        base.Dispose(disposing);
    }
}
