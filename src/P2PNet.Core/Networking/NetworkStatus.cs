using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Networking;

/// <summary>A snapshot of a node, from <see cref="INetwork.Status"/>.</summary>
/// <param name="PeerId">Our peer id.</param>
/// <param name="IsRunning">Whether the network is initialised and not stopped.</param>
/// <param name="ListenAddresses">Where we listen, each ending in <c>/p2p/&lt;id&gt;</c>.</param>
/// <param name="Protocols">The protocols we serve.</param>
/// <param name="Peers">Peers we are connected to.</param>
/// <param name="ConnectionCount">Open connections.</param>
/// <param name="StreamCount">Open streams over all connections.</param>
/// <param name="Reachability">Whether we are reachable (Unknown until a NAT-detection protocol runs).</param>
public sealed record NetworkStatus(
    PeerId PeerId,
    bool IsRunning,
    IReadOnlyList<Multiaddr> ListenAddresses,
    IReadOnlyList<string> Protocols,
    IReadOnlyList<ConnectedPeer> Peers,
    int ConnectionCount,
    int StreamCount,
    Reachability Reachability)
{
    /// <summary>What the host holds of its resource budgets (connections, handshakes, streams, buffer memory) and how
    /// many requests it refused; see <see cref="Resources.ResourceLimits"/>.</summary>
    public Resources.ResourceUsage? Resources { get; init; }

    /// <summary>The TCP mapping behaviour of the NAT in front of us, from observed addresses.</summary>
    public NatDeviceType NatDeviceType { get; init; }

    /// <summary>Our addresses as enough peers observe them (see <see cref="ObservedAddressOptions"/>).</summary>
    public IReadOnlyList<Multiaddr> ObservedAddresses { get; init; } = [];

    /// <summary>Relay reservations held (through <see cref="NetworkOptions.AutoRelay"/>).</summary>
    public IReadOnlyList<Protocols.Relay.RelayReservation> Reservations { get; init; } = [];
}
