using System.Net;
using P2PNet.Vpn;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>Connection counts kept for a scope after its gateway sockets are gone.</summary>
internal sealed class RetiredCounts
{
    public long Accepted;
    public long Refused;
    public long Failed;
    public long RateLimited;

    public void Add(InboundForwarderStatistics statistics)
    {
        Accepted += statistics.AcceptedConnections;
        Refused += statistics.RefusedConnections;
        Failed += statistics.FailedConnections;
        RateLimited += statistics.RateLimitedConnections;
    }
}

/// <summary>A VPN the proxy is a member of: its endpoint (for the routing table), its stack, its meter.</summary>
internal sealed class VpnScope(string vpnId, VpnEndpoint vpn, IPStack stack, BandwidthMeter meter)
{
    public string VpnId { get; } = vpnId;

    public VpnEndpoint Vpn { get; } = vpn;

    public IPStack Stack { get; } = stack;

    public BandwidthMeter Meter { get; } = meter;

    public RetiredCounts Retired { get; } = new();
}

/// <summary>An activity's meter and counts, kept while it has gateway sockets and for a while after.</summary>
internal sealed class ActivityScope(string activityId, BandwidthMeter meter)
{
    public string ActivityId { get; } = activityId;

    public BandwidthMeter Meter { get; } = meter;

    public RetiredCounts Retired { get; } = new();

    public int Gateways { get; set; }

    /// <summary>When its last gateway socket went (for retention: the oldest idle activities go first).</summary>
    public long IdleSince { get; set; }
}

/// <summary>A bound gateway socket: a TCP or a UDP forwarder and the scopes it counts into.</summary>
internal sealed class GatewaySocket(InboundProtocol protocol, IPEndPoint endPoint, InboundGatewayEntry entry, VpnScope vpn, ActivityScope activity,
    InboundForwarder? tcp, InboundUdpForwarder? udp)
{
    public InboundProtocol Protocol { get; } = protocol;

    public IPEndPoint EndPoint { get; } = endPoint;

    public InboundGatewayEntry Entry { get; } = entry;

    public VpnScope Vpn { get; } = vpn;

    public ActivityScope Activity { get; } = activity;

    public InboundForwarderStatistics Statistics() => tcp?.GetStatistics() ?? udp!.GetStatistics();

    public IEnumerable<InboundConnection> OpenConnections => tcp?.OpenConnections ?? udp!.OpenFlows;

    public ValueTask DisposeAsync() => tcp?.DisposeAsync() ?? udp!.DisposeAsync();
}
