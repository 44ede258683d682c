using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Security.Noise.Protos;

namespace P2PNet.Security.Noise;

/// <summary>The libp2p handshake payload: identity key, signature over the Noise static key, extensions.</summary>
internal static partial class NoiseHandshake
{
    /// <summary>The prefix of the signed data (libp2p/specs noise/README.md, "The libp2p Handshake Payload").</summary>
    internal static ReadOnlySpan<byte> StaticKeySignaturePrefix => "noise-libp2p-static-key:"u8;

    /// <summary>What the remote proved in its payload.</summary>
    private readonly record struct RemoteIdentity(PublicKey PublicKey, PeerId PeerId, IReadOnlyList<string> Muxers);

    /// <summary>The data the identity key signs: the prefix, then the X25519 static public key.</summary>
    internal static byte[] SignedData(ReadOnlySpan<byte> staticPublicKey)
    {
        var data = new byte[StaticKeySignaturePrefix.Length + staticPublicKey.Length];
        StaticKeySignaturePrefix.CopyTo(data);
        staticPublicKey.CopyTo(data.AsSpan(StaticKeySignaturePrefix.Length));
        return data;
    }

    private static byte[] CreatePayload(NoiseIdentity identity, NoiseOptions options)
    {
        // ByteString is immutable: the cached key and signature are shared, not copied.
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = identity.EncodedPublicKey,
            IdentitySig = identity.StaticKeySignature,
        };
        if (options.StreamMuxers.Count > 0)
        {
            payload.Extensions = new NoiseExtensions();
            payload.Extensions.StreamMuxers.AddRange(options.StreamMuxers);
        }
        options.PayloadInterceptor?.Invoke(payload);
        return payload.ToByteArray();
    }

    private static RemoteIdentity VerifyPayload(byte[] encoded, ReadOnlySpan<byte> remoteStaticKey, PeerId? expectedRemote)
    {
        NoiseHandshakePayload payload;
        try
        {
            payload = NoiseHandshakePayload.Parser.ParseFrom(encoded);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new NoiseHandshakeException("The remote's Noise handshake payload is not a valid NoiseHandshakePayload protobuf.", e);
        }
        if (payload.IdentityKey.IsEmpty)
        {
            throw new NoiseHandshakeException("The remote's Noise handshake payload carries no identity key.");
        }
        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(payload.IdentityKey.Span);
        }
        catch (WireFormatException e)
        {
            throw new NoiseHandshakeException($"The remote's identity key is invalid: {e.Message}", e);
        }
        PeerId peer = key.ToPeerId();
        if (!key.Verify(SignedData(remoteStaticKey), payload.IdentitySig.Span))
        {
            throw new NoiseHandshakeException($"The remote's identity signature over its Noise static key is invalid (it claims to be {peer}).");
        }
        if (expectedRemote is not null && expectedRemote != peer)
        {
            throw new NoiseHandshakeException($"Peer id mismatch: expected {expectedRemote}, got {peer}.");
        }
        IReadOnlyList<string> muxers = payload.Extensions is { } extensions ? [.. extensions.StreamMuxers] : [];
        return new RemoteIdentity(key, peer, muxers);
    }
}
