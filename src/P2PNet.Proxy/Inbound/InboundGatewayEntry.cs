namespace P2PNet.Proxy.Inbound;

/// <summary>A gateway (forwarding) socket's parameters, the <c>Entry</c> of the inbound-proxy design's Gateway API.</summary>
/// <param name="RequestorId">The requestor that bought the socket.</param>
/// <param name="ActivityId">The activity the traffic is metered under (<c>/status-api/v1/metrics/activity/{id}</c>).</param>
/// <param name="VpnId">A VPN the proxy is a member of (<see cref="InboundProxy.AddVpn"/>).</param>
/// <param name="RemoteId">The peer id of the node that runs the service.</param>
/// <param name="RemoteAddr">The service's <c>VPN-IP:PORT</c>; the VPN's routing table must give that IP to
/// <paramref name="RemoteId"/>.</param>
public sealed record InboundGatewayEntry(string RequestorId, string ActivityId, string VpnId, string RemoteId, string RemoteAddr);
