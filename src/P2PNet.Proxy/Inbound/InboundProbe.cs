namespace P2PNet.Proxy.Inbound;

/// <summary>A probe of the inbound-proxy design: a requestor connecting to the probe socket and naming
/// <paramref name="RequestorId"/> is answered <paramref name="Token"/>.</summary>
/// <param name="RequestorId">The requestor the provider negotiates with.</param>
/// <param name="Token">The string the requestor gave and expects back.</param>
public sealed record InboundProbe(string RequestorId, string Token);

/// <summary>A probe socket and its probes (<c>GET /probe-api/v1/</c>).</summary>
/// <param name="Protocol"><c>tcp</c> or <c>udp</c>.</param>
/// <param name="Address">The bound endpoint, <c>IP:PORT</c> (IPv6 in brackets).</param>
/// <param name="Probes">The (requestor, token) pairs it answers.</param>
public sealed record InboundProbeSocket(string Protocol, string Address, IReadOnlyList<InboundProbe> Probes);
