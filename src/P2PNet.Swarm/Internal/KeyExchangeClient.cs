using System.Security.Cryptography;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm.Internal;

/// <summary>The requester's side of <c>/p2pnet/swarm/key-exchange/1.0.0</c>.</summary>
internal static class KeyExchangeClient
{
    internal sealed record Result(SwarmKey Key, IReadOnlyList<Multiaddr> Bootstrap, DateTimeOffset? PreviousKeyGraceUntil, IReadOnlyList<PeerId> Revoked);

    /// <summary>Builds and signs a request (also used by tests to craft requests by hand).</summary>
    public static (SignedEnvelope Envelope, KeyRequest Request, Org.BouncyCastle.Crypto.Parameters.X25519PrivateKeyParameters X25519) CreateRequest(
        PrivateKey identity, string swarmId, PeerId owner, DateTimeOffset now)
    {
        var (x25519, x25519Public) = KeyExchangeCrypto.NewX25519();
        var request = new KeyRequest
        {
            SwarmId = swarmId,
            Requester = ByteString.CopyFrom(identity.PublicKey.ToPeerId().Bytes),
            Owner = ByteString.CopyFrom(owner.Bytes),
            TimestampUnixMs = now.ToUnixTimeMilliseconds(),
            Nonce = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(KeyExchangeCrypto.NonceLength)),
            X25519PublicKey = ByteString.CopyFrom(x25519Public),
        };
        return (KeyExchangeCrypto.Sign(identity, KeyExchangeCrypto.RequestDomain, request), request, x25519);
    }

    /// <summary>Sends <paramref name="envelope"/> on a new stream and returns the owner's verified response.</summary>
    public static async Task<KeyResponse> SendAsync(P2PConnection connection, SignedEnvelope envelope, PeerId owner, int maxMessageSize, CancellationToken cancellationToken)
    {
        await using var stream = await connection.OpenStreamAsync(SwarmProtocols.KeyExchange, cancellationToken).ConfigureAwait(false);
        await LengthPrefixed.WriteAsync(stream.Output, envelope.ToByteArray(), cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        byte[] raw;
        try
        {
            raw = await LengthPrefixed.ReadAsync(stream.Input, maxMessageSize, cancellationToken).ConfigureAwait(false)
                ?? throw new SwarmKeyExchangeException("The owner closed the stream without answering.");
        }
        catch (WireFormatException e)
        {
            throw new SwarmKeyExchangeException($"The owner's answer is not a message of at most {maxMessageSize} bytes: " + e.Message, e);
        }
        var response = SwarmMessageCheck.VerifyResponse(raw, owner);
        return response;
    }

    /// <summary>Runs the whole exchange on <paramref name="connection"/> (to the owner) and returns the decrypted key.</summary>
    public static async Task<Result> RequestAsync(P2PConnection connection, PrivateKey identity, string swarmId, PeerId owner,
        DateTimeOffset now, int maxMessageSize, CancellationToken cancellationToken)
    {
        var (envelope, request, x25519) = CreateRequest(identity, swarmId, owner, now);
        var response = await SendAsync(connection, envelope, owner, maxMessageSize, cancellationToken).ConfigureAwait(false);
        return Accept(response, request, x25519, identity.PublicKey.ToPeerId(), swarmId, owner);
    }

    /// <summary>Checks a verified response against the request it answers and opens the sealed key.</summary>
    /// <exception cref="SwarmKeyExchangeException">A refusal, an answer to another request, or a key that does not open or match.</exception>
    public static Result Accept(KeyResponse response, KeyRequest request, Org.BouncyCastle.Crypto.Parameters.X25519PrivateKeyParameters x25519,
        PeerId requester, string swarmId, PeerId owner)
    {
        if (response.Status != KeyExchangeStatusCode.Ok)
        {
            throw new SwarmKeyExchangeException((KeyExchangeStatus)response.Status, $"The owner refused the key request: {response.Status} ({response.Reason}).");
        }
        if (response.SwarmId != swarmId || !response.RequestNonce.Span.SequenceEqual(request.Nonce.Span) || !response.Requester.Span.SequenceEqual(requester.Bytes))
        {
            throw new SwarmKeyExchangeException("The owner's answer is for another request.");
        }
        byte[] keyBytes;
        try
        {
            keyBytes = KeyExchangeCrypto.Open(x25519, response.EphemeralPublicKey.Span, response.SealedKey.Span, swarmId, owner, requester, request.Nonce.Span);
        }
        catch (CryptographicException e)
        {
            throw new SwarmKeyExchangeException("The sealed swarm key does not decrypt: " + e.Message, e);
        }
        try
        {
            var key = SwarmKey.FromBytes(keyBytes);
            if (!key.Fingerprint.Span.SequenceEqual(response.KeyFingerprint.Span))
            {
                throw new SwarmKeyExchangeException("The decrypted key does not have the announced fingerprint.");
            }
            var bootstrap = new List<Multiaddr>();
            foreach (var address in response.Bootstrap)
            {
                try
                {
                    bootstrap.Add(Multiaddr.FromBytes(address.Span));
                }
                catch (WireFormatException)
                {
                    // An address we cannot parse is skipped; the others still serve.
                }
            }
            DateTimeOffset? grace = response.PreviousKeyGraceUntilUnixMs > 0
                ? DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(response.PreviousKeyGraceUntilUnixMs, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()))
                : null;
            return new Result(key, bootstrap, grace, ParsePeers(response.Revoked));
        }
        catch (WireFormatException e)
        {
            throw new SwarmKeyExchangeException("The decrypted swarm key is malformed: " + e.Message, e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyBytes);
        }
    }

    /// <summary>The peer ids in <paramref name="peers"/>; an entry that is not a peer id is skipped (the others still count).</summary>
    internal static IReadOnlyList<PeerId> ParsePeers(IEnumerable<ByteString> peers)
    {
        var result = new List<PeerId>();
        foreach (var bytes in peers)
        {
            try
            {
                result.Add(PeerId.FromBytes(bytes.Span));
            }
            catch (WireFormatException)
            {
                // Not a peer id: nothing to refuse.
            }
        }
        return result;
    }
}
