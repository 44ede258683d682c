using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm.Internal;

/// <summary>
/// The cryptography of the key exchange (docs/private-swarms.md, "Construction"): signed envelopes with a domain string
/// per message type, and the sealing of a swarm key to a requester's fresh X25519 key:
/// X25519(ephemeral, requester) → HKDF-SHA256(salt = request nonce, info = context) → ChaCha20-Poly1305.
/// </summary>
internal static class KeyExchangeCrypto
{
    public const string RequestDomain = "p2pnet-swarm-key-request:";
    public const string ResponseDomain = "p2pnet-swarm-key-response:";
    public const string KeyChangedDomain = "p2pnet-swarm-key-changed:";
    public const int NonceLength = 32;
    public const int X25519Length = 32;
    private const string HkdfLabel = "p2pnet/swarm/key-exchange/1.0.0";
    private static readonly SecureRandom Random = new();

    public static SignedEnvelope Sign(PrivateKey identity, string domain, IMessage body)
    {
        byte[] bytes = body.ToByteArray();
        return new SignedEnvelope
        {
            Body = ByteString.CopyFrom(bytes),
            Signature = ByteString.CopyFrom(identity.Sign(SignedBytes(domain, bytes))),
            PublicKey = ByteString.CopyFrom(identity.PublicKey.ToProtobuf()),
        };
    }

    /// <summary>The signer's key when the envelope's signature verifies, else null. Throws <see cref="WireFormatException"/> on a malformed key.</summary>
    public static PublicKey? Verify(SignedEnvelope envelope, string domain)
    {
        var key = PublicKey.FromProtobuf(envelope.PublicKey.Span);
        return key.Verify(SignedBytes(domain, envelope.Body.Span), envelope.Signature.Span) ? key : null;
    }

    private static byte[] SignedBytes(string domain, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.ASCII.GetBytes(domain);
        var data = new byte[prefix.Length + body.Length];
        prefix.CopyTo(data, 0);
        body.CopyTo(data.AsSpan(prefix.Length));
        return data;
    }

    /// <summary>A fresh X25519 key pair: (private, public).</summary>
    public static (X25519PrivateKeyParameters Private, byte[] Public) NewX25519()
    {
        var key = new X25519PrivateKeyParameters(Random);
        return (key, key.GeneratePublicKey().GetEncoded());
    }

    /// <summary>Seals <paramref name="swarmKey"/> to <paramref name="requesterX25519"/>; returns the ephemeral public key and the sealed bytes.</summary>
    public static (byte[] EphemeralPublic, byte[] Sealed) Seal(ReadOnlySpan<byte> swarmKey, ReadOnlySpan<byte> requesterX25519,
        string swarmId, PeerId owner, PeerId requester, ReadOnlySpan<byte> requestNonce)
    {
        var (ephemeral, ephemeralPublic) = NewX25519();
        byte[] aeadKey = DeriveKey(ephemeral, requesterX25519, swarmId, owner, requester, ephemeralPublic, requesterX25519, requestNonce);
        try
        {
            var sealedKey = new byte[swarmKey.Length + 16];
            using var aead = new ChaCha20Poly1305(aeadKey);
            // The AEAD key is used once (fresh ephemeral key), so a zero nonce is safe.
            aead.Encrypt(stackalloc byte[12], swarmKey, sealedKey.AsSpan(0, swarmKey.Length), sealedKey.AsSpan(swarmKey.Length));
            return (ephemeralPublic, sealedKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aeadKey);
        }
    }

    /// <summary>Opens what <see cref="Seal"/> produced. Throws <see cref="CryptographicException"/> when it was tampered with.</summary>
    public static byte[] Open(X25519PrivateKeyParameters requesterPrivate, ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> sealedKey,
        string swarmId, PeerId owner, PeerId requester, ReadOnlySpan<byte> requestNonce)
    {
        if (ephemeralPublic.Length != X25519Length || sealedKey.Length < 16)
        {
            throw new CryptographicException("The sealed key or the ephemeral key has the wrong length.");
        }
        byte[] requesterPublic = requesterPrivate.GeneratePublicKey().GetEncoded();
        byte[] aeadKey = DeriveKey(requesterPrivate, ephemeralPublic, swarmId, owner, requester, ephemeralPublic, requesterPublic, requestNonce);
        try
        {
            var plain = new byte[sealedKey.Length - 16];
            using var aead = new ChaCha20Poly1305(aeadKey);
            aead.Decrypt(stackalloc byte[12], sealedKey[..plain.Length], sealedKey[plain.Length..], plain);
            return plain;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aeadKey);
        }
    }

    private static byte[] DeriveKey(X25519PrivateKeyParameters own, ReadOnlySpan<byte> peerPublic, string swarmId, PeerId owner, PeerId requester,
        ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> requesterPublic, ReadOnlySpan<byte> requestNonce)
    {
        var agreement = new X25519Agreement();
        agreement.Init(own);
        var shared = new byte[agreement.AgreementSize];
        try
        {
            try
            {
                agreement.CalculateAgreement(new X25519PublicKeyParameters(peerPublic.ToArray(), 0), shared, 0);
            }
            catch (InvalidOperationException e)
            {
                // BouncyCastle refuses an all-zero shared secret (a low-order point).
                throw new CryptographicException("The X25519 public key is a low-order point.", e);
            }
            if (CryptographicOperations.FixedTimeEquals(shared, new byte[shared.Length]))
            {
                // A low-order point: the "shared" secret would be public.
                throw new CryptographicException("The X25519 public key is a low-order point.");
            }
            byte[] info = Context(swarmId, owner, requester, ephemeralPublic, requesterPublic);
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, requestNonce.ToArray(), info);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
        }
    }

    /// <summary>HKDF info: label, swarm id, owner id, requester id, ephemeral and requester X25519 keys, each 2-byte-length-prefixed.</summary>
    internal static byte[] Context(string swarmId, PeerId owner, PeerId requester, ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> requesterPublic)
    {
        using var buffer = new MemoryStream();
        void Part(ReadOnlySpan<byte> part)
        {
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(length, checked((ushort)part.Length));
            buffer.Write(length);
            buffer.Write(part);
        }
        Part(Encoding.ASCII.GetBytes(HkdfLabel));
        Part(Encoding.UTF8.GetBytes(swarmId));
        Part(owner.Bytes);
        Part(requester.Bytes);
        Part(ephemeralPublic);
        Part(requesterPublic);
        return buffer.ToArray();
    }
}
