using System.Security.Cryptography;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;

namespace P2PNet.Swarm;

public sealed partial class SwarmOwner
{
    private CancellationTokenSource? _graceTimer;

    /// <summary>
    /// Replaces the swarm key. The previous key stays accepted inbound for <see cref="SwarmOptions.RotationGracePeriod"/>;
    /// every authorised, connected peer gets a signed <see cref="SwarmProtocols.Notify"/> message and fetches the new key
    /// over its existing connection. Returns the new key once the notifications are sent.
    /// </summary>
    public Task<SwarmKey> RotateKeyAsync(CancellationToken cancellationToken = default) => RotateAsync([], cancellationToken);

    /// <summary>
    /// Removes <paramref name="peer"/> from the authorised peers, closes our connections to it and rotates the key (the
    /// notification names it, so members close theirs): it cannot fetch the new key, and once the grace period ends
    /// it cannot connect.
    /// </summary>
    /// <returns>False when the peer was not authorised (the key is rotated anyway).</returns>
    /// <exception cref="ArgumentException"><paramref name="peer"/> is the owner.</exception>
    public async Task<bool> RevokeAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (peer == PeerId)
        {
            throw new ArgumentException("The owner cannot be revoked from its own swarm.", nameof(peer));
        }
        bool was = _store.RevokePeer(peer, _time.GetUtcNow());
        Raise(new SwarmPeerRevoked(SwarmId, peer));
        SwarmLog.Disconnecting(_logger, SwarmId, peer, "revoked");
        await _host.DisconnectAsync(peer).ConfigureAwait(false);
        await RotateAsync([peer], cancellationToken).ConfigureAwait(false);
        return was;
    }

    private async Task<SwarmKey> RotateAsync(IReadOnlyList<PeerId> revoked, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        SwarmKey previous;
        SwarmKey next = SwarmKey.Generate();
        DateTimeOffset graceUntil;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            previous = CurrentKey;
            graceUntil = now + _options.RotationGracePeriod;
            _store.SetCurrentKey(next, now, graceUntil);
            if (IsJoined)
            {
                var (current, accepted) = KeysInForce();
                _host.SetPrivateNetworkKeys(current, accepted);
            }
        }
        finally
        {
            _gate.Release();
        }
        SwarmLog.Rotated(_logger, SwarmId, next.FingerprintHex, graceUntil);
        Raise(new SwarmKeyRotated(SwarmId, next.FingerprintHex, previous.FingerprintHex, graceUntil));
        ScheduleGraceExpiry();
        var peers = _store.ReadPeers().Select(p => p.Peer).Where(p => _host.GetConnections(p).Count > 0).ToArray();
        await Task.WhenAll(peers.Select(p => NotifyAsync(p, next, graceUntil, revoked, cancellationToken))).ConfigureAwait(false);
        return next;
    }

    /// <summary>Sends the signed "key changed" notification to <paramref name="peer"/>; failures are logged.</summary>
    private async Task NotifyAsync(PeerId peer, SwarmKey key, DateTimeOffset graceUntil, IReadOnlyList<PeerId> revoked, CancellationToken cancellationToken)
    {
        if (_host.GetConnections(peer).Count == 0)
        {
            return;
        }
        var message = new KeyChanged
        {
            SwarmId = SwarmId,
            TimestampUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            Nonce = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(KeyExchangeCrypto.NonceLength)),
            NewKeyFingerprint = ByteString.CopyFrom(key.Fingerprint.Span),
            GraceUntilUnixMs = graceUntil.ToUnixTimeMilliseconds(),
        };
        // The whole revoked list, not only this rotation's: a member that missed an earlier notification catches up.
        message.Revoked.AddRange(revoked.Concat(_store.ReadRevoked()).Distinct().Select(r => ByteString.CopyFrom(r.Bytes)));
        var signed = KeyExchangeCrypto.Sign(_identity, KeyExchangeCrypto.KeyChangedDomain, message);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        timeout.CancelAfter(_options.ExchangeTimeout);
        try
        {
            // Through the host: the member's newest open connection, and another one if that one turns out to be ending
            // (a member that just reconnected under the current key still has its old connection closing).
            await using var stream = await _host.OpenStreamAsync(peer, SwarmProtocols.Notify, timeout.Token).ConfigureAwait(false);
            await LengthPrefixed.WriteAsync(stream.Output, signed.ToByteArray(), timeout.Token).ConfigureAwait(false);
            await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
            // The member closes its side once it has handled the notification.
            await stream.ReadsClosed.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // one unreachable member must not stop the rotation
        catch (Exception e)
#pragma warning restore CA1031
        {
            SwarmLog.NotifyFailed(_logger, SwarmId, peer, e.Message);
        }
    }

    /// <summary>Arms one timer for the earliest grace expiry of a previous key (replacing any earlier timer).</summary>
    private void ScheduleGraceExpiry()
    {
        var now = _time.GetUtcNow();
        // Every previous key still stored, also one whose grace ran out since the caller's last look (two rotations in
        // quick succession end their grace periods a few milliseconds apart): it is due now, not never.
        var next = _store.ReadKeys().Where(k => !k.IsCurrent && k.GraceUntil is not null).Select(k => k.GraceUntil!.Value).DefaultIfEmpty().Min();
        // Timers are cancelled when replaced but disposed only with the owner: a replaced timer's task may still hold its token.
        var timer = next == default ? null : CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token);
        Interlocked.Exchange(ref _graceTimer, timer)?.Cancel();
        if (timer is null)
        {
            return;
        }
        _background.Track(ExpireGraceAsync(DelayUntil(next, now), timer));
    }

    private async Task ExpireGraceAsync(TimeSpan delay, CancellationTokenSource timer)
    {
        try
        {
            await Task.Delay(delay, _time, timer.Token).ConfigureAwait(false);
            await _gate.WaitAsync(timer.Token).ConfigureAwait(false);
            SwarmKey current;
            SwarmKey[] inForce;
            int remaining;
            bool joined;
            try
            {
                _store.DropExpiredKeys(_time.GetUtcNow());
                var (key, accepted) = KeysInForce();
                current = key;
                inForce = [key, .. accepted];
                remaining = accepted.Count;
                joined = IsJoined;
                if (joined)
                {
                    _host.SetPrivateNetworkKeys(key, accepted);
                }
            }
            finally
            {
                _gate.Release();
            }
            if (joined)
            {
                // A key past its grace no longer gets in, and what got in under it does not stay either.
                await CloseConnectionsUnderOtherKeysAsync(_host, inForce, _logger, SwarmId).ConfigureAwait(false);
            }
            if (remaining == 0)
            {
                SwarmLog.GraceEnded(_logger, SwarmId, current.FingerprintHex);
                Raise(new SwarmGracePeriodEnded(SwarmId, current.FingerprintHex));
            }
            else
            {
                ScheduleGraceExpiry();
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// The wait until <paramref name="until"/>, rounded up to whole milliseconds: expiries are stored in milliseconds
    /// and <see cref="Task.Delay(TimeSpan, TimeProvider, CancellationToken)"/> truncates to milliseconds, so a
    /// sub-millisecond wait would complete at once, before the expiry, and re-arm itself forever.
    /// </summary>
    internal static TimeSpan DelayUntil(DateTimeOffset until, DateTimeOffset now) =>
        until > now ? TimeSpan.FromMilliseconds(Math.Ceiling((until - now).TotalMilliseconds)) : TimeSpan.Zero;

    /// <summary>Closes the private connections of <paramref name="host"/> made under a key not in <paramref name="inForce"/>.</summary>
    /// <returns>The peers whose connections were closed.</returns>
    internal static async Task<IReadOnlyList<PeerId>> CloseConnectionsUnderOtherKeysAsync(P2PHost host, IReadOnlyCollection<SwarmKey> inForce,
        Microsoft.Extensions.Logging.ILogger logger, string swarmId)
    {
        var stale = host.Connections.Where(c => c.PrivateNetworkKey is { } key && !inForce.Contains(key)).ToArray();
        PeerId[] peers = [.. stale.Select(c => c.RemotePeer).Distinct()];
        foreach (var peer in peers)
        {
            SwarmLog.Disconnecting(logger, swarmId, peer, "connected under a key whose grace period ended");
        }
        await Task.WhenAll(stale.Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
        return peers;
    }

    /// <summary>While joined: an unauthorised peer is disconnected; an authorised one still on a previous key is told to fetch the new one.</summary>
    private void OnConnectednessChanged(PeerConnectednessChanged change)
    {
        if (change.Connectedness != Connectedness.Connected || _disposed != 0 || !IsJoined || change.Peer == PeerId)
        {
            return;
        }
        if (!IsAuthorized(change.Peer))
        {
            if (_options.DisconnectUnauthorizedPeers)
            {
                SwarmLog.Disconnecting(_logger, SwarmId, change.Peer, "not authorised in the swarm");
                _background.Track(_host.DisconnectAsync(change.Peer).AsTask());
            }
            return;
        }
        var current = _host.PrivateNetworkKeys.Key;
        if (_host.GetConnections(change.Peer).Any(c => c.PrivateNetworkKey is not null && !c.PrivateNetworkKey.Equals(current)))
        {
            var graceUntil = _store.ReadKeys().Where(k => !k.IsCurrent && k.GraceUntil is not null).Select(k => k.GraceUntil!.Value).DefaultIfEmpty().Max();
            _background.Track(NotifyAsync(change.Peer, CurrentKey, graceUntil, [], _disposing.Token));
        }
    }
}
