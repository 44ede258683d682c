using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm;

public sealed partial class SwarmMember
{
    /// <summary>Handles the owner's signed "key changed" notification: checks it, fetches the new key over the same
    /// connection, switches to it and accepts the previous key until the grace period ends.</summary>
    private async Task HandleNotificationAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        timeout.CancelAfter(_options.ExchangeTimeout);
        try
        {
            byte[]? raw = await LengthPrefixed.ReadAsync(stream.Input, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
            var notification = raw is null ? null : Check(raw, stream.RemotePeer);
            if (notification is null)
            {
                return;
            }
            await ApplyRevokedAsync(KeyExchangeClient.ParsePeers(notification.Revoked)).ConfigureAwait(false);
            if (Key is { } current && current.Fingerprint.Span.SequenceEqual(notification.NewKeyFingerprint.Span))
            {
                return;
            }
            var graceUntil = DateTimeOffset.FromUnixTimeMilliseconds(notification.GraceUntilUnixMs);
            try
            {
                var result = await KeyExchangeClient.RequestAsync(stream.Connection, _identity, Membership.SwarmId, Membership.Owner, _time.GetUtcNow(),
                    _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
                await AdoptAsync(result, graceUntil).ConfigureAwait(false);
            }
            catch (Exception e) when (!_disposing.IsCancellationRequested && e is IOException or WireFormatException or OperationCanceledException)
            {
                // Not lost: fetched again with backoff until it works (or the owner says we are out).
                SwarmLog.RefetchFailed(_logger, Membership.SwarmId, e.Message);
                StartRefresh(graceUntil);
            }
        }
        catch (Exception e) when (e is IOException or WireFormatException or OperationCanceledException)
        {
            SwarmLog.RefetchFailed(_logger, Membership.SwarmId, e.Message);
        }
        finally
        {
            await stream.CompleteWritesAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private KeyChanged? Check(byte[] raw, PeerId remotePeer)
    {
        var now = _time.GetUtcNow();
        var notification = SwarmMessageCheck.VerifyKeyChanged(raw, Membership.Owner, remotePeer, Membership.SwarmId, now, _options.MaxClockSkew, out string? problem);
        if (notification is not null
            && _notificationNonces.TryAdd("owner", notification.Nonce.Span, DateTimeOffset.FromUnixTimeMilliseconds(notification.TimestampUnixMs) + _options.MaxClockSkew, now) != NonceCache.Result.Added)
        {
            problem = "replayed";
        }
        if (problem is not null)
        {
            SwarmLog.NotificationIgnored(_logger, Membership.SwarmId, remotePeer, problem);
            return null;
        }
        return notification;
    }

    private void SwitchTo(SwarmKey key, DateTimeOffset graceUntil, IReadOnlyList<P2PNet.Multiformats.Multiaddr> bootstrap)
    {
        SwarmKey? previous;
        lock (_lock)
        {
            if (key.Equals(_key))
            {
                // Fetched twice (notification and refresh racing): the first switch counts.
                return;
            }
            previous = _key;
            _previousKey = previous;
            _key = key;
            _graceUntil = graceUntil;
            if (bootstrap.Count > 0)
            {
                _bootstrap = bootstrap;
            }
            if (_joined)
            {
                bool inGrace = previous is not null && graceUntil > _time.GetUtcNow();
                _host.SetPrivateNetworkKeys(key, inGrace ? [previous!] : []);
            }
        }
        Persist();
        SwarmLog.Rotated(_logger, Membership.SwarmId, key.FingerprintHex, graceUntil);
        Raise(new SwarmKeyRotated(Membership.SwarmId, key.FingerprintHex, previous?.FingerprintHex, graceUntil));
        ScheduleGraceEnd(graceUntil);
    }

    private void ScheduleGraceEnd(DateTimeOffset graceUntil)
    {
        // Replaced timers are cancelled, and disposed only with the member: the replaced task may still hold the token.
        var timer = CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token);
        Interlocked.Exchange(ref _graceTimer, timer)?.Cancel();
        var now = _time.GetUtcNow();
        _background.Track(EndGraceAsync(SwarmOwner.DelayUntil(graceUntil, now), timer));
    }

    private async Task EndGraceAsync(TimeSpan delay, CancellationTokenSource timer)
    {
        try
        {
            await Task.Delay(delay, _time, timer.Token).ConfigureAwait(false);
            SwarmKey? key;
            lock (_lock)
            {
                _previousKey = null;
                _graceUntil = null;
                key = _key;
                if (_joined && key is not null)
                {
                    _host.SetPrivateNetworkKeys(key);
                }
            }
            _store?.DropExpiredKeys(_time.GetUtcNow());
            if (key is not null)
            {
                if (IsJoined)
                {
                    // What got in under the previous key does not outlive its grace; the owner is reached again under the current one.
                    var closed = await SwarmOwner.CloseConnectionsUnderOtherKeysAsync(_host, [key], _logger, Membership.SwarmId).ConfigureAwait(false);
                    await ReconnectAsync(key, closed, timer.Token).ConfigureAwait(false);
                }
                SwarmLog.GraceEnded(_logger, Membership.SwarmId, key.FingerprintHex);
                Raise(new SwarmGracePeriodEnded(Membership.SwarmId, key.FingerprintHex));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Closes connections from peers the owner revoked; on a (re)connection to the owner, fetches the key
    /// state (current key, grace, revoked peers) in case it changed while we were away.</summary>
    private void OnConnectednessChanged(PeerConnectednessChanged change)
    {
        if (change.Connectedness != Connectedness.Connected || _disposed != 0)
        {
            return;
        }
        if (change.Peer == Membership.Owner)
        {
            if (IsJoined)
            {
                StartRefresh(null);
            }
            return;
        }
        bool revoked;
        lock (_lock)
        {
            revoked = _revoked.Contains(change.Peer);
        }
        if (revoked)
        {
            SwarmLog.Disconnecting(_logger, Membership.SwarmId, change.Peer, "revoked by the owner");
            _background.Track(_host.DisconnectAsync(change.Peer).AsTask());
        }
    }
}
