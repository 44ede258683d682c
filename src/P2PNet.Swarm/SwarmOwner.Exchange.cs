using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm;

public sealed partial class SwarmOwner
{
    /// <summary>Serves one key request: reads the signed request, checks it, answers with a signed response.</summary>
    internal async Task HandleKeyExchangeAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        timeout.CancelAfter(_options.ExchangeTimeout);
        KeyResponse response;
        byte[]? raw;
        try
        {
            raw = await LengthPrefixed.ReadAsync(stream.Input, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
        }
        catch (WireFormatException e)
        {
            raw = null;
            response = Refuse(stream.RemotePeer, KeyExchangeStatus.Malformed, "unreadable request: " + e.Message, null);
            await AnswerAsync(stream, response, timeout.Token).ConfigureAwait(false);
            return;
        }
        response = raw is null
            ? Refuse(stream.RemotePeer, KeyExchangeStatus.Malformed, "empty request", null)
            : Evaluate(raw, stream.RemotePeer);
        await AnswerAsync(stream, response, timeout.Token).ConfigureAwait(false);
    }

    private async Task AnswerAsync(P2PStream stream, KeyResponse response, CancellationToken cancellationToken)
    {
        var signed = KeyExchangeCrypto.Sign(_identity, KeyExchangeCrypto.ResponseDomain, response);
        await LengthPrefixed.WriteAsync(stream.Output, signed.ToByteArray(), cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Checks a request in order: envelope, signature, claimed identity, swarm, authorisation, freshness,
    /// replay; then seals the current key to the requester.</summary>
    internal KeyResponse Evaluate(ReadOnlySpan<byte> raw, PeerId remotePeer)
    {
        SignedEnvelope envelope;
        KeyRequest request;
        PublicKey? signer;
        try
        {
            envelope = SignedEnvelope.Parser.ParseFrom(raw);
            signer = KeyExchangeCrypto.Verify(envelope, KeyExchangeCrypto.RequestDomain);
            request = KeyRequest.Parser.ParseFrom(envelope.Body);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or WireFormatException)
        {
            return Refuse(remotePeer, KeyExchangeStatus.Malformed, "malformed request: " + e.Message, null);
        }
        if (signer is null)
        {
            return Refuse(remotePeer, KeyExchangeStatus.BadSignature, "the signature does not verify", request);
        }
        var signerId = signer.ToPeerId();
        if (!request.Requester.Span.SequenceEqual(signerId.Bytes))
        {
            return Refuse(remotePeer, KeyExchangeStatus.PeerMismatch, "the request is signed by another peer than the requester it names", request);
        }
        if (signerId != remotePeer)
        {
            return Refuse(remotePeer, KeyExchangeStatus.PeerMismatch, $"the request is signed by {signerId}, not by the connected peer", request);
        }
        if (request.SwarmId != SwarmId || !request.Owner.Span.SequenceEqual(PeerId.Bytes))
        {
            return Refuse(remotePeer, KeyExchangeStatus.UnknownSwarm, $"this owner serves swarm '{SwarmId}' only", request);
        }
        var authorized = _store.ReadPeers().FirstOrDefault(p => p.Peer == signerId);
        if (authorized is null)
        {
            return Refuse(remotePeer, KeyExchangeStatus.Unauthorized, "not authorised in this swarm", request);
        }
        if (authorized.PublicKey is { } known && !known.Equals(signer))
        {
            return Refuse(remotePeer, KeyExchangeStatus.BadSignature, "signed with another key than the authorised one", request);
        }
        var now = _time.GetUtcNow();
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(request.TimestampUnixMs);
        if ((now - timestamp).Duration() > _options.MaxClockSkew)
        {
            return Refuse(remotePeer, KeyExchangeStatus.Stale, $"timestamp {timestamp:o} is more than {_options.MaxClockSkew} from {now:o}", request);
        }
        if (request.Nonce.Length != KeyExchangeCrypto.NonceLength || request.X25519PublicKey.Length != KeyExchangeCrypto.X25519Length)
        {
            return Refuse(remotePeer, KeyExchangeStatus.Malformed, "the nonce or the X25519 key has the wrong length", request);
        }
        switch (_nonces.TryAdd(signerId.ToString(), request.Nonce.Span, timestamp + _options.MaxClockSkew, now))
        {
            case NonceCache.Result.Replayed:
                return Refuse(remotePeer, KeyExchangeStatus.Replayed, "the nonce was already used", request);
            case NonceCache.Result.Full:
                return Refuse(remotePeer, KeyExchangeStatus.Busy, "too many recent requests; retry later", request);
        }
        if (authorized.PublicKey is null)
        {
            _store.SetPeerPublicKey(signerId, signer);
        }

        var (current, accepted) = KeysInForce();
        byte[] keyBytes = SwarmKeyBytes.Get(current);
        try
        {
            var (ephemeral, sealedKey) = KeyExchangeCrypto.Seal(keyBytes, request.X25519PublicKey.Span, SwarmId, PeerId, signerId, request.Nonce.Span);
            var response = Answer(KeyExchangeStatus.Ok, "", request);
            response.EphemeralPublicKey = ByteString.CopyFrom(ephemeral);
            response.SealedKey = ByteString.CopyFrom(sealedKey);
            response.KeyFingerprint = ByteString.CopyFrom(current.Fingerprint.Span);
            response.Bootstrap.AddRange(BootstrapAddresses().Select(a => ByteString.CopyFrom(a.ToBytes())));
            var grace = _store.ReadKeys().Where(k => !k.IsCurrent && k.GraceUntil > now).Select(k => k.GraceUntil!.Value).DefaultIfEmpty().Max();
            response.PreviousKeyGraceUntilUnixMs = accepted.Count > 0 ? grace.ToUnixTimeMilliseconds() : 0;
            response.Revoked.AddRange(_store.ReadRevoked().Select(r => ByteString.CopyFrom(r.Bytes)));
            SwarmLog.KeyShared(_logger, SwarmId, signerId, current.FingerprintHex);
            Raise(new SwarmKeyShared(SwarmId, signerId, current.FingerprintHex));
            return response;
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            return Refuse(remotePeer, KeyExchangeStatus.Malformed, "unusable X25519 key: " + e.Message, request);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(keyBytes);
        }
    }

    private KeyResponse Answer(KeyExchangeStatus status, string reason, KeyRequest? request) => new()
    {
        Status = (KeyExchangeStatusCode)status,
        Reason = reason,
        SwarmId = SwarmId,
        RequestNonce = request?.Nonce ?? ByteString.Empty,
        Requester = request?.Requester ?? ByteString.Empty,
        TimestampUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
    };

    private KeyResponse Refuse(PeerId remotePeer, KeyExchangeStatus status, string reason, KeyRequest? request)
    {
        SwarmLog.RequestRefused(_logger, SwarmId, remotePeer, status, reason);
        Raise(new SwarmKeyRequestRefused(SwarmId, remotePeer, status, reason));
        return Answer(status, reason, request);
    }
}
