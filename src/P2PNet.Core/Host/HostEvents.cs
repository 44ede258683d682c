using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Host;

/// <summary>Base type of every event a <see cref="P2PHost"/> raises on its <see cref="EventBus"/>.</summary>
public abstract record HostEvent;

/// <summary>Our listen addresses changed.</summary>
/// <param name="Current">All addresses now, each ending in <c>/p2p/&lt;our id&gt;</c>.</param>
/// <param name="Added">Addresses that appeared.</param>
/// <param name="Removed">Addresses that went away.</param>
public sealed record LocalAddressesUpdated(IReadOnlyList<Multiaddr> Current, IReadOnlyList<Multiaddr> Added, IReadOnlyList<Multiaddr> Removed) : HostEvent;

/// <summary>Whether other peers can reach us.</summary>
public enum Reachability
{
    /// <summary>Not known (no NAT-detection protocol has run).</summary>
    Unknown,

    /// <summary>Publicly dialable.</summary>
    Public,

    /// <summary>Behind a NAT or firewall.</summary>
    Private,
}

/// <summary>Our reachability changed.</summary>
public sealed record LocalReachabilityChanged(Reachability Reachability) : HostEvent;

/// <summary>The behaviour of the NAT in front of us.</summary>
public enum NatDeviceType
{
    /// <summary>Not known.</summary>
    Unknown,

    /// <summary>Endpoint-independent mapping: hole punching can work.</summary>
    Cone,

    /// <summary>Endpoint-dependent mapping: hole punching will not work.</summary>
    Symmetric,
}

/// <summary>The NAT type we sit behind changed, for one transport protocol (<c>tcp</c> or <c>udp</c>).</summary>
public sealed record NatDeviceTypeChanged(string TransportProtocol, NatDeviceType DeviceType) : HostEvent;

/// <summary>Identify with a peer completed: we know its key, addresses, protocols and agent.</summary>
public sealed record PeerIdentificationCompleted(PeerId Peer, PeerRecord Record) : HostEvent;

/// <summary>Identify with a peer failed.</summary>
public sealed record PeerIdentificationFailed(PeerId Peer, Exception Error) : HostEvent;

/// <summary>Whether we have a connection to a peer.</summary>
public enum Connectedness
{
    /// <summary>No open connection.</summary>
    NotConnected,

    /// <summary>At least one open connection.</summary>
    Connected,
}

/// <summary>We gained our first connection to a peer, or lost our last one.</summary>
public sealed record PeerConnectednessChanged(PeerId Peer, Connectedness Connectedness) : HostEvent;

/// <summary>A discovery mechanism (e.g. mDNS) found a peer and its addresses; they are in the peer store already.</summary>
/// <param name="Peer">The peer found.</param>
/// <param name="Addresses">Its addresses as announced (without <c>/p2p</c>).</param>
/// <param name="Source">What found it, e.g. <c>mdns</c>.</param>
public sealed record PeerDiscovered(PeerId Peer, IReadOnlyList<Multiaddr> Addresses, string Source) : HostEvent;
