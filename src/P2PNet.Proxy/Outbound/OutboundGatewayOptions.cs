using P2PNet.Vpn.Gateway;

namespace P2PNet.Proxy.Outbound;

/// <summary>How an <see cref="OutboundGateway"/> node terminates VPN traffic and whom it serves.</summary>
public sealed class OutboundGatewayOptions
{
    /// <summary>Who may invite this node into a VPN and send through it (<see cref="VpnEgressOptions.AllowedRequestors"/>),
    /// where to, and at what rate. Invitations from other peers are declined.</summary>
    public VpnEgressOptions Egress { get; } = new();

    /// <summary>True: terminate flows in user space (<see cref="P2PNet.Vpn.Gateway.RootlessEgress"/>: no TUN, no root). False (the default): a
    /// TUN device per VPN with IP forwarding and an nftables masquerade rule (needs root and nft).</summary>
    public bool Rootless { get; set; }

    /// <summary>The kernel mode's TUN name pattern. Default <c>p2pgw%d</c>.</summary>
    public string TunName { get; set; } = "p2pgw%d";

    /// <summary>VPNs this node serves at once; more invitations are declined. Default 16.</summary>
    public int MaxMemberships { get; set; } = 16;
}
