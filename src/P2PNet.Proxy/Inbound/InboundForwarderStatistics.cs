namespace P2PNet.Proxy.Inbound;

/// <summary>What an <see cref="InboundForwarder"/> has done since it started.</summary>
/// <param name="ActiveConnections">Forwarded connections open now (connecting included).</param>
/// <param name="AcceptedConnections">Public connections taken within <see cref="InboundForwarderOptions.MaxConnections"/>.</param>
/// <param name="RefusedConnections">Public connections reset at once because <see cref="InboundForwarderOptions.MaxConnections"/> were
/// open, or (proxy forwarders) their source held <see cref="InboundProxyOptions.MaxConnectionsPerSource"/> already.</param>
/// <param name="FailedConnections">Accepted connections that were not forwarded: the target could not be reached through the
/// VPN (refused, timed out), or the client was gone before.</param>
/// <param name="BytesToTarget">Bytes carried from public clients to the target, over all connections.</param>
/// <param name="BytesFromTarget">Bytes carried from the target to public clients, over all connections.</param>
/// <param name="Connections">The connections open now.</param>
public sealed record InboundForwarderStatistics(
    int ActiveConnections,
    long AcceptedConnections,
    long RefusedConnections,
    long FailedConnections,
    long BytesToTarget,
    long BytesFromTarget,
    IReadOnlyList<InboundConnectionStatistics> Connections)
{
    /// <summary>Public connections reset at once because their source opened new ones faster than
    /// <see cref="InboundProxyOptions.ConnectionRatePerSource"/> allows (proxy forwarders only).</summary>
    public long RateLimitedConnections { get; init; }
}
