using System.Security.Cryptography;
using P2PNet.Crypto.Internal;

namespace P2PNet.Security.Noise.Internal;

/// <summary>A Curve25519 key pair for the Noise DH functions (Noise spec §12.1, RFC 7748).</summary>
/// <remarks>Thread-safe: a host's static key serves concurrent handshakes. <see cref="Dispose"/> wipes (or frees) the
/// private key and must come after the last <see cref="Agree"/>.</remarks>
internal sealed class X25519KeyPair : IDisposable
{
    /// <summary>DHLEN for 25519.</summary>
    public const int KeyLength = Curve25519Backend.KeyLength;

    private readonly X25519Secret _secret;

    private X25519KeyPair(X25519Secret secret) => _secret = secret;

    /// <summary>The public key, as sent on the wire.</summary>
    public ReadOnlySpan<byte> PublicKey => _secret.PublicKey;

    /// <summary>Generates a key pair from the system's secure random source.</summary>
    /// <param name="backend">Where the key lives; <see cref="Curve25519Backend.Default"/> when <see langword="null"/>.</param>
    public static X25519KeyPair Generate(Curve25519Backend? backend = null)
    {
        Span<byte> privateKey = stackalloc byte[KeyLength];
        RandomNumberGenerator.Fill(privateKey);
        try
        {
            return new X25519KeyPair((backend ?? Curve25519Backend.Default).CreateX25519(privateKey));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(privateKey);
        }
    }

    /// <summary>Creates the key pair of a known private key (test vectors).</summary>
    /// <param name="privateKey">The 32-byte private key; the caller keeps its copy.</param>
    /// <param name="backend">Where the key lives; <see cref="Curve25519Backend.Default"/> when <see langword="null"/>.</param>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey, Curve25519Backend? backend = null)
    {
        if (privateKey.Length != KeyLength)
        {
            throw new ArgumentException($"An X25519 private key is {KeyLength} bytes.", nameof(privateKey));
        }
        return new X25519KeyPair((backend ?? Curve25519Backend.Default).CreateX25519(privateKey));
    }

    /// <summary>DH(this private key, <paramref name="remotePublicKey"/>) into <paramref name="sharedSecret"/>.</summary>
    /// <exception cref="NoiseHandshakeException">The remote key is a low-order point (the result would be all zeros).</exception>
    public void Agree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
    {
        if (!_secret.TryAgree(remotePublicKey, sharedSecret))
        {
            throw new NoiseHandshakeException("The remote sent an invalid X25519 public key (a low-order point).");
        }
    }

    /// <summary>Wipes the private key.</summary>
    public void Dispose() => _secret.Dispose();
}
