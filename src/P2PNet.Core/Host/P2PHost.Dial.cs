using P2PNet.Muxing;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using P2PNet.Diagnostics;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Resources.Internal;
using P2PNet.Security.Pnet;
using P2PNet.Transports;
using P2PNet.Transports.Tcp;
using P2PNet.Upgrade;
using P2PNet.Upgrade.Internal;

namespace P2PNet.Host;

public sealed partial class P2PHost
{
    private int ConnectionCount
    {
        get
        {
            lock (_lock)
            {
                return _connections.Values.Sum(l => l.Count);
            }
        }
    }

    /// <summary>
    /// Connects to <paramref name="address"/>. When it ends in <c>/p2p/&lt;id&gt;</c>, a remote with another identity is
    /// refused, and an open connection to that peer is reused.
    /// </summary>
    /// <exception cref="NotSupportedException">No transport can dial the address.</exception>
    /// <exception cref="IOException">The remote cannot be reached or the handshake failed (e.g. a wrong peer id).</exception>
    public async ValueTask<P2PConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        PeerId? expected = address.GetPeerId();
        if (expected == PeerId)
        {
            throw new ArgumentException("Cannot dial ourselves.", nameof(address));
        }
        if (expected is not null && Options.ConnectionGater is { } gater && !gater.AllowDialPeer(expected))
        {
            throw new ConnectionGatedException($"The connection gater refused dialing {expected}.");
        }
        if (expected is not null)
        {
            var existing = GetReusableConnection(expected);
            if (existing is not null)
            {
                return existing;
            }
            Task<P2PConnection> dial;
            lock (_lock)
            {
                if (!_pendingDials.TryGetValue(expected, out dial!))
                {
                    dial = DialNewAsync(address.WithoutPeerId(), expected, _stopping.Token);
                    _pendingDials[expected] = dial;
                    _ = dial.ContinueWith(
                        (_, state) => { lock (_lock) { _pendingDials.Remove((PeerId)state!); } },
                        expected, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
            return await dial.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return await DialNewAsync(address, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Connects to <paramref name="peer"/>, reusing an open connection or trying its known addresses in turn; when
    /// none is known, asks the <see cref="PeerRouting"/> (e.g. the DHT) for them first.</summary>
    /// <exception cref="PeerNotFoundException">No address is known and the peer routing found none.</exception>
    /// <exception cref="IOException">None of the addresses could be reached.</exception>
    public async ValueTask<P2PConnection> DialAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var existing = GetReusableConnection(peer);
        if (existing is not null)
        {
            return existing;
        }
        var addresses = PeerStore.Get(peer)?.Addresses ?? [];
        if (addresses.Count == 0)
        {
            addresses = await RoutePeerAsync(peer, cancellationToken).ConfigureAwait(false);
        }
        if (addresses.Count == 0)
        {
            throw new PeerNotFoundException(peer, PeerRouting is null
                ? $"No address is known for {peer}; dial it by multiaddr first, or start a DHT so that it can be looked up."
                : $"No address is known for {peer} and peer routing found none; dial it by multiaddr or connect to more DHT peers.");
        }
        var errors = new List<Exception>();
        foreach (var address in addresses.Where(a => _transports.Any(t => t.CanDial(a))))
        {
            try
            {
                return await DialAsync(address.WithPeerId(peer), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                errors.Add(e);
            }
        }
        throw new IOException($"Could not reach {peer} on any of its {addresses.Count} known addresses: "
            + string.Join("; ", errors.Select(e => e.Message)), errors.Count > 0 ? new AggregateException(errors) : null);
    }

    /// <summary>Closes every connection to <paramref name="peer"/>.</summary>
    public async ValueTask DisconnectAsync(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await Task.WhenAll(GetConnections(peer).Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
    }

    /// <summary>Closes every connection for which <paramref name="predicate"/> holds (all when it is null).</summary>
    public async ValueTask CloseConnectionsAsync(Func<P2PConnection, bool>? predicate = null)
    {
        await Task.WhenAll(Connections.Where(c => predicate?.Invoke(c) ?? true).Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
    }

    /// <summary>Opens a stream to <paramref name="peer"/> (connecting first if needed) on the first supported protocol.</summary>
    public async ValueTask<P2PStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            var connection = await DialAsync(peer, cancellationToken).ConfigureAwait(false);
            try
            {
                return await connection.OpenStreamAsync(protocols, cancellationToken).ConfigureAwait(false);
            }
            catch (MuxerClosedException) when (attempt == 0 && !cancellationToken.IsCancellationRequested)
            {
                // The peer ended that connection before we noticed (e.g. it reconnected under a new swarm key): it is
                // closing now, so the second attempt takes another connection or dials anew.
            }
        }
    }

    /// <summary>Opens a stream to <paramref name="peer"/> (connecting first if needed) on <paramref name="protocol"/>.</summary>
    public ValueTask<P2PStream> OpenStreamAsync(PeerId peer, string protocol, CancellationToken cancellationToken = default) =>
        OpenStreamAsync(peer, [protocol], cancellationToken);

    private P2PConnection? GetReusableConnection(PeerId peer)
    {
        lock (_lock)
        {
            // The newest open one, direct before relayed (a hole punch leaves both open for a while): when a peer
            // reconnects, the older connection is the one more likely to be going away.
            return _connections.TryGetValue(peer, out var list)
                ? list.LastOrDefault(c => !c.IsClosing && !c.IsLimited) ?? list.LastOrDefault(c => !c.IsClosing)
                : null;
        }
    }

    private async Task<P2PConnection> DialNewAsync(Multiaddr address, PeerId? expected, CancellationToken cancellationToken)
    {
        if (address.Contains(MultiaddrProtocol.P2pCircuit))
        {
            return await DialCircuitAsync(address, expected, cancellationToken).ConfigureAwait(false);
        }
        var transport = _transports.FirstOrDefault(t => t.CanDial(address))
            ?? throw new NotSupportedException($"No transport can dial {address}. Supported: /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>[/ws|/wss][/p2p/<id>].");
        if (Options.ConnectionGater is { } gater && !gater.AllowDialAddress(expected, address))
        {
            throw new ConnectionGatedException($"The connection gater refused dialing {address}.");
        }
        if (ConnectionCount >= Options.MaxConnections)
        {
            throw new IOException($"Cannot dial {address}: the limit of {Options.MaxConnections} connections is reached.");
        }
        // An outbound slot (host and, for an IP address, per IP): never one of the inbound handshake budget.
        ConnectionResources resources = _resources.OpenOutbound(address.TryGetTcpEndPoint(out var endPoint) ? endPoint.Address : null);
        using var span = P2PNetTelemetry.Source.StartActivity("p2pnet.dial", ActivityKind.Client);
        span?.SetTag("p2pnet.multiaddr", address.ToString()).SetTag("p2pnet.peer.id", expected?.ToString());
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        timeout.CancelAfter(Options.DialTimeout);
        try
        {
            TransportConnection raw;
            try
            {
                raw = await transport.DialAsync(address, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                resources.Dispose();
                throw;
            }
            P2PConnection connection;
            try
            {
                connection = await UpgradeAsync(raw, ConnectionDirection.Outbound, expected, resources, limited: false, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (raw is SocketConnection { FromListeningPort: true } && transport is TcpTransport tcp
                && e is IOException or TimeoutException && !timeout.IsCancellationRequested)
            {
                // Two peers that dial each other from their listening ports at the same instant meet in one TCP
                // simultaneous open, where both lead the handshake and it fails. A second dial from an ephemeral port
                // cannot meet that way.
                HostLog.DialRetried(_logger, address, e.Message);
                resources = _resources.OpenOutbound(address.TryGetTcpEndPoint(out var again) ? again.Address : null);
                try
                {
                    raw = await tcp.DialAsync(address, reusePort: false, timeout.Token).ConfigureAwait(false);
                }
                catch
                {
                    resources.Dispose();
                    throw;
                }
                connection = await UpgradeAsync(raw, ConnectionDirection.Outbound, expected, resources, limited: false, timeout.Token).ConfigureAwait(false);
            }
            PeerStore.AddAddresses(connection.RemotePeer, [address]);
            return connection;
        }
        catch (Exception e) when (P2PNetTelemetry.Failed(span, e))
        {
            throw; // never reached: the filter only records the failure on the span
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            throw new TimeoutException($"Dialing {address} did not complete within {Options.DialTimeout.TotalSeconds:0.#} s.");
        }
    }

    /// <summary>
    /// Upgrades an already open raw connection (a relayed stream, an in-memory pipe, any transport) through the host's
    /// <see cref="ConnectionUpgrader"/> and registers it like a dialled or accepted connection: resource budget, gater,
    /// connection limits, identify, events. The seam for transports that are not <see cref="ITransport"/>s (circuit relay).
    /// </summary>
    /// <param name="raw">The raw connection; owned from here on (closed on failure).</param>
    /// <param name="direction">Outbound: we are the initiator of the upgrade.</param>
    /// <param name="expectedPeer">The peer we meant to reach (outbound), or <see langword="null"/> for any.</param>
    /// <param name="limited">Whether the connection is limited in time or data (a relayed one); see <see cref="P2PConnection.IsLimited"/>.</param>
    /// <param name="cancellationToken">Cancels the upgrade.</param>
    /// <exception cref="IOException">The upgrade failed or the connection was refused.</exception>
    /// <exception cref="TimeoutException">The upgrade took longer than <see cref="P2PHostOptions.HandshakeTimeout"/>.</exception>
    internal async Task<P2PConnection> UpgradeAndAddAsync(TransportConnection raw, ConnectionDirection direction, PeerId? expectedPeer,
        bool limited, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(raw);
        try
        {
            await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            raw.Abort();
            await raw.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        ConnectionResources resources;
        try
        {
            resources = direction == ConnectionDirection.Outbound ? _resources.OpenOutbound(null) : _resources.OpenInbound(null);
        }
        catch
        {
            raw.Abort();
            await raw.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return await UpgradeAsync(raw, direction, expectedPeer, resources, limited, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The host's upgrade pipeline, built from <see cref="P2PHostOptions.SecurityProtocols"/> and
    /// <see cref="P2PHostOptions.Muxers"/> at the first connection (disposed with the host).</summary>
    internal ConnectionUpgrader Upgrader
    {
        get
        {
            if (Volatile.Read(ref _upgrader) is { } upgrader)
            {
                return upgrader;
            }
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_upgraderDisposed, this);
                return _upgrader ??= ConnectionUpgrader.Create(
                    new UpgradeContext(Identity, Options, [], _loggerFactory, TimeProvider), Options.Muxers, Options.SecurityProtocols);
            }
        }
    }

    private ConnectionUpgrader? _upgrader;
    private bool _upgraderDisposed;

    /// <summary>Disposes the upgrade pipeline (Noise's static key), once no handshake can start.</summary>
    private void DisposeUpgrader()
    {
        ConnectionUpgrader? upgrader;
        lock (_lock)
        {
            _upgraderDisposed = true;
            upgrader = _upgrader;
        }
        upgrader?.Dispose();
    }

    /// <summary>raw → <see cref="Upgrader"/> (pnet → security → muxer) → gater and budgets → a registered connection; the
    /// raw connection is closed and <paramref name="resources"/> given back on any failure, or handed to the connection
    /// on success.</summary>
    private async Task<P2PConnection> UpgradeAsync(TransportConnection raw, ConnectionDirection direction, PeerId? expectedPeer,
        ConnectionResources resources, bool limited, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        ConnectionUpgrade? upgrade = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.HandshakeTimeout);
        try
        {
            var (key, accepted) = PrivateNetworkKeys;
            ConnectionUpgrader upgrader;
            try
            {
                upgrader = Upgrader;
            }
            catch
            {
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            // From here the upgrader owns raw on failure (it aborts and disposes it).
            upgrade = await upgrader.UpgradeAsync(raw, direction, expectedPeer, key, accepted, fixedSecurity: null, timeout.Token).ConfigureAwait(false);
            ISecureConnection secure = upgrade.Secure;
            if (Options.ConnectionGater is { } gater && !gater.AllowSecured(direction, secure.RemotePeer, raw.RemoteAddress))
            {
                throw new ConnectionGatedException($"The connection gater refused {secure.RemotePeer} at {raw.RemoteAddress}.");
            }
            resources.SetPeer(secure.RemotePeer); // the peer's connection budget; throws when it is full
            if (upgrade.Session is IResourceAccountedSession accounted)
            {
                accounted.Resources = resources;
            }
            var connection = new P2PConnection(this, upgrade, resources, direction, limited, _logger);
            if (!TryAddConnection(connection, out string? refusal))
            {
                throw new IOException(refusal);
            }
            resources.CompleteHandshake();
            // Counted before the session starts: once it runs, the peer's streams can be served (and seen) before this
            // line would otherwise be reached. Removal from the table is what counts it closed.
            Metrics.ConnectionOpened(direction, Stopwatch.GetElapsedTime(started));
            upgrade.Session.Start();
            connection.Start();
            HostLog.ConnectionReady(_logger, connection.Id, connection.RemotePeer, direction, connection.RemoteAddress);
            PeerStore.AddAddresses(connection.RemotePeer, []); // remember its key even before identify
            _identify.OnConnected(connection);
            return connection;
        }
        catch (Exception e)
        {
            resources.Dispose(); // first: whatever fails below, the budget is given back
            Metrics.HandshakeFailed(direction);
            if (upgrade is not null)
            {
                await upgrade.DisposeLayersAsync().ConfigureAwait(false);
                upgrade.Transport.Abort();
                await upgrade.Transport.DisposeAsync().ConfigureAwait(false);
            }
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The handshake with {raw.RemoteAddress} did not complete within {Options.HandshakeTimeout.TotalSeconds:0.#} s.", e);
            }
            throw;
        }
    }

    /// <summary>The swarm key in use and the further keys accepted inbound (none: the public network).</summary>
    public (SwarmKey? Key, IReadOnlyList<SwarmKey> AlsoAccepted) PrivateNetworkKeys
    {
        get
        {
            lock (_lock)
            {
                return (_privateKey, _acceptedKeys);
            }
        }
    }

    /// <summary>
    /// Changes the private-network keys for connections made from now on (open connections are untouched; close them to
    /// enforce the change; one still in its handshake with keys no longer accepted is refused when it completes). <paramref name="key"/> <see langword="null"/> returns to the public network;
    /// <paramref name="alsoAccepted"/> are accepted inbound too, for a rotation's grace period.
    /// </summary>
    public void SetPrivateNetworkKeys(SwarmKey? key, IEnumerable<SwarmKey>? alsoAccepted = null)
    {
        var accepted = alsoAccepted?.Where(k => !k.Equals(key)).Distinct().ToArray() ?? [];
        if (key is null && accepted.Length > 0)
        {
            throw new ArgumentException("Accepted keys need a primary key.", nameof(alsoAccepted));
        }
        lock (_lock)
        {
            _privateKey = key;
            _acceptedKeys = accepted;
        }
    }

    /// <summary>Under the lock: whether a connection protected by <paramref name="key"/> (null: none) belongs to the
    /// network the host is in now.</summary>
    private bool IsAcceptedPrivateNetworkKey(SwarmKey? key) =>
        _privateKey is null ? key is null : key is not null && (key.Equals(_privateKey) || _acceptedKeys.Contains(key));

    private bool TryAddConnection(P2PConnection connection, out string? refusal)
    {
        bool first;
        lock (_lock)
        {
            if (_state >= 2)
            {
                refusal = "the host is stopping";
                return false;
            }
            // The keys are read when the upgrade starts; one that changed since (a swarm joined, left or rotated) must
            // not admit a connection of the network just left, as the sweep of open connections has run already.
            if (!IsAcceptedPrivateNetworkKey(connection.PrivateNetworkKey))
            {
                refusal = "the private network changed while the connection was being set up";
                return false;
            }
            if (!_connections.TryGetValue(connection.RemotePeer, out var list))
            {
                list = [];
                _connections[connection.RemotePeer] = list;
            }
            if (list.Count >= Options.MaxConnectionsPerPeer)
            {
                refusal = $"the limit of {Options.MaxConnectionsPerPeer} connections to {connection.RemotePeer} is reached";
                return false;
            }
            list.Add(connection);
            first = list.Count == 1;
        }
        refusal = null;
        if (first)
        {
            Events.Publish(new PeerConnectednessChanged(connection.RemotePeer, Connectedness.Connected));
        }
        return true;
    }

    internal void OnConnectionClosed(P2PConnection connection)
    {
        bool last = false;
        bool removed;
        lock (_lock)
        {
            removed = _connections.TryGetValue(connection.RemotePeer, out var list) && list.Remove(connection);
            if (removed && list!.Count == 0)
            {
                _connections.Remove(connection.RemotePeer);
                last = true;
            }
        }
        connection.Resources?.Dispose(); // whatever its streams still hold, once
        if (removed)
        {
            Metrics.ConnectionClosed(connection);
        }
        if (last)
        {
            Events.Publish(new PeerConnectednessChanged(connection.RemotePeer, Connectedness.NotConnected));
        }
    }
}
