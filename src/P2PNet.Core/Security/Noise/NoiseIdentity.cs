using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Security.Noise;

/// <summary>
/// Our side of every Noise handshake a host makes: the identity key, one static X25519 key, and the identity's
/// signature over that static key (libp2p/specs noise/README.md, "Static Key Authentication"), made once.
/// </summary>
/// <remarks>
/// The spec lets a node keep one static key (go-libp2p keeps one per transport); forward secrecy comes from the
/// ephemeral keys, which stay per handshake. So each handshake costs one key generation, three DH and one signature
/// check per side instead of also a static key generation and a signature.
/// Thread-safe: concurrent handshakes share it. <see cref="Dispose"/> wipes the static key; the identity key belongs to
/// the caller. Dispose only after the last handshake using it.
/// </remarks>
internal sealed class NoiseIdentity : IDisposable
{
    /// <summary>Generates the static key and signs it with <paramref name="identity"/>.</summary>
    public NoiseIdentity(PrivateKey identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        Identity = identity;
        LocalPeer = identity.PublicKey.ToPeerId();
        StaticKey = X25519KeyPair.Generate();
        EncodedPublicKey = ByteString.CopyFrom(identity.PublicKey.Encoded);
        StaticKeySignature = ByteString.CopyFrom(identity.Sign(NoiseHandshake.SignedData(StaticKey.PublicKey)));
    }

    /// <summary>The identity key that signed <see cref="StaticKey"/>.</summary>
    public PrivateKey Identity { get; }

    /// <summary>The peer id of <see cref="Identity"/>.</summary>
    public PeerId LocalPeer { get; }

    /// <summary>The static key <c>s</c> of every handshake.</summary>
    public X25519KeyPair StaticKey { get; }

    /// <summary>The identity public key in libp2p's protobuf encoding (the payload's <c>identity_key</c>).</summary>
    public ByteString EncodedPublicKey { get; }

    /// <summary>The identity's signature over <c>"noise-libp2p-static-key:" || s.pub</c> (the payload's <c>identity_sig</c>).</summary>
    public ByteString StaticKeySignature { get; }

    /// <summary>Wipes the static key.</summary>
    public void Dispose() => StaticKey.Dispose();
}
