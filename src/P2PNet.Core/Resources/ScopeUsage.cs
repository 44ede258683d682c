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
