using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace P2PNet.Security.Noise.Internal;

/// <summary>A Curve25519 key pair for the Noise DH functions (Noise spec §12.1, RFC 7748).</summary>
/// <remarks><see cref="Dispose"/> wipes the private key.</remarks>
internal sealed class X25519KeyPair : IDisposable
{
    /// <summary>DHLEN for 25519.</summary>
    public const int KeyLength = 32;

    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;

    private X25519KeyPair(byte[] privateKey)
    {
        _privateKey = privateKey;
        _publicKey = new byte[KeyLength];
        X25519.GeneratePublicKey(_privateKey, 0, _publicKey, 0);
    }

    /// <summary>The public key, as sent on the wire.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>Generates a key pair from the system's secure random source.</summary>
    public static X25519KeyPair Generate()
    {
        var privateKey = new byte[KeyLength];
        RandomNumberGenerator.Fill(privateKey);
        return new X25519KeyPair(privateKey);
    }

    /// <summary>Creates the key pair of a known private key (test vectors).</summary>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeyLength)
        {
            throw new ArgumentException($"An X25519 private key is {KeyLength} bytes.", nameof(privateKey));
        }
        return new X25519KeyPair(privateKey.ToArray());
    }

    /// <summary>DH(this private key, <paramref name="remotePublicKey"/>) into <paramref name="sharedSecret"/>.</summary>
    /// <exception cref="NoiseHandshakeException">The remote key is a low-order point (the result would be all zeros).</exception>
    public void Agree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
    {
        byte[] remote = remotePublicKey.ToArray();
        byte[] shared = new byte[KeyLength];
        try
        {
            if (!X25519.CalculateAgreement(_privateKey, 0, remote, 0, shared, 0))
            {
                throw new NoiseHandshakeException("The remote sent an invalid X25519 public key (a low-order point).");
            }
            shared.CopyTo(sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
        }
    }

    /// <summary>Wipes the private key.</summary>
    public void Dispose() => CryptographicOperations.ZeroMemory(_privateKey);
}
