using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace P2PNet.Crypto;

internal sealed class Ed25519PublicKey : PublicKey
{
    public const int Length = 32;
    private readonly byte[] _key;

    public Ed25519PublicKey(byte[] data) : base(data)
    {
        if (data.Length != Length)
        {
            throw new WireFormatException($"An Ed25519 public key is {Length} bytes, not {data.Length}.");
        }
        _key = data;
    }

    public override KeyType Type => KeyType.Ed25519;

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != Ed25519.SignatureSize)
        {
            return false;
        }
        byte[] sig = signature.ToArray();
        byte[] message = data.ToArray();
        return Ed25519.Verify(sig, 0, _key, 0, message, 0, message.Length);
    }
}

internal sealed class Ed25519PrivateKey : PrivateKey
{
    private readonly byte[] _seed;
    private readonly Ed25519PublicKey _public;

    private Ed25519PrivateKey(byte[] seed)
    {
        _seed = seed;
        var pub = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(_seed, 0, pub, 0);
        _public = new Ed25519PublicKey(pub);
    }

    public override KeyType Type => KeyType.Ed25519;

    public override PublicKey PublicKey => _public;

    public static Ed25519PrivateKey Generate() => new(RandomNumberGenerator.GetBytes(Ed25519.SecretKeySize));

    /// <summary>libp2p stores seed || public key (64 bytes); old go keys append the public key again (96 bytes).</summary>
    public static Ed25519PrivateKey FromData(ReadOnlySpan<byte> data)
    {
        if (data.Length is not (64 or 96))
        {
            throw new WireFormatException($"An Ed25519 private key is 64 bytes (seed and public key), not {data.Length}.");
        }
        if (data.Length == 96 && !data.Slice(32, 32).SequenceEqual(data[64..]))
        {
            // peer-ids.md: the legacy form repeats the public key; two different copies make the key invalid.
            throw new WireFormatException("The 96-byte Ed25519 private key carries two different public keys.");
        }
        var key = new Ed25519PrivateKey(data[..32].ToArray());
        if (!data.Slice(32, 32).SequenceEqual(key._public.Data))
        {
            key.Dispose();
            throw new WireFormatException("The Ed25519 private key's public half does not match its seed.");
        }
        return key;
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        byte[] message = data.ToArray();
        var signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_seed, 0, message, 0, message.Length, signature, 0);
        return signature;
    }

    protected override byte[] ExportData()
    {
        var data = new byte[64];
        _seed.CopyTo(data, 0);
        _public.Data.CopyTo(data.AsSpan(32));
        return data;
    }

    protected override void Dispose(bool disposing)
    {
        CryptographicOperations.ZeroMemory(_seed);
        base.Dispose(disposing);
    }
}
