using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn;

/// <summary>The outbound gateway in the data plane: members send packets for destinations outside the network to the
/// member the table names as gateway; that member lets them out (and the answers back in) under its <see cref="Egress"/>.</summary>
public abstract partial class VpnEndpoint
{
    private GatewayRoute? _gatewayRoute;

    /// <summary>
    /// The egress control of an outbound gateway: set it (before or after joining) on the member the coordinator names
    /// as gateway (<see cref="VpnRoutingTable.Gateway"/>), and packets from allowed requestors to allowed destinations
    /// outside the VPN are delivered to <see cref="Device"/> — a TUN whose kernel forwards and masquerades them, or a
    /// <see cref="UserSpacePacketDevice"/> with <see cref="Gateway.RootlessEgress"/> on its application end — and the answers
    /// are routed back. Null (the default): this member forwards nothing, whatever the table says.
    /// </summary>
    public VpnEgress? Egress { get; set; }

    /// <summary>Whether the current table names this member as the gateway.</summary>
    public bool IsGateway => Volatile.Read(ref _gatewayRoute)?.IsSelf == true;

    /// <summary>Rebuilds the gateway route from a table (with the links and routes just built, under the links lock).</summary>
    private void UpdateGatewayRoute(VpnRoutingTable table, Dictionary<uint, PeerLink> routes, uint self)
    {
        if (table.Gateway is not { } gateway || self == 0)
        {
            Volatile.Write(ref _gatewayRoute, null);
            return;
        }
        uint address = AddressPool.ToUInt32(gateway);
        uint mask = uint.MaxValue << (32 - table.Network.PrefixLength);
        routes.TryGetValue(address, out var link);
        Volatile.Write(ref _gatewayRoute, new GatewayRoute(AddressPool.ToUInt32(table.Network.BaseAddress), mask, link, address == self));
    }

    /// <summary>Device → VPN, for a packet whose source is not this member or whose destination is no member: the link
    /// to send it on, or null (dropped and counted).</summary>
    private PeerLink? RouteThroughGateway(int length, uint source, uint destination, PeerLink? member)
    {
        var gateway = Volatile.Read(ref _gatewayRoute);
        if (source == LocalAddressValue)
        {
            // A member's packet for the Internet goes to the gateway.
            if (member is null && gateway is { Link: { } link } && gateway.Outside(destination))
            {
                return link;
            }
            Metrics.Dropped(VpnDropReason.Unroutable);
            return null;
        }
        // The gateway's answer from the Internet to a member (after the kernel's masquerade, or the rootless egress).
        if (gateway is not { IsSelf: true } || Egress is not { } egress || !gateway.Outside(source))
        {
            Metrics.Dropped(VpnDropReason.Spoofed);
            return null;
        }
        if (member is null)
        {
            Metrics.Dropped(VpnDropReason.Unroutable);
            return null;
        }
        if (!egress.AdmitInbound(member.Peer, length))
        {
            Metrics.Dropped(VpnDropReason.EgressRefused);
            return null;
        }
        return member;
    }

    /// <summary>VPN → device, for a packet from <paramref name="link"/> that is not from its address or not to this member:
    /// whether it is an answer from the Internet through our gateway, or a requestor's packet this gateway lets out.</summary>
    internal bool AcceptThroughGateway(PeerLink link, ReadOnlySpan<byte> headers, int length, uint source, uint destination)
    {
        var gateway = Volatile.Read(ref _gatewayRoute);
        if (gateway is null)
        {
            Metrics.Dropped(source != link.Address ? VpnDropReason.Spoofed : VpnDropReason.Unroutable);
            return false;
        }
        if (source != link.Address)
        {
            // Only the gateway may send packets from outside the network, and only to us.
            if (gateway.Link == link && gateway.Outside(source) && destination == LocalAddressValue)
            {
                return true;
            }
            Metrics.Dropped(VpnDropReason.Spoofed);
            return false;
        }
        if (!gateway.IsSelf || !gateway.Outside(destination))
        {
            Metrics.Dropped(VpnDropReason.Unroutable);
            return false;
        }
        if (Egress?.AdmitOutbound(link.Peer, headers, length) != true)
        {
            Metrics.Dropped(VpnDropReason.EgressRefused);
            return false;
        }
        return true;
    }

    /// <summary>The gateway as this member sees it: the network (to tell outside destinations), the link to the
    /// gateway (null on the gateway itself or while it is not a member), and whether this member is it.</summary>
    private sealed record GatewayRoute(uint Network, uint Mask, PeerLink? Link, bool IsSelf)
    {
        public bool Outside(uint address) => (address & Mask) != Network;
    }
}
