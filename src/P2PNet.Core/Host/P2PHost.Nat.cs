using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Transports;
using P2PNet.Transports.Tcp;

namespace P2PNet.Host;

/// <summary>What the host knows of the NAT in front of it: observed addresses (identify), the NAT's mapping behaviour,
/// the reachability AutoNAT concluded; and the direct dials that AutoNAT dial-backs and hole punching make.</summary>
public sealed partial class P2PHost
{
    private ObservedAddressManager? _observed;
    private Multiaddr[] _observedAdvertised = [];
    private int _natDeviceType; // NatDeviceType
    private int _reachability;  // Reachability

    /// <summary>Created on first use, once (identify reports from several connections at the same time).</summary>
    private ObservedAddressManager Observed =>
        Volatile.Read(ref _observed)
        ?? Interlocked.CompareExchange(ref _observed, new ObservedAddressManager(Options.ObservedAddresses, TimeProvider), null)
        ?? _observed!;

    /// <summary>Whether other peers can dial us, as AutoNAT last concluded (<see cref="LocalReachabilityChanged"/>);
    /// <see cref="Reachability.Unknown"/> while no AutoNAT client runs or before its first verdict.</summary>
    public Reachability Reachability => (Reachability)Volatile.Read(ref _reachability);

    /// <summary>The TCP mapping behaviour of the NAT in front of us, from observed addresses
    /// (<see cref="NatDeviceTypeChanged"/>): <see cref="NatDeviceType.Cone"/> when peers agree on our external port,
    /// <see cref="NatDeviceType.Symmetric"/> when each sees another.</summary>
    public NatDeviceType NatDeviceType => (NatDeviceType)Volatile.Read(ref _natDeviceType);

    /// <summary>Our addresses as peers observe them and enough of them agree on (see <see cref="ObservedAddressOptions"/>),
    /// most backed first, without <c>/p2p</c>. Advertised unless <see cref="ObservedAddressOptions.Advertise"/> is off.</summary>
    public IReadOnlyList<Multiaddr> ObservedAddresses => Observed.Activated;

    /// <summary>Every address peers observed for our listening ports, activated or not (hole punching's guesses).</summary>
    internal IReadOnlyList<Multiaddr> AllObservedAddresses => Observed.All;

    private Multiaddr[] AdvertisedObservedAddresses
    {
        get
        {
            lock (_lock)
            {
                return _observedAdvertised;
            }
        }
    }

    /// <summary>Identify told us how <paramref name="connection"/>'s peer sees us.</summary>
    internal void OnObservedAddress(P2PConnection connection, Multiaddr observed)
    {
        if (connection.IsLimited || observed.Contains(MultiaddrProtocol.P2pCircuit))
        {
            return;
        }
        bool counted = Observed.Record(connection.LocalAddress, connection.RemoteAddress, observed, ListeningTcpPorts());
        HostLog.Observed(_logger, connection.RemotePeer, observed, connection.LocalAddress, connection.RemoteAddress, counted);
        if (!counted)
        {
            return;
        }
        var activated = Observed.Activated.Select(a => a.WithPeerId(PeerId)).ToArray();
        Multiaddr[] added, removed;
        lock (_lock)
        {
            added = Options.ObservedAddresses.Advertise ? [.. activated.Except(_observedAdvertised)] : [];
            removed = Options.ObservedAddresses.Advertise ? [.. _observedAdvertised.Except(activated)] : [];
            if (Options.ObservedAddresses.Advertise)
            {
                _observedAdvertised = activated;
            }
        }
        if (added.Length > 0 || removed.Length > 0)
        {
            Events.Publish(new LocalAddressesUpdated(ListenAddresses, added, removed));
            if (_state == 1)
            {
                _identify.PushToAll();
            }
        }
        var type = Observed.DeviceType;
        if (type != NatDeviceType.Unknown && Interlocked.Exchange(ref _natDeviceType, (int)type) != (int)type)
        {
            Events.Publish(new NatDeviceTypeChanged("tcp", type));
        }
    }

    private HashSet<int> ListeningTcpPorts()
    {
        lock (_lock)
        {
            return [.. _listeners.Select(l => l.Listener.LocalAddress.TryGetTcpEndPoint(out var e) ? e.Port : -1).Where(p => p > 0)];
        }
    }

    /// <summary>AutoNAT's verdict; raises <see cref="LocalReachabilityChanged"/> when it differs from the last one.</summary>
    internal void SetReachability(Reachability reachability)
    {
        if (Interlocked.Exchange(ref _reachability, (int)reachability) != (int)reachability)
        {
            HostLog.ReachabilityChanged(_logger, reachability);
            Events.Publish(new LocalReachabilityChanged(reachability));
        }
    }

    /// <summary>
    /// A new direct connection to <paramref name="peer"/> at <paramref name="address"/>, never reusing an open one: an
    /// AutoNAT dial-back (<paramref name="reusePort"/> false, so it cannot punch the hole it tests) or a hole punch
    /// (<paramref name="role"/> <see cref="ConnectionDirection.Inbound"/> on the side that answers the handshake of a
    /// TCP simultaneous open).
    /// </summary>
    /// <exception cref="IOException">No connection, a failed handshake, or another peer answered.</exception>
    /// <exception cref="TimeoutException">The dial or handshake took too long.</exception>
    internal async Task<P2PConnection> DialDirectAsync(Multiaddr address, PeerId peer, ConnectionDirection role, bool reusePort,
        CancellationToken cancellationToken)
    {
        Multiaddr bare = address.WithoutPeerId();
        var transport = _transports.FirstOrDefault(t => t.CanDial(bare))
            ?? throw new NotSupportedException($"No transport can dial {address}.");
        if (Options.ConnectionGater is { } gater && (!gater.AllowDialPeer(peer) || !gater.AllowDialAddress(peer, bare)))
        {
            throw new ConnectionGatedException($"The connection gater refused dialing {address}.");
        }
        if (ConnectionCount >= Options.MaxConnections)
        {
            throw new IOException($"Cannot dial {address}: the limit of {Options.MaxConnections} connections is reached.");
        }
        var resources = _resources.OpenOutbound(bare.TryGetTcpEndPoint(out var endPoint) ? endPoint.Address : null);
        TransportConnection raw;
        try
        {
            raw = transport is TcpTransport tcp
                ? await tcp.DialAsync(bare, reusePort, cancellationToken).ConfigureAwait(false)
                : await transport.DialAsync(bare, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            resources.Dispose();
            throw;
        }
        var connection = await UpgradeAsync(raw, role, role == ConnectionDirection.Outbound ? peer : null, resources, limited: false,
            cancellationToken).ConfigureAwait(false);
        if (connection.RemotePeer != peer)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"{address} answered as {connection.RemotePeer}, not {peer}.");
        }
        return connection;
    }
}
