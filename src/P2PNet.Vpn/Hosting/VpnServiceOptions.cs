using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Vpn.Hosting;

/// <summary>
/// What <c>services.AddVpn(…)</c> runs: the coordinator (admits <see cref="Members"/> and publishes the routing table)
/// or a member (joins <see cref="CoordinatorAddress"/>). Bound from configuration like the host's options.
/// </summary>
public sealed class VpnServiceOptions
{
    /// <summary>Whether this node is the coordinator. Default false (a member).</summary>
    public bool Coordinator { get; set; }

    /// <summary>Coordinator: the peers admitted from the start. Default: none (admit later with
    /// <see cref="VpnCoordinator.AddPeerAsync"/> or <see cref="VpnCoordinator.Allow"/>).</summary>
    public IList<PeerId> Members { get; } = [];

    /// <summary>Member: the coordinator's multiaddr, ending in <c>/p2p/&lt;id&gt;</c>. Required for a member.</summary>
    public Multiaddr? CoordinatorAddress { get; set; }

    /// <summary>Member: the private IPv4 address to ask for (e.g. <c>10.86.0.7</c>). Default: any free one.</summary>
    public string? RequestedAddress { get; set; }

    /// <summary>Name of the TUN device created when no <see cref="IPacketDevice"/> is registered in the container.
    /// Default <c>p2pnet%d</c> (the kernel picks the number). Needs CAP_NET_ADMIN.</summary>
    public string TunName { get; set; } = "p2pnet%d";

    /// <summary>The VPN's id (<see cref="VpnOptions.VpnId"/>: set it on a coordinator that restarts, or on a member to pick
    /// one of several VPNs), network, MTU, queues and timeouts.</summary>
    public VpnOptions Vpn { get; set; } = new();
}
