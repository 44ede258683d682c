namespace P2PNet.Proxy.Inbound;

/// <summary>The proxy's health (<c>GET /status-api/v1/status</c>).</summary>
/// <param name="ProbeSockets">Probe sockets bound now.</param>
/// <param name="GatewaySockets">Gateway (forwarding) sockets bound now.</param>
/// <param name="ActivitiesServed">Distinct activities a gateway socket was created for since the proxy started.</param>
/// <param name="UptimeSeconds">Seconds since the proxy started.</param>
/// <param name="Vpns">The VPNs the proxy is a member of.</param>
public sealed record InboundProxyStatus(int ProbeSockets, int GatewaySockets, long ActivitiesServed, double UptimeSeconds,
    IReadOnlyList<InboundVpnInfo> Vpns);

/// <summary>A VPN the proxy is a member of.</summary>
/// <param name="VpnId">The VPN's id.</param>
/// <param name="Address">The proxy's address in it (its user-space stack's).</param>
public sealed record InboundVpnInfo(string VpnId, string Address);

/// <summary>Connection counts of a scope (the proxy, an activity, a VPN), TCP connections and UDP flows together.</summary>
/// <param name="Active">Open now.</param>
/// <param name="Accepted">Taken and forwarded (or attempted) since the start.</param>
/// <param name="Refused">Reset at once: a socket's or a source's connection limit was reached.</param>
/// <param name="Failed">Taken but not forwarded: the service could not be reached through the VPN, or a datagram was too
/// large for the VPN.</param>
/// <param name="RateLimited">Reset at once: the source opened connections faster than its rate allows.</param>
public sealed record InboundConnectionCounts(long Active, long Accepted, long Refused, long Failed, long RateLimited);

/// <summary>One connection or UDP flow a gateway socket carries now.</summary>
/// <param name="Protocol"><c>tcp</c> or <c>udp</c>.</param>
/// <param name="Gateway">The gateway socket's address.</param>
/// <param name="Client">The public client's endpoint.</param>
/// <param name="Bandwidth">Its bytes and rates.</param>
public sealed record InboundConnectionMetrics(string Protocol, string Gateway, string Client, InboundBandwidth Bandwidth);

/// <summary>Metrics of one scope: the whole proxy (<c>/metrics</c>), an activity (<c>/metrics/activity/{id}</c>) or a VPN
/// (<c>/metrics/vpn/{id}</c>).</summary>
/// <param name="Bandwidth">Bytes and rates, totalled over the scope's connections (those closed included).</param>
/// <param name="Connections">Connection counts, from the scope's gateway sockets bound now.</param>
/// <param name="Open">The scope's connections open now, each with its own bandwidth.</param>
public sealed record InboundMetrics(InboundBandwidth Bandwidth, InboundConnectionCounts Connections, IReadOnlyList<InboundConnectionMetrics> Open);
