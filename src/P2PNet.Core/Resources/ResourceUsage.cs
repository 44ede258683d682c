namespace P2PNet.Resources;

/// <summary>What one budget of the resource manager holds now.</summary>
/// <param name="InboundConnections">Inbound connections past their handshake.</param>
/// <param name="OutboundConnections">Outbound connections, from the dial on.</param>
/// <param name="InboundHandshakes">Inbound connections still in their handshake.</param>
/// <param name="InboundStreams">Streams the peers opened.</param>
/// <param name="OutboundStreams">Streams we opened.</param>
/// <param name="Memory">Bytes reserved for Yamux receive windows and send queues.</param>
public readonly record struct ScopeUsage(
    long InboundConnections,
    long OutboundConnections,
    long InboundHandshakes,
    long InboundStreams,
    long OutboundStreams,
    long Memory)
{
    /// <summary>Whether the budget holds nothing.</summary>
    public bool IsEmpty => this == default;
}

/// <summary>A snapshot of the resource manager (<see cref="Host.P2PHost.GetResourceUsage()"/>).</summary>
/// <param name="System">The whole host.</param>
/// <param name="TrackedPeers">Peers with a budget now (those with a connection).</param>
/// <param name="TrackedAddresses">Remote IPs (IPv6: /64 networks) with a budget now.</param>
/// <param name="Refused">Refusals since the host was created, all scopes and resources.</param>
public sealed record ResourceUsage(ScopeUsage System, int TrackedPeers, int TrackedAddresses, long Refused);
