using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Internal;

namespace P2PNet.Swarm;

public sealed partial class SwarmMember
{
    private bool _refreshing;
    private DateTimeOffset? _refreshGrace;

    /// <summary>Whether a background fetch of the key state is running or waiting to retry (tests wait for it to settle).</summary>
    internal bool IsRefreshing
    {
        get
        {
            lock (_lock)
            {
                return _refreshing;
            }
        }
    }

    /// <summary>The peers the owner revoked, as this member knows them.</summary>
    internal IReadOnlyList<PeerId> RevokedPeers
    {
        get
        {
            lock (_lock)
            {
                return [.. _revoked];
            }
        }
    }

    private bool IsRevoked(PeerId peer)
    {
        lock (_lock)
        {
            return _revoked.Contains(peer);
        }
    }

    /// <summary>Records the owner's revoked peers (in memory and in the store, so a restart keeps refusing them) and
    /// closes our connections to them.</summary>
    private async Task ApplyRevokedAsync(IReadOnlyList<PeerId> revoked)
    {
        PeerId[] added;
        lock (_lock)
        {
            added = [.. revoked.Where(p => p != _host.PeerId && p != Membership.Owner && _revoked.Add(p))];
        }
        var now = _time.GetUtcNow();
        foreach (var peer in added)
        {
            _store?.RevokePeer(peer, now);
        }
        foreach (var peer in revoked.Where(p => p != Membership.Owner && _host.GetConnections(p).Count > 0))
        {
            SwarmLog.Disconnecting(_logger, Membership.SwarmId, peer, "revoked by the owner");
            await _host.DisconnectAsync(peer).ConfigureAwait(false);
        }
    }

    /// <summary>Takes a fetched key state: revoked peers, then the key (switching when it changed, with the grace
    /// period of the notification or, failing that, the owner's answer), then the bootstrap addresses.</summary>
    private async Task AdoptAsync(KeyExchangeClient.Result result, DateTimeOffset? notifiedGrace)
    {
        await ApplyRevokedAsync(result.Revoked).ConfigureAwait(false);
        bool changed;
        lock (_lock)
        {
            changed = _key is not null && !_key.Equals(result.Key);
            if (!changed)
            {
                _key = result.Key;
                _bootstrap = result.Bootstrap.Count > 0 ? result.Bootstrap : _bootstrap;
            }
        }
        if (changed)
        {
            SwitchTo(result.Key, notifiedGrace ?? result.PreviousKeyGraceUntil ?? _time.GetUtcNow(), result.Bootstrap);
        }
        else
        {
            Persist();
        }
    }

    /// <summary>Fetches the key state from the owner in the background, retrying with exponential backoff; one
    /// refresh at a time (a request while one runs only updates the grace period it applies).</summary>
    private void StartRefresh(DateTimeOffset? notifiedGrace)
    {
        lock (_lock)
        {
            _refreshGrace = notifiedGrace ?? _refreshGrace;
            if (_refreshing || _disposed != 0)
            {
                return;
            }
            _refreshing = true;
        }
        _background.Track(RefreshAsync(_disposing.Token));
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            var delay = _options.RefetchInitialBackoff;
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(_options.ExchangeTimeout);
                    var connection = await ConnectToOwnerAsync(timeout.Token).ConfigureAwait(false);
                    var result = await KeyExchangeClient.RequestAsync(connection, _identity, Membership.SwarmId, Membership.Owner, _time.GetUtcNow(),
                        _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
                    DateTimeOffset? grace;
                    lock (_lock)
                    {
                        grace = _refreshGrace;
                        _refreshGrace = null;
                    }
                    await AdoptAsync(result, grace).ConfigureAwait(false);
                    return;
                }
                catch (SwarmKeyExchangeException e) when (e.Status == KeyExchangeStatus.Unauthorized)
                {
                    SwarmLog.RefetchRefused(_logger, Membership.SwarmId, e.Message);
                    return;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is IOException or WireFormatException or OperationCanceledException)
                {
                    SwarmLog.RefetchRetry(_logger, Membership.SwarmId, attempt, delay, e.Message);
                }
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.RefetchMaxBackoff.Ticks));
            }
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is IOException or WireFormatException or OperationCanceledException)
        {
            // Disposed: the next start fetches again on connecting to the owner.
        }
        finally
        {
            lock (_lock)
            {
                _refreshing = false;
            }
        }
    }

    /// <summary>After connections under an expired key were closed: connects again, under the current key, to the
    /// members we were connected to (by the addresses the host knows for them) and to the owner (through the bootstrap
    /// nodes) when no connection to it is left. Failures are logged: the peer may be gone or not have switched yet.</summary>
    private async Task ReconnectAsync(SwarmKey key, IReadOnlyList<PeerId> closed, CancellationToken cancellationToken)
    {
        foreach (var peer in closed.Where(p => p != Membership.Owner && !IsRevoked(p)))
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.ExchangeTimeout);
                await _host.DialAsync(peer, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is IOException or TimeoutException or OperationCanceledException)
            {
                SwarmLog.BootstrapFailed(_logger, Membership.SwarmId, peer.ToString(), e.Message);
            }
        }
        // Only a connection under the current key counts: one under the old key may still be listed while the owner,
        // whose grace ended at the same moment, is closing it.
        if (_host.GetConnections(Membership.Owner).Any(c => key.Equals(c.PrivateNetworkKey)))
        {
            return;
        }
        IReadOnlyList<P2PNet.Multiformats.Multiaddr> bootstrap;
        lock (_lock)
        {
            bootstrap = _bootstrap.Count > 0 ? _bootstrap : Membership.OwnerAddresses;
        }
        await ConnectBootstrapAsync(bootstrap, cancellationToken).ConfigureAwait(false);
    }
}
