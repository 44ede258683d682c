using System.Security.Cryptography;
using P2PNet.Crypto.Internal;

namespace P2PNet.Crypto;

internal sealed class Ed25519PublicKey : PublicKey
{
    public const int Length = Curve25519Backend.KeyLength;
    private readonly byte[] _key;
    private readonly Curve25519Backend _backend;

    public Ed25519PublicKey(byte[] data, Curve25519Backend? backend = null) : base(data)
    {
        if (data.Length != Length)
        {
            throw new WireFormatException($"An Ed25519 public key is {Length} bytes, not {data.Length}.");
        }
        _key = data;
        _backend = backend ?? Curve25519Backend.Default;
    }

    public override KeyType Type => KeyType.Ed25519;

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        _backend.Ed25519Verify(_key, data, signature);
}

internal sealed class Ed25519PrivateKey : PrivateKey
{
    private readonly byte[] _seed;
    private readonly Ed25519Secret _secret;
    private readonly Ed25519PublicKey _public;

    private Ed25519PrivateKey(byte[] seed, Curve25519Backend? backend)
    {
        backend ??= Curve25519Backend.Default;
        _seed = seed;
        _secret = backend.CreateEd25519(seed);
        _public = new Ed25519PublicKey(_secret.PublicKey.ToArray(), backend);
    }

    public override KeyType Type => KeyType.Ed25519;

    public override PublicKey PublicKey => _public;

    public static Ed25519PrivateKey Generate(Curve25519Backend? backend = null) =>
        new(RandomNumberGenerator.GetBytes(Curve25519Backend.KeyLength), backend);

    /// <summary>libp2p stores seed || public key (64 bytes); old go keys append the public key again (96 bytes).</summary>
    public static Ed25519PrivateKey FromData(ReadOnlySpan<byte> data, Curve25519Backend? backend = null)
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
        var key = new Ed25519PrivateKey(data[..32].ToArray(), backend);
        if (!data.Slice(32, 32).SequenceEqual(key._public.Data))
        {
            key.Dispose();
            throw new WireFormatException("The Ed25519 private key's public half does not match its seed.");
        }
        return key;
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        var signature = new byte[Curve25519Backend.SignatureLength];
        _secret.Sign(data, signature);
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
        if (disposing)
        {
            _secret.Dispose();
        }
        base.Dispose(disposing);
    }
}
