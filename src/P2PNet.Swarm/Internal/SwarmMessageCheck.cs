using Google.Protobuf;
using P2PNet.Peers;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm.Internal;

/// <summary>
/// Pure checks of what a member receives from the owner: a <see cref="KeyChanged"/> notification and the envelope of a
/// <see cref="KeyResponse"/>. Arbitrary bytes produce only the documented outcome (a reason to ignore the message, or
/// <see cref="SwarmKeyExchangeException"/>), never another exception.
/// </summary>
internal static class SwarmMessageCheck
{
    /// <summary>Parses and verifies a notification: signed by <paramref name="owner"/> (who must also be the
    /// <paramref name="remotePeer"/>), for <paramref name="swarmId"/>, sent within <paramref name="maxClockSkew"/> of
    /// <paramref name="now"/>. Replays are the caller's to refuse (it owns the nonce cache).</summary>
    /// <returns>The notification, or null with <paramref name="problem"/> saying why it is ignored.</returns>
    public static KeyChanged? VerifyKeyChanged(ReadOnlySpan<byte> raw, PeerId owner, PeerId remotePeer, string swarmId, DateTimeOffset now,
        TimeSpan maxClockSkew, out string? problem)
    {
        try
        {
            var envelope = SignedEnvelope.Parser.ParseFrom(raw);
            var signer = KeyExchangeCrypto.Verify(envelope, KeyExchangeCrypto.KeyChangedDomain);
            if (signer is null || !owner.Matches(signer) || remotePeer != owner)
            {
                problem = "not signed by the swarm owner";
                return null;
            }
            var notification = KeyChanged.Parser.ParseFrom(envelope.Body);
            var sent = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(notification.TimestampUnixMs,
                DateTimeOffset.MinValue.ToUnixTimeMilliseconds(), DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()));
            if (notification.SwarmId != swarmId)
            {
                problem = $"for swarm '{notification.SwarmId}'";
                return null;
            }
            if ((now - sent).Duration() > maxClockSkew)
            {
                problem = "stale";
                return null;
            }
            if (notification.Nonce.Length != KeyExchangeCrypto.NonceLength || notification.NewKeyFingerprint.Length != 16)
            {
                problem = "the nonce or the fingerprint has the wrong length";
                return null;
            }
            problem = null;
            return notification;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or WireFormatException)
        {
            problem = "malformed: " + e.Message;
            return null;
        }
    }

    /// <summary>Parses a response envelope and checks it is signed by <paramref name="owner"/>.</summary>
    /// <exception cref="SwarmKeyExchangeException">It is malformed or not signed by the owner.</exception>
    public static KeyResponse VerifyResponse(ReadOnlySpan<byte> raw, PeerId owner)
    {
        try
        {
            var signed = SignedEnvelope.Parser.ParseFrom(raw);
            var signer = KeyExchangeCrypto.Verify(signed, KeyExchangeCrypto.ResponseDomain);
            if (signer is null || !owner.Matches(signer))
            {
                throw new SwarmKeyExchangeException($"The answer is not signed by the swarm owner {owner}.");
            }
            return KeyResponse.Parser.ParseFrom(signed.Body);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or WireFormatException)
        {
            throw new SwarmKeyExchangeException("The owner's answer is malformed: " + e.Message, e);
        }
    }
}
